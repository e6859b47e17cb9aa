"""``--s3upload URI`` (miniwdl-aws-submit's): where the results go, the refusal before launch
when the deployment may not write there, and a local-mode run copying its outputs and logs to
an S3 bucket (moto's server, which the orchestrator process reaches over HTTP)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from local_mode import REPO, leftover_processes
from moto.server import ThreadedMotoServer

from chalicelib.objects import DirectoryObjects, result_key
from chalicelib.wes_engine_parameters import (
    EngineParameterError,
    check_engine_parameter,
    upload_destination,
    upload_refusal,
)
from chalicelib.wes_s3upload import UploadingObjects


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://bkt/out", "bkt", "out/RUN1/"),
        ("s3://bkt/out/", "bkt", "out/"),
        ("s3://bkt/a/b", "bkt", "a/b/RUN1/"),
        ("s3://bkt", "bkt", "RUN1/"),
        ("s3://bkt/", "bkt", ""),
    ],
)
def test_a_subfolder_named_after_the_run_unless_the_uri_ends_in_a_slash(
    uri: str, bucket: str, prefix: str
) -> None:
    assert upload_destination(uri, "RUN1") == (bucket, prefix)


@pytest.mark.parametrize(
    "uri", ["https://bkt/x", "s3://", "s3://B_ad/x", "s3://bkt/a//b", "s3://bkt/../x", "bkt/x"]
)
def test_what_is_not_an_s3_prefix(uri: str) -> None:
    with pytest.raises(EngineParameterError, match="s3upload must be s3://BUCKET"):
        check_engine_parameter("s3upload", uri, {})


def test_the_deployment_writes_only_where_it_may_and_says_what_to_add() -> None:
    deployed = {
        "MINIWDL_FARGATE_BUCKET": "stack-bucket",
        "MINIWDL_FARGATE_UPLOAD_BUCKETS": "lab-data/team, shared",
    }
    for uri in (
        "s3://stack-bucket/x",
        "s3://lab-data/team/runs",
        "s3://shared",
        "s3://lab-data/team/",
    ):
        assert upload_refusal(uri, deployed) is None, uri
    refusal = upload_refusal("s3://lab-data/teamx/runs", deployed)
    assert (
        refusal is not None
        and "add lab-data/teamx/runs to MINIWDL_FARGATE_UPLOAD_BUCKETS" in refusal
    )
    statement = json.loads(refusal.split("policy: ", 1)[1])
    assert statement == {
        "Effect": "Allow",
        "Action": ["s3:PutObject"],
        "Resource": "arn:aws:s3:::lab-data/teamx/runs/*",
    }
    assert upload_refusal("s3://anything/x", {}) is None  # the local mode: this machine's rights
    with pytest.raises(EngineParameterError, match="may not write to s3://other"):
        check_engine_parameter("s3upload", "s3://other/x", deployed)


def test_only_the_runs_results_are_copied(tmp_path: Path) -> None:
    inner, copy = DirectoryObjects(str(tmp_path / "a")), DirectoryObjects(str(tmp_path / "b"))
    objects = UploadingObjects(inner, copy, "R1")
    location = objects.put_bytes(result_key("R1", "outputs.json"), b"{}")
    assert location == inner.location(result_key("R1", "outputs.json"))
    (tmp_path / "f").write_text("log")
    objects.put_file(result_key("R1", "logs/workflow.log"), str(tmp_path / "f"))
    objects.put_bytes(result_key("R2", "outputs.json"), b"other run")
    objects.put_bytes("requests/R1/bundle.zip", b"zip")
    assert copy.get_bytes("outputs.json") == b"{}"
    assert copy.get_bytes("logs/workflow.log") == b"log"
    assert sorted(p.name for p in (tmp_path / "b").rglob("*") if p.is_file()) == [
        "outputs.json",
        "workflow.log",
    ]


@pytest.fixture
def s3_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_a_run_copies_its_outputs_and_logs_to_the_users_prefix(
    s3_server: str, tmp_path: Path
) -> None:
    aws = {
        "AWS_ENDPOINT_URL_S3": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="my-results")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIWDL", "AWS_"))}
    env.update(aws, MINIWDL_FARGATE_HOME=str(home), PYTHONPATH=str(REPO))

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chalicelib.cli", *args],
            capture_output=True,
            text=True,
            env={**env, **extra},
            cwd=tmp_path,
            timeout=120,
        )

    hello = str(REPO / "examples" / "hello.wdl")
    result = cli("run", hello, "--s3upload", "s3://my-results/runs")
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run_id"]
    listed = s3.list_objects_v2(Bucket="my-results", Prefix=f"runs/{run_id}/")
    keys = {o["Key"].removeprefix(f"runs/{run_id}/") for o in listed.get("Contents", [])}
    assert "outputs.json" in keys and "logs/workflow.log" in keys
    assert any(k.endswith("greetings.txt") for k in keys), keys
    outputs = json.loads(
        s3.get_object(Bucket="my-results", Key=f"runs/{run_id}/outputs.json")["Body"].read()
    )
    assert outputs["hello.count"] == 3

    exact = cli("run", hello, "--s3upload", "s3://my-results/latest/")
    assert exact.returncode == 0, exact.stderr
    assert s3.get_object(Bucket="my-results", Key="latest/outputs.json")

    # Where the stack may not write: refused before anything is recorded or launched.
    before = cli("list", "--json")
    refused = cli(
        "submit",
        hello,
        "--s3upload",
        "s3://not-ours/x",
        MINIWDL_FARGATE_UPLOAD_BUCKETS="my-results",
    )
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert '"Resource": "arn:aws:s3:::not-ours/x/*"' in refused.stderr
    assert cli("list", "--json").stdout == before.stdout
    deadline = time.monotonic() + 20
    while leftover_processes(str(home)) and time.monotonic() < deadline:
        time.sleep(0.1)


def test_the_api_refuses_it_with_the_policy_before_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.wes import ApiError, parse_run_request

    monkeypatch.setenv("MINIWDL_FARGATE_BUCKET", "stack-bucket")
    monkeypatch.delenv("MINIWDL_FARGATE_UPLOAD_BUCKETS", raising=False)
    fields = {
        "workflow_url": "https://example.com/x.wdl",
        "workflow_engine_parameters": json.dumps({"s3upload": "s3://elsewhere/out"}),
    }
    with pytest.raises(ApiError, match="arn:aws:s3:::elsewhere/out/") as caught:
        parse_run_request(fields, {})
    assert caught.value.status_code == 400
    fields["workflow_engine_parameters"] = json.dumps({"s3upload": "s3://stack-bucket/mine/"})
    assert parse_run_request(fields, {}).workflow_engine_parameters["s3upload"]
