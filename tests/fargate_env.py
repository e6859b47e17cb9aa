"""An AWS account in moto (VPC, ECS cluster, EFS, logs), the fake Fargate harness, and a way to
run real ``miniwdl run`` workflows in this process through the ``aws_fargate`` backend."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from fargate_harness import FakeFargate, Faults
from moto import mock_aws

from chalicelib import backend_fargate
from chalicelib.backend_fargate import FargateContainer, FargateSettings
from chalicelib.fargate import EcsLauncher
from chalicelib.local_mode import LocalHome
from chalicelib.notifications import JsonLinesNotifier
from chalicelib.records import TaskRecord
from chalicelib.sqlite_store import SqliteStore
from chalicelib.status import ControlPlane, handle_ecs_event

REGION = "us-east-1"


@dataclass
class FargateEnv:
    root: Path
    efs_root: Path
    home: LocalHome
    ecs: Any
    harness: FakeFargate
    faults: Faults
    run_id: str
    env: dict[str, str]
    setenv: Callable[[str, str], None]
    runs: int = 0

    def run(self, wdl: Path | str, *inputs: str, **cfg: str) -> tuple[int, dict[str, Any]]:
        """``miniwdl run WDL inputs... --dir <EFS>`` in this process; (exit code, -o JSON)."""
        from WDL import CLI

        for key, value in {**self.env, **cfg}.items():
            self.setenv(key, value)
        FargateContainer._runtime = None
        FargateContainer._global_init = False  # type: ignore[attr-defined]
        self.runs += 1
        out = self.root / f"result{self.runs}.json"
        run_dir = self.efs_root / "runs" / f"{self.run_id}-{self.runs}"
        argv = ["run", str(wdl), *inputs, "--dir", f"{run_dir}/.", "-o", str(out)]
        try:
            CLI.main(argv)
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        result = json.loads(out.read_text()) if out.exists() else {}
        return code, result

    def tasks(self) -> list[TaskRecord]:
        return SqliteStore(self.home.store_path).list_tasks(self.run_id)

    @property
    def backend_launcher(self) -> EcsLauncher:
        runtime = FargateContainer._runtime
        assert runtime is not None
        return runtime.launcher


def create_efs(efs_api: Any) -> tuple[str, str]:
    """An encrypted, elastic file system and an access point with a non-root POSIX user, as the
    stack creates them; returns their ids."""
    file_system = efs_api.create_file_system(
        CreationToken="wdl", Encrypted=True, ThroughputMode="elastic"
    )["FileSystemId"]
    access_point = efs_api.create_access_point(
        FileSystemId=file_system,
        PosixUser={"Uid": 1000, "Gid": 1000},
        RootDirectory={
            "Path": "/wdl",
            "CreationInfo": {"OwnerUid": 1000, "OwnerGid": 1000, "Permissions": "0755"},
        },
    )["AccessPointId"]
    return str(file_system), str(access_point)


@contextmanager
def fargate_account(root: Path, setenv: Callable[[str, str], None]) -> Iterator[FargateEnv]:
    """A moto AWS account with a VPC, an ECS cluster with the Fargate capacity providers, an
    encrypted EFS with an access point, a log group, and the harness attached to the ECS client
    the backend will get. ``setenv`` sets environment variables (pytest's monkeypatch in tests)."""
    setenv("AWS_ACCESS_KEY_ID", "testing")
    setenv("AWS_SECRET_ACCESS_KEY", "testing")
    setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
        file_system, access_point = create_efs(boto3.client("efs", region_name=REGION))
        boto3.client("logs", region_name=REGION).create_log_group(
            logGroupName="/miniwdl-fargate/tasks"
        )
        ecs = backend_fargate.new_ecs_client(REGION)
        ecs.create_cluster(clusterName="wdl", capacityProviders=["FARGATE", "FARGATE_SPOT"])

        efs_root = root / "efs"
        efs_root.mkdir()
        mounts = root / "mounts"
        mounts.write_text(f"{file_system}.efs.{REGION}.amazonaws.com:/ {efs_root} nfs4 rw 0 0\n")
        home = LocalHome(str(root / "home"))
        run_id = "run-fargate"
        env = {
            "MINIWDL__SCHEDULER__CONTAINER_BACKEND": "aws_fargate",
            "MINIWDL__AWS_FARGATE__CLUSTER": "wdl",
            "MINIWDL__AWS_FARGATE__SUBNETS": subnet,
            "MINIWDL__AWS_FARGATE__SECURITY_GROUPS": group,
            "MINIWDL__AWS_FARGATE__EFS_ID": file_system,
            "MINIWDL__AWS_FARGATE__EFS_ACCESS_POINT": access_point,
            "MINIWDL__AWS_FARGATE__EFS_MOUNTPOINT": str(efs_root),
            "MINIWDL__AWS_FARGATE__MOUNTS_FILE": str(mounts),
            "MINIWDL__AWS_FARGATE__REGION": REGION,
            "MINIWDL__AWS_FARGATE__WATCH_INTERVAL": "0.2",
            "MINIWDL__AWS_FARGATE__RECONCILE_AFTER_SECONDS": "1.5",
            "MINIWDL__MINIWDL_FARGATE__RUN_ID": run_id,
            "MINIWDL__MINIWDL_FARGATE__HOME": home.root,
            "MINIWDL__CALL_CACHE__GET": "false",
            "MINIWDL__CALL_CACHE__PUT": "false",
        }
        settings = FargateSettings(
            cluster="wdl",
            subnets=(subnet,),
            efs_id=file_system,
            security_groups=(group,),
            region=REGION,
            efs_mountpoint=str(efs_root),
        )
        plane = ControlPlane(
            store=SqliteStore(home.store_path),
            notifier=JsonLinesNotifier(home.notifications_path),
            launcher=EcsLauncher(ecs, settings.cluster_config()),
        )
        faults = Faults()
        harness = FakeFargate(lambda event: handle_ecs_event(event, plane), faults)
        harness.attach(ecs)
        original = backend_fargate.new_ecs_client
        backend_fargate.new_ecs_client = lambda region: ecs
        try:
            yield FargateEnv(root, efs_root, home, ecs, harness, faults, run_id, env, setenv)
        finally:
            backend_fargate.new_ecs_client = original
            for arn in harness.running():
                harness._kill(harness.tasks[arn])
            FargateContainer._runtime = None
            FargateContainer._global_init = False  # type: ignore[attr-defined]


@pytest.fixture
def fargate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FargateEnv]:
    for key in list(os.environ):
        if key.startswith("MINIWDL"):
            monkeypatch.delenv(key)
    with fargate_account(tmp_path, monkeypatch.setenv) as env:
        yield env
