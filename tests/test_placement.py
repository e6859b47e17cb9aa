"""Input placement (``placement``): the target's bytes, read-only, and no copy of a read-only
file; miniwdl's end-of-task chmod leaves read-only files alone."""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from WDL.runtime import task as wdl_task

from chalicelib.container_base import _keep_read_only_files
from chalicelib.placement import Placer, finalize_script


def _writable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o222)


def test_read_only_file_is_linked_not_copied(tmp_path: Path) -> None:
    source = tmp_path / "out.txt"
    source.write_text("upstream")
    source.chmod(0o444)
    placed = Placer().place_file(str(source), str(tmp_path / "in.txt"))
    assert placed.how == "link"
    assert (tmp_path / "in.txt").stat().st_ino == source.stat().st_ino


def test_writable_file_is_copied_read_only_once_and_the_original_is_untouched(
    tmp_path: Path,
) -> None:
    source = tmp_path / "mine.txt"
    source.write_text("user")
    source.chmod(0o644)
    placer = Placer()
    first = placer.place_file(str(source), str(tmp_path / "a.txt"))
    second = placer.place_file(str(source), str(tmp_path / "b.txt"))
    assert first.how in ("copy", "clone") and second.how == "link"
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    assert a.stat().st_ino == b.stat().st_ino != source.stat().st_ino
    assert not _writable(a) and a.read_text() == "user"
    assert stat.S_IMODE(source.stat().st_mode) == 0o644


def test_a_changed_file_is_copied_again(tmp_path: Path) -> None:
    source = tmp_path / "mine.txt"
    source.write_text("v1")
    placer = Placer()
    placer.place_file(str(source), str(tmp_path / "a.txt"))
    source.write_text("version 2")
    placer.place_file(str(source), str(tmp_path / "b.txt"))
    assert (tmp_path / "b.txt").read_text() == "version 2"


def test_relative_symlinks_are_resolved(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    target = tmp_path / "work.txt"
    target.write_text("target bytes")
    target.chmod(0o444)
    link = tmp_path / "out" / "link.txt"
    link.symlink_to("../work.txt")
    dest = tmp_path / "elsewhere" / "in.txt"
    dest.parent.mkdir()
    Placer().place_file(str(link), str(dest))
    assert not dest.is_symlink() and dest.read_text() == "target bytes"


def test_directories_become_real_trees_of_read_only_files(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leaf.txt").write_text("leaf")
    (tmp_path / "outside.txt").write_text("outside")
    (tree / "link.txt").symlink_to("../outside.txt")
    (tmp_path / "tree_link").symlink_to("tree")
    dest = tmp_path / "placed"
    placed = Placer().place_tree(str(tmp_path / "tree_link"), str(dest))
    assert len(placed) == 2
    assert not dest.is_symlink() and not (dest / "link.txt").is_symlink()
    assert (dest / "link.txt").read_text() == "outside"
    assert not _writable(dest / "sub" / "leaf.txt")


def test_copy_input_files_forces_a_copy(tmp_path: Path) -> None:
    source = tmp_path / "out.txt"
    source.write_text("upstream")
    source.chmod(0o444)
    placed = Placer().place_file(str(source), str(tmp_path / "in.txt"), copy=True)
    assert placed.how in ("copy", "clone")
    assert (tmp_path / "in.txt").stat().st_ino != source.stat().st_ino


def test_finalize_script_makes_outputs_read_only_but_not_placed_inputs(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "_miniwdl_inputs" / "0").mkdir(parents=True)
    (work / "made.txt").write_text("made")
    placed = work / "_miniwdl_inputs" / "0" / "in.txt"
    placed.write_text("in")
    stream = tmp_path / "stdout.txt"
    stream.write_text("")
    outside = tmp_path / "outside.txt"
    outside.write_text("outside")
    (work / "link").symlink_to(outside)
    assert os.system(f"sh -c {shlex.quote(finalize_script(str(work), [str(stream)]))}") == 0
    assert not _writable(work / "made.txt") and not _writable(stream)
    assert _writable(placed) and _writable(outside)  # not its business; links not followed


def test_miniwdl_end_of_task_chmod_keeps_read_only_files(tmp_path: Path) -> None:
    _keep_read_only_files()
    read_only = tmp_path / "out.txt"
    read_only.write_text("x")
    read_only.chmod(0o444)
    writable = tmp_path / "w.txt"
    writable.write_text("y")
    writable.chmod(0o600)
    wdl_task.chmod_R_plus(str(tmp_path), file_bits=0o660, dir_bits=0o770)  # type: ignore[attr-defined]
    assert stat.S_IMODE(read_only.stat().st_mode) == 0o444
    assert stat.S_IMODE(writable.stat().st_mode) == 0o660
