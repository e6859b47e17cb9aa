"""chalicelib.states: the legal moves between WES states, and parsing state names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.states import TERMINAL, State, can_transition, is_terminal, parse_state

S = State
ACTIVE_ORDER = [S.QUEUED, S.INITIALIZING, S.RUNNING, S.CANCELING]
ALL_STATES = list(State)

# The whole table, spelled out: every allowed (current, target) pair. Anything else is refused.
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


@given(st.sampled_from(list(State)).filter(is_terminal), st.sampled_from(list(State)))
def test_from_a_terminal_state_nothing_is_allowed(current: State, target: State) -> None:
    assert not can_transition(current, target)


@given(st.sampled_from(ALL_STATES))
def test_same_state_is_not_a_transition(state: State) -> None:
    assert not can_transition(state, state)


@pytest.mark.parametrize(
    ("earlier", "later"),
    [(a, b) for i, a in enumerate(ACTIVE_ORDER) for b in ACTIVE_ORDER[i + 1 :]],
    ids=str,
)
def test_active_states_only_move_forward(earlier: State, later: State) -> None:
    assert can_transition(earlier, later)
    assert not can_transition(later, earlier)


def test_canceling_outcomes() -> None:
    for target in (S.COMPLETE, S.EXECUTOR_ERROR, S.SYSTEM_ERROR, S.CANCELED):
        assert can_transition(S.CANCELING, target)
    assert not can_transition(S.CANCELING, S.PREEMPTED)


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
