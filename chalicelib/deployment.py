"""Which adapters a process uses, chosen from its environment.

The local mode is the default. The AWS adapters (DynamoDB store, EventBridge notifications, ECS
launcher) are not built yet; asking for them fails with an error that says so.
"""

from __future__ import annotations

import os

from .local_mode import ENV_HOME, LocalHome, default_home
from .status import ControlPlane

ENV_TABLE = "MINIWDL_FARGATE_TABLE"


class NotBuiltYet(NotImplementedError):
    """A configured adapter that this version does not have."""


def control_plane_from_environment() -> ControlPlane:
    """The control plane this process is configured for (``MINIWDL_FARGATE_TABLE`` selects AWS,
    otherwise the local mode's home, ``MINIWDL_FARGATE_HOME``)."""
    if os.environ.get(ENV_TABLE):
        raise NotBuiltYet(
            f"{ENV_TABLE} selects the DynamoDB store, which is not built yet; "
            f"unset it to use the local mode ({ENV_HOME})"
        )
    return LocalHome(default_home()).control_plane()
