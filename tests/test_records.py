"""The records' own copy and serialisation (``records._Item``): the event path's fast
``replace`` and ``to_item`` must give exactly what ``dataclasses`` would."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.records import RunRecord, TaskRecord
from chalicelib.states import State

TASK = TaskRecord(task_id="t", run_id="r", state=State.QUEUED, updated_at="2026-01-01T00:00:00Z")
RUN = RunRecord(
    run_id="r",
    state=State.QUEUED,
    created_at="2026-01-01T00:00:00Z",
    updated_at="2026-01-01T00:00:00Z",
    workflow_name="w",
    workflow_key="k",
    inputs_key="i",
)
VALUES: dict[str, Any] = {
    "state": st.sampled_from(list(State)),
    "revision": st.integers(0, 10**6),
    "exit_code": st.one_of(st.none(), st.integers(-255, 255)),
    "unannounced": st.lists(st.fixed_dictionaries({"detail_type": st.text(max_size=5)})),
    "usage": st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers())),
    "stopped_reason": st.one_of(st.none(), st.text(max_size=20)),
    "tags": st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
    "outputs": st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers())),
}


def changes(record: TaskRecord | RunRecord) -> st.SearchStrategy[dict[str, Any]]:
    names = {f.name for f in dataclasses.fields(record)}
    return st.fixed_dictionaries({}, optional={k: v for k, v in VALUES.items() if k in names})


@given(data=st.data())
def test_replace_and_to_item_agree_with_dataclasses(data: st.DataObject) -> None:
    for record in (TASK, RUN):
        change = data.draw(changes(record))
        fast, slow = record.replace(**change), dataclasses.replace(record, **change)
        assert fast == slow and type(fast) is type(slow)
        assert fast.to_item() == {**dataclasses.asdict(slow), "state": slow.state.value}
        assert type(record).from_item(fast.to_item()) == slow
        assert record.replace() == record and record.replace() is not record


def test_replace_refuses_a_field_the_record_does_not_have() -> None:
    with pytest.raises(TypeError, match="no field stat"):
        TASK.replace(stat=State.COMPLETE)
    with pytest.raises(TypeError, match="no field call_id"):
        RUN.replace(call_id="call-x")
    assert TASK.state == State.QUEUED  # the original is untouched
