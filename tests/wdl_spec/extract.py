"""Turn the examples of a WDL specification (SPEC.md) into test files.

The examples of openwdl/wdl's SPEC.md are written for conformance testing: each is a
``<details>`` block whose ``<summary>`` holds ``Example: NAME.wdl`` and a fenced ``wdl`` block,
followed by an optional fenced ``json`` block after ``Example input:``, one after ``Example
output:`` and one after ``Test config:``. This module follows the rules of openwdl/wdl-tests'
``scripts/extract_tests.py`` (it is an independent implementation, not a copy):

* the file name ``NAME[_fail][_task].wdl`` gives the target (``NAME``), whether the example is
  expected to fail (``_fail``) and whether it runs a task rather than a workflow (``_task``);
* the test config may override ``type``, ``target``, ``fail`` and adds ``exclude_output``,
  ``return_code``/``returnCodes``, ``dependencies``, ``tags`` and ``priority``, with the
  defaults of extract_tests.py (single strings become one-element lists);
* the WDL must declare the version being extracted.

Unlike extract_tests.py, a block that cannot be parsed (bad JSON, wrong version) does not stop
the extraction: the example is still written, with the reason in its config's
``extract_error``, so that it shows up as a failing example with a reason anyone can check.

Usage: ``python -m tests.wdl_spec.extract SPEC.md VERSION OUTDIR`` (or import ``extract``).
"""

from __future__ import annotations

import argparse
import json
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SUMMARY = re.compile(r"<summary>\s*Example:\s*(?P<name>\S+?)\s*```wdl\n(?P<wdl>.*?)```", re.S)
_FENCED_AFTER = {
    "input": re.compile(r"Example input:\s*```json\n(?P<body>.*?)```", re.S),
    "output": re.compile(r"Example output:\s*```json\n(?P<body>.*?)```", re.S),
    "config": re.compile(r"Test config:\s*```json\n(?P<body>.*?)```", re.S),
}
_FILE_NAME = re.compile(r"^(?P<target>.+?)(?P<fail>_fail)?(?P<task>_task)?\.wdl$")
_VERSION = re.compile(r"^\s*version\s+(\S+)", re.M)
_LIST_KEYS = ("exclude_output", "dependencies", "tags")


@dataclass
class Example:
    """One example: its WDL source, input and expected output JSON, and normalized config."""

    name: str
    wdl: str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return self.name[: -len(".wdl")]


def details_blocks(markdown: str) -> list[str]:
    """The text of every ``<details>`` block, found line by line as extract_tests.py does."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in markdown.splitlines(keepends=True):
        if current is None:
            if "<details>" in line:
                current = [line]
        else:
            current.append(line)
            if "</details>" in line:
                blocks.append("".join(current))
                current = None
    return blocks


def _json(body: str | None, what: str, errors: list[str]) -> dict[str, Any]:
    """Parse a fenced JSON body strictly (as extract_tests.py does), recording any error."""
    if body is None or not body.strip():
        return {}
    try:
        value = json.loads(textwrap.dedent(body))
    except json.JSONDecodeError as e:
        errors.append(f"example {what} is not valid JSON: {e}")
        return {}
    if not isinstance(value, dict):
        errors.append(f"example {what} is not a JSON object")
        return {}
    return value


def normalize_config(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Apply extract_tests.py's defaults to a test config for the example file ``name``."""
    m = _FILE_NAME.match(name)
    if m is None:
        raise ValueError(f"invalid example file name: {name}")
    config = dict(raw)
    config.setdefault("type", "task" if m["task"] else "workflow")
    config.setdefault("target", m["target"])
    config.setdefault("priority", "required")
    config.setdefault("fail", bool(m["fail"]))
    for key in _LIST_KEYS:
        value = config.get(key, [])
        config[key] = [value] if isinstance(value, str) else list(value)
    code = config.pop("returnCodes", config.pop("return_code", "*"))
    config["return_code"] = code
    return config


def parse_block(block: str, version: str) -> Example | None:
    """Parse one ``<details>`` block; None when it is not an example (no ``Example:`` summary)."""
    m = _SUMMARY.search(block)
    if m is None:
        return None
    errors: list[str] = []
    rest = block[m.end() :]
    bodies = {key: rx.search(rest) for key, rx in _FENCED_AFTER.items()}
    inputs = _json(bodies["input"] and bodies["input"]["body"], "input", errors)
    outputs = _json(bodies["output"] and bodies["output"]["body"], "output", errors)
    raw_config = _json(bodies["config"] and bodies["config"]["body"], "test config", errors)
    wdl = textwrap.dedent(m["wdl"]).strip() + "\n"
    declared = _VERSION.search(wdl)
    if declared is None:
        errors.append("WDL has no version statement")
    elif declared[1] != version:
        errors.append(f"WDL declares version {declared[1]}, expected {version}")
    config = normalize_config(m["name"], raw_config)
    if errors:
        config["extract_error"] = "; ".join(errors)
    return Example(m["name"], wdl, inputs, outputs, config)


def extract(markdown: str, version: str) -> list[Example]:
    """Every example of a SPEC.md, in document order; duplicate names are an error."""
    examples: list[Example] = []
    seen: set[str] = set()
    for block in details_blocks(markdown):
        example = parse_block(block, version)
        if example is None:
            continue
        if example.name in seen:
            raise ValueError(f"duplicate example name: {example.name}")
        seen.add(example.name)
        examples.append(example)
    return examples


def write(examples: list[Example], outdir: Path) -> None:
    """Write ``NAME.wdl``, ``NAME.inputs.json``, ``NAME.outputs.json`` and ``NAME.config.json``
    per example, side by side so that the examples' relative imports resolve."""
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("*.wdl"):
        old.unlink()
    for old in outdir.glob("*.json"):
        old.unlink()
    for ex in examples:
        (outdir / ex.name).write_text(ex.wdl)
        for suffix, value in (
            ("inputs", ex.inputs),
            ("outputs", ex.outputs),
            ("config", ex.config),
        ):
            (outdir / f"{ex.stem}.{suffix}.json").write_text(json.dumps(value, indent=2) + "\n")


def load(directory: Path) -> list[Example]:
    """Read back the examples written by ``write``, sorted by name."""
    examples = []
    for wdl in sorted(directory.glob("*.wdl")):
        stem = wdl.name[: -len(".wdl")]

        def part(suffix: str, stem: str = stem) -> dict[str, Any]:
            value: dict[str, Any] = json.loads((directory / f"{stem}.{suffix}.json").read_text())
            return value

        examples.append(
            Example(wdl.name, wdl.read_text(), part("inputs"), part("outputs"), part("config"))
        )
    return examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="SPEC.md (or any markdown with the examples)")
    parser.add_argument("version", help="the WDL version the examples must declare, e.g. 1.2")
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args()
    examples = extract(args.spec.read_text(encoding="utf-8"), args.version)
    write(examples, args.outdir)
    broken = [ex.name for ex in examples if "extract_error" in ex.config]
    print(f"{len(examples)} examples written to {args.outdir}; {len(broken)} with errors {broken}")


if __name__ == "__main__":
    main()
