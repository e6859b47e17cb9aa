"""chalicelib.states: the legal moves between WES states, and parsing state names."""

from __future__ import annotations

import pytest

from chalicelib.states import TERMINAL, State, can_transition, is_terminal, parse_state

S = State
ALL_STATES = list(State)

# The whole table, spelled out: every allowed (current, target) pair; anything else is refused
# (so nothing leaves a terminal state, staying put is not a move, active states only go forward).
ALLOWED = {
    (S.QUEUED, S.INITIALIZING),
    (S.QUEUED, S.RUNNING),
    (S.QUEUED, S.CANCELING),
    (S.INITIALIZING, S.RUNNING),
    (S.INITIALIZING, S.CANCELING),
    (S.RUNNING, S.CANCELING),
    *((s, t) for s in (S.QUEUED, S.INITIALIZING, S.RUNNING) for t in TERMINAL),
    (S.CANCELING, S.COMPLETE),
    (S.CANCELING, S.EXECUTOR_ERROR),
    (S.CANCELING, S.SYSTEM_ERROR),
    (S.CANCELING, S.CANCELED),
}


def test_terminal_set() -> None:
    assert set(TERMINAL) == {
        S.COMPLETE,
        S.EXECUTOR_ERROR,
        S.SYSTEM_ERROR,
        S.CANCELED,
        S.PREEMPTED,
    }
    for state in ALL_STATES:
        assert is_terminal(state) == (state in TERMINAL)


@pytest.mark.parametrize("current", ALL_STATES, ids=str)
@pytest.mark.parametrize("target", ALL_STATES, ids=str)
def test_transition_table(current: State, target: State) -> None:
    assert can_transition(current, target) == ((current, target) in ALLOWED)


@pytest.mark.parametrize("state", ALL_STATES, ids=str)
def test_parse_state_round_trips(state: State) -> None:
    assert parse_state(state.value) is state
    assert parse_state(state.value.lower()) is state
    assert parse_state(f"  {state.value.title()}\n") is state


def test_parse_state_case_insensitive_mixed() -> None:
    assert parse_state("Executor_Error") is S.EXECUTOR_ERROR
    assert parse_state("canceLing") is S.CANCELING


@pytest.mark.parametrize("bad", ["", "DONE", "running!", "COMPLETED", "QUEUED RUNNING"])
def test_parse_state_unknown_lists_valid_names(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_state(bad)
    message = str(info.value)
    assert repr(bad) in message
    for state in ALL_STATES:
        assert state.value in message
