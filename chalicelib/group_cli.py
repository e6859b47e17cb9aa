"""``miniwdl-fargate group create/list/show/update/delete``: run groups from the command line.

``register(subparsers)`` adds the ``group`` command to the CLI's parser; each subcommand's
handler takes the parsed arguments (and, like the CLI's other handlers, a second argument it
does not need). With ``MINIWDL_FARGATE_API`` set the groups are the API's (``/groups``, beside
WES's runs); otherwise the local mode's home's.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from typing import Any, Protocol

from .groups import GroupError, Limits, check_name, parse_limits

LIMIT_OPTIONS = (
    ("--max-runs", "max_runs", "runs admitted at once"),
    ("--max-vcpus", "max_vcpus", "vCPUs of the group's task containers in flight"),
    ("--max-gpus", "max_gpus", "GPUs of the group's task containers in flight"),
    ("--max-duration", "max_duration", "a run's longest time from admission: 3600, 90m, 12h"),
    ("--max-cost-usd", "max_cost_usd", "a run's estimated cost, in USD"),
)
NO_LIMIT = "none"


class GroupCommandError(Exception):
    """A user-facing error of a group command (printed as one line, exit code 2)."""


class Groups(Protocol):
    """Where the groups are: the API's, or the local home's."""

    def list(self) -> list[dict[str, Any]]: ...

    def get(self, name: str) -> dict[str, Any]: ...

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def update(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def delete(self, name: str) -> None: ...


class ApiGroups:
    """The API's groups (``/ga4gh/wes/v1/groups``), through the CLI's WES client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        from .wes_http import WesError

        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            return self.client._call(method, path, body=data, headers=headers, retry=False)
        except WesError as exn:
            raise GroupCommandError(str(exn)) from None

    def list(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/groups").get("groups") or [])

    def get(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/groups/{check_name(name)}"))

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", "/groups", body))

    def update(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/groups/{check_name(name)}", body))

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/groups/{check_name(name)}")


class LocalGroups:
    """The local home's groups, through the same operations the API runs (``api``)."""

    def __init__(self, home: str) -> None:
        from .deployment import Submitter
        from .local_mode import LocalHome

        local = LocalHome(home)
        plane = local.control_plane(detach=True)  # a raised limit may launch orchestrators
        self.submitter = Submitter(plane, local.objects(), local.orchestrator_spec, _no_s3)

    def _api(self, operation: str, *args: Any) -> Any:
        from . import api
        from .wes import ApiError

        try:
            return getattr(api, operation)(self.submitter, *args)
        except ApiError as exn:
            raise GroupCommandError(exn.msg) from None

    def list(self) -> list[dict[str, Any]]:
        return list(self._api("list_groups")["groups"])

    def get(self, name: str) -> dict[str, Any]:
        return dict(self._api("get_group", name))

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._api("put_group", json.dumps(body).encode()))

    def update(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._api("put_group", json.dumps(body).encode(), name))

    def delete(self, name: str) -> None:
        self._api("delete_group", name)


def _no_s3(url: str) -> bytes:
    raise PermissionError("s3:// URLs need the AWS deployment")


def groups_for(args: argparse.Namespace) -> Groups:
    """The API's groups when ``MINIWDL_FARGATE_API`` is set, else the local home's."""
    from .wes_http import ENV_API, WesClient

    url = os.environ.get(ENV_API, "").strip()
    if url:
        return ApiGroups(WesClient(url))
    from .local_mode import default_home

    return LocalGroups(getattr(args, "home", None) or default_home())


def register(subparsers: Any) -> None:
    """Add ``group`` and its subcommands to the CLI's subparsers."""
    group = subparsers.add_parser(
        "group",
        help="manage run groups (limits on runs, vCPUs, GPUs, duration)",
        description="Run groups: named limits that runs join with --tag group=NAME (or the"
        " API's engine parameter group); runs without one join 'default'.",
    )
    sub = group.add_subparsers(dest="group_command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("create", help="create a group")
    p.add_argument("name", metavar="NAME")
    _limit_flags(p)
    p.set_defaults(handler=cmd_group_create)

    p = sub.add_parser("list", help="list the groups, their limits and runs")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(handler=cmd_group_list)

    p = sub.add_parser("show", help="one group as JSON")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=cmd_group_show)

    p = sub.add_parser(
        "update", help=f"change a group's limits (a limit set to {NO_LIMIT!r} is cleared)"
    )
    p.add_argument("name", metavar="NAME")
    _limit_flags(p)
    p.set_defaults(handler=cmd_group_update)

    p = sub.add_parser("delete", help="delete a group with no run admitted or waiting")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=cmd_group_delete)


def _limit_flags(parser: argparse.ArgumentParser) -> None:
    for flag, dest, help_text in LIMIT_OPTIONS:
        parser.add_argument(flag, dest=dest, metavar="N", help=help_text)
    parser.add_argument("--description", help="what the group is for")


def limits_body(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON body of the limits given on the command line ("none" clears one); checked
    here first so a typo fails before any call. Raises ``GroupCommandError``."""
    body: dict[str, Any] = {}
    for _flag, dest, _help in LIMIT_OPTIONS:
        value = getattr(args, dest, None)
        if value is not None:
            body[dest] = None if value.strip().lower() == NO_LIMIT else value.strip()
    for number in ("max_runs", "max_gpus"):
        if body.get(number) is not None:
            body[number] = _int(body[number], number)
    for number in ("max_vcpus", "max_cost_usd"):
        if body.get(number) is not None:
            body[number] = _float(body[number], number)
    try:
        parse_limits(body)
    except GroupError as exn:
        raise GroupCommandError(str(exn)) from None
    if getattr(args, "description", None) is not None:
        body["description"] = args.description
    return body


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise GroupCommandError(f"--{name.replace('_', '-')} must be an integer") from None


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise GroupCommandError(f"--{name.replace('_', '-')} must be a number") from None


def cmd_group_create(args: argparse.Namespace, _service: object = None) -> int:
    body = {"name": _name(args.name), **limits_body(args)}
    print(_line(groups_for(args).create(body)))
    return 0


def cmd_group_update(args: argparse.Namespace, _service: object = None) -> int:
    body = limits_body(args)
    if not body:
        raise GroupCommandError("nothing to change: give a --max-* limit or --description")
    print(_line(groups_for(args).update(_name(args.name), body)))
    return 0


def cmd_group_delete(args: argparse.Namespace, _service: object = None) -> int:
    groups_for(args).delete(_name(args.name))
    print(f"deleted group {args.name}")
    return 0


def cmd_group_show(args: argparse.Namespace, _service: object = None) -> int:
    print(json.dumps(groups_for(args).get(_name(args.name)), indent=2))
    return 0


def cmd_group_list(args: argparse.Namespace, _service: object = None) -> int:
    found = groups_for(args).list()
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    print(f"{'GROUP':<24} {'RUNS':>9} {'WAITING':>7} {'VCPUS':>7} {'GPUS':>5} {'DURATION':>9}")
    for group in found:
        print(_line(group))
    return 0


def _name(name: str) -> str:
    try:
        return check_name(name)
    except GroupError as exn:
        raise GroupCommandError(str(exn)) from None


def _line(group: Mapping[str, Any]) -> str:
    """One row of ``group list``: admitted/limit, waiting, the vCPU, GPU and duration limits."""
    limits = Limits(**{k: group.get(k) for k in Limits.__dataclass_fields__})

    def shown(value: object) -> str:
        return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

    runs = f"{group.get('runs_admitted', 0)}/{shown(limits.max_runs)}"
    duration = limits.max_duration_seconds
    hours = "-" if duration is None else f"{duration / 3600:g}h"
    return (
        f"{group.get('name', ''):<24} {runs:>9} {group.get('runs_waiting', 0):>7}"
        f" {shown(limits.max_vcpus):>7} {shown(limits.max_gpus):>5} {hours:>9}"
    )
