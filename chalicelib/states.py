"""Run and task states (GA4GH WES names) and the legal moves between them.

Pure: no I/O. Every writer (event handler, orchestrator, cancel) asks this module whether a move
is allowed, so the rule "a terminal state never changes" lives in exactly one place.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """A WES state, used for runs and for the tasks (ECS tasks) of a run."""

    QUEUED = "QUEUED"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    CANCELING = "CANCELING"
    COMPLETE = "COMPLETE"
    EXECUTOR_ERROR = "EXECUTOR_ERROR"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    CANCELED = "CANCELED"
    PREEMPTED = "PREEMPTED"


TERMINAL: frozenset[State] = frozenset(
    {State.COMPLETE, State.EXECUTOR_ERROR, State.SYSTEM_ERROR, State.CANCELED, State.PREEMPTED}
)

# Progress order of the non-terminal states: a move may only go forward (an out-of-order event
# that would take a RUNNING run back to INITIALIZING is ignored).
_RANK: dict[State, int] = {
    State.QUEUED: 0,
    State.INITIALIZING: 1,
    State.RUNNING: 2,
    State.CANCELING: 3,
}

# Run outcomes reachable from CANCELING: the cancel may lose the race with a run that was already
# finishing, and then the honest final state is the one the run reached.
_FROM_CANCELING: frozenset[State] = TERMINAL - {State.PREEMPTED}


def is_terminal(state: State) -> bool:
    """True for states that never change again."""
    return state in TERMINAL


def can_transition(current: State, target: State) -> bool:
    """Whether a record in ``current`` may move to ``target``.

    Staying in the same state is not a transition (returns False), so callers can tell a no-op.
    """
    if current == target or is_terminal(current):
        return False
    if current == State.CANCELING:
        return target in _FROM_CANCELING
    if is_terminal(target):
        return True
    return _RANK[target] > _RANK[current]


def parse_state(value: str) -> State:
    """Parse a state name, case-insensitively, with a clear error listing the valid names."""
    try:
        return State(value.strip().upper())
    except ValueError:
        valid = ", ".join(s.value for s in State)
        raise ValueError(f"unknown state {value!r}; expected one of: {valid}") from None
