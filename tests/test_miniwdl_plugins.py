"""miniwdl's plugin lookups are remembered, and answer as before."""

from __future__ import annotations

from importlib import metadata

from WDL.runtime import config

from chalicelib.miniwdl_plugins import remember_plugin_entry_points


def test_plugin_lookups_are_read_once_and_answer_as_before() -> None:
    cfg = config.Loader(config.logging.getLogger("test"))
    before = [
        (enabled, p.name, p.value)
        for enabled, p in config.load_all_plugins(cfg, "container_backend")
    ]
    unrelated = metadata.entry_points(group="console_scripts")
    remember_plugin_entry_points()
    after = [
        (enabled, p.name, p.value)
        for enabled, p in config.load_all_plugins(cfg, "container_backend")
    ]
    assert after == before
    assert ("local", "chalicelib.backend_local:LocalContainer") in [(n, v) for _, n, v in after]
    group = "miniwdl.plugin.container_backend"
    assert metadata.entry_points(group=group) is metadata.entry_points(group=group)
    assert list(metadata.entry_points(group="console_scripts")) == list(unrelated)
    assert metadata.entry_points(group="console_scripts") is not metadata.entry_points(
        group="console_scripts"
    )
