"""miniwdl's plugin lookups, read from the installed packages once per process.

miniwdl looks its plugins up again and again: its file downloaders, its workflow and task
plugins (for every task) and its container backend (for every task). Each lookup reads the entry
points of every installed distribution: 20-30 ms with this project's dependencies installed,
a quarter of a local run's orchestrator CPU before this module.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def remember_plugin_entry_points() -> None:
    """Have miniwdl's plugin lookups read the installed packages' metadata once per process.

    Distributions do not change while a workflow runs, so the answers for miniwdl's plugin
    groups are remembered; every other lookup goes through unchanged. Called by the orchestrator
    before miniwdl starts, and by both backends' ``global_init`` (for plain ``miniwdl run``).
    """
    from importlib import metadata

    lookup = metadata.entry_points

    @functools.cache
    def plugin_group(group: str) -> metadata.EntryPoints:
        return lookup(group=group)

    def entry_points(**selection: Any) -> Any:
        group = selection.get("group")
        if selection.keys() == {"group"} and str(group).startswith("miniwdl.plugin."):
            return plugin_group(group)
        return lookup(**selection)

    metadata.entry_points = entry_points
