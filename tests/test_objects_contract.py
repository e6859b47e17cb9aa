"""The ObjectStore contract: every adapter (the ``objects`` fixture) must pass this one suite."""

from __future__ import annotations

import os

import boto3
import pytest
from moto import mock_aws

from chalicelib.objects import DirectoryObjects
from chalicelib.s3_objects import S3Objects

BUCKET = "miniwdl-fargate-test"
PREFIX = "stage/objects"
INVALID_KEYS = ["", "/abs", "../x", "a/../../x", "a/..", "."]


@pytest.fixture(params=["directory", "s3"])
def objects(request, tmp_path, monkeypatch):
    """Every ObjectStore adapter, fresh for each test (S3 on moto, under a key prefix)."""
    if request.param == "directory":
        yield DirectoryObjects(str(tmp_path / "objects"))
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        with mock_aws():
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket=BUCKET)
            yield S3Objects(client, BUCKET, PREFIX)


def write(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


ALL_BYTES = bytes(range(256)) * 4


def test_put_and_get_bytes_round_trip(objects) -> None:
    objects.put_bytes("requests/run1/inputs.json", b'{"hello.who": "world"}')
    objects.put_bytes("requests/run1/blob", ALL_BYTES)
    assert objects.get_bytes("requests/run1/inputs.json") == b'{"hello.who": "world"}'
    assert objects.get_bytes("requests/run1/blob") == ALL_BYTES


def test_empty_object_round_trip(objects) -> None:
    objects.put_bytes("empty", b"")
    assert objects.get_bytes("empty") == b""


def test_put_and_get_bytes_return_the_location(objects) -> None:
    assert objects.put_bytes("a/b.txt", b"x") == objects.location("a/b.txt")


@pytest.mark.parametrize("size", [len(ALL_BYTES), 3 * 1024 * 1024])
def test_put_file_and_get_file_round_trip(objects, tmp_path, size) -> None:
    data = os.urandom(size - len(ALL_BYTES)) + ALL_BYTES
    src = write(tmp_path / "src.bin", data)
    location = objects.put_file("results/run1/out.bin", src)
    assert location == objects.location("results/run1/out.bin")
    dest = str(tmp_path / "dest.bin")
    objects.get_file("results/run1/out.bin", dest)
    assert read(dest) == data
    assert objects.get_bytes("results/run1/out.bin") == data
    assert read(src) == data  # the source is left as it was


def test_get_file_overwrites_an_existing_local_file(objects, tmp_path) -> None:
    objects.put_bytes("k", b"new")
    dest = write(tmp_path / "dest", b"old content, longer than the new one")
    objects.get_file("k", dest)
    assert read(dest) == b"new"


def test_put_bytes_overwrite_replaces(objects) -> None:
    objects.put_bytes("results/run1/log.txt", b"a much longer first version")
    objects.put_bytes("results/run1/log.txt", b"second")
    assert objects.get_bytes("results/run1/log.txt") == b"second"


def test_put_file_overwrite_replaces(objects, tmp_path) -> None:
    objects.put_file("k", write(tmp_path / "one", b"first version, long"))
    objects.put_file("k", write(tmp_path / "two", b"second"))
    assert objects.get_bytes("k") == b"second"
    objects.put_bytes("k", b"third")
    assert objects.get_bytes("k") == b"third"


def test_location_of_a_key(objects, tmp_path) -> None:
    key = "results/run1/outputs.json"
    objects.put_bytes(key, b"{}")
    location = objects.location(key)
    if isinstance(objects, DirectoryObjects):
        assert os.path.isabs(location)
        assert location.startswith(str(tmp_path / "objects") + os.sep)
        assert location.endswith(os.path.join("results", "run1", "outputs.json"))
        assert read(location) == b"{}"
    else:
        assert location == f"s3://{BUCKET}/{PREFIX}/{key}"
        bucket, _, s3_key = location.removeprefix("s3://").partition("/")
        body = boto3.client("s3", region_name="us-east-1").get_object(Bucket=bucket, Key=s3_key)
        assert body["Body"].read() == b"{}"


def test_location_does_not_need_the_object(objects) -> None:
    assert objects.location("not/yet") != objects.location("not/yet/either")
    with pytest.raises(FileNotFoundError):
        objects.get_bytes("not/yet")


def test_missing_key_raises_file_not_found(objects, tmp_path) -> None:
    objects.put_bytes("results/run1/present", b"x")
    with pytest.raises(FileNotFoundError):
        objects.get_bytes("results/run1/absent")
    dest = tmp_path / "dest"
    with pytest.raises(FileNotFoundError):
        objects.get_file("results/run1/absent", str(dest))
    assert not dest.exists()


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_raise_value_error(objects, tmp_path, key) -> None:
    src = write(tmp_path / "src", b"x")
    with pytest.raises(ValueError, match="invalid object key"):
        objects.put_bytes(key, b"x")
    with pytest.raises(ValueError, match="invalid object key"):
        objects.put_file(key, src)
    with pytest.raises(ValueError, match="invalid object key"):
        objects.get_bytes(key)
    with pytest.raises(ValueError, match="invalid object key"):
        objects.get_file(key, str(tmp_path / "dest"))
    with pytest.raises(ValueError, match="invalid object key"):
        objects.location(key)


def test_nested_keys_are_distinct_objects(objects) -> None:
    objects.put_bytes("results/run1/out/x/y.txt", b"deep")
    objects.put_bytes("results/run1/out/x.txt", b"shallow")
    objects.put_bytes("results/run2/out/x/y.txt", b"other run")
    assert objects.get_bytes("results/run1/out/x/y.txt") == b"deep"
    assert objects.get_bytes("results/run1/out/x.txt") == b"shallow"
    assert objects.get_bytes("results/run2/out/x/y.txt") == b"other run"
    assert objects.location("results/run1/out/x/y.txt").endswith("results/run1/out/x/y.txt")


def test_equivalent_spellings_name_one_object(objects) -> None:
    objects.put_bytes("results/./run1//a/../out.txt", b"x")
    assert objects.get_bytes("results/run1/out.txt") == b"x"
    assert objects.location("results/./run1//out.txt") == objects.location("results/run1/out.txt")


# S3 only


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("", "k/v"), ("p", "p/k/v"), ("/p/q/", "p/q/k/v")],
)
def test_s3_prefix_is_joined_with_one_slash(s3, prefix, expected) -> None:
    objects = S3Objects(s3, BUCKET, prefix)
    assert objects.put_bytes("k/v", b"x") == f"s3://{BUCKET}/{expected}"
    assert s3.get_object(Bucket=BUCKET, Key=expected)["Body"].read() == b"x"


def test_s3_other_errors_are_not_reported_as_missing_objects(s3) -> None:
    objects = S3Objects(s3, "no-such-bucket-here", "")
    with pytest.raises(s3.exceptions.NoSuchBucket):
        objects.get_bytes("k")
