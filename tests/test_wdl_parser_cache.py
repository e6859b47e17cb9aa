"""miniwdl's parser from lark's on-disk cache (``wdl_parser_cache``) parses exactly as the one
miniwdl builds itself: same trees and comments for every WDL of the tests, each version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WDLS = sorted(
    str(p) for p in [*(REPO / "tests" / "wdl").rglob("*.wdl"), REPO / "examples" / "hello.wdl"]
)

DUMP = """
import json, sys
if sys.argv[1] == "cached":
    from chalicelib.wdl_parser_cache import use_cached_wdl_parser
    use_cached_wdl_parser()
from WDL import _grammar, _parser
out = {}
for path in sys.argv[2:]:
    text = open(path).read()
    version = "1.0"
    for line in text.splitlines():
        if line.startswith("version "):
            version = line.split()[1]
            break
    grammar, _keywords = _grammar.get(version)
    tree, comments = _parser.parse(grammar, text, "document")
    out[path] = [tree.pretty(), [str(c) for c in comments]]
print(json.dumps(out))
"""


def _parse_all(mode: str) -> dict[str, list[object]]:
    proc = subprocess.run(
        [sys.executable, "-c", DUMP, mode, *WDLS],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return dict(json.loads(proc.stdout))


def test_the_cached_parser_gives_miniwdls_trees() -> None:
    assert len(WDLS) > 10
    built = _parse_all("built")
    assert _parse_all("cached") == built
    assert _parse_all("cached") == built  # and once more, now loaded from the cache file
