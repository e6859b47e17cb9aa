"""A control plane over a store alone, for tests of what the store records: it announces
nothing, stops nothing and refuses to launch."""

from __future__ import annotations

from typing import Any

from chalicelib.status import ControlPlane
from chalicelib.store import Store


class Quiet:
    """The notifier and the launcher of a test that only looks at the store."""

    def publish(self, notifications: Any) -> None:
        pass

    def run_task(self, spec: Any) -> str:
        raise AssertionError("this test launches nothing")

    def stop_task(self, arn: str, reason: str) -> None:
        pass


def quiet_plane(store: Store, **ports: Any) -> ControlPlane:
    """``store``'s control plane, with ``ports`` (a budget, say) and nothing else."""
    return ControlPlane(store=store, notifier=Quiet(), launcher=Quiet(), **ports)
