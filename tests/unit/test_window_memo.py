"""Status and recognition answers kept per trust snapshot never differ from fresh ones.

The pipeline keeps each status and recognition answer for the open interval between the
instants its checks compare the reference time with (:mod:`registry.window_memo`). These
tests ask one snapshot many questions, in any order and at times on, just before and just
after every such instant, and compare each answer with the one a fresh snapshot gives.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_pipeline import (
    LIMITS,
    NOW,
    REVOCATION,
    SUSPENSION,
    T0,
    _status_list,
    credential,
    snapshot,
)

from registry.pipeline import TrustedVerification, verify_with_snapshot
from registry.trust_snapshot import TrustSnapshot
from registry.window_memo import WindowMemo

# -- the memo itself ---------------------------------------------------------------------


def test_a_value_holds_strictly_between_the_nearest_instants() -> None:
    memo: WindowMemo[str] = WindowMemo()
    memo.put("k", T0, [T0 - timedelta(hours=1), T0 + timedelta(hours=1), None], "v")
    assert memo.get("k", T0) == "v"
    assert memo.get("k", T0 + timedelta(minutes=59)) == "v"
    assert memo.get("k", T0 - timedelta(minutes=59)) == "v"
    # On an instant a comparison may go either way: recomputed there and beyond.
    assert memo.get("k", T0 + timedelta(hours=1)) is None
    assert memo.get("k", T0 - timedelta(hours=1)) is None
    assert memo.get("k", T0 + timedelta(hours=2)) is None
    assert memo.get("other", T0) is None


def test_the_nearest_instant_on_each_side_bounds_the_interval() -> None:
    memo: WindowMemo[str] = WindowMemo()
    instants = [T0 + timedelta(hours=h) for h in (-5, 3, -1, 9, 1)]
    memo.put("k", T0, instants, "v")
    assert memo.get("k", T0 + timedelta(minutes=59)) == "v"
    assert memo.get("k", T0 + timedelta(minutes=61)) is None
    assert memo.get("k", T0 - timedelta(minutes=59)) == "v"
    assert memo.get("k", T0 - timedelta(minutes=61)) is None


def test_no_instants_means_the_value_holds_at_every_time() -> None:
    memo: WindowMemo[int] = WindowMemo()
    memo.put("k", T0, [None, None], 1)
    assert memo.get("k", datetime.min.replace(tzinfo=T0.tzinfo)) == 1
    assert memo.get("k", datetime.max.replace(tzinfo=T0.tzinfo)) == 1


def test_a_value_computed_on_an_instant_is_not_kept() -> None:
    memo: WindowMemo[str] = WindowMemo()
    memo.put("k", T0, [T0 - timedelta(hours=1), T0], "v")
    assert len(memo) == 0
    assert memo.get("k", T0) is None


def test_the_memo_is_bounded_and_starts_over_when_full() -> None:
    memo: WindowMemo[int] = WindowMemo(max_entries=3)
    for i in range(3):
        memo.put(i, T0, [], i)
    assert len(memo) == 3
    memo.put(1, T0, [], 10)  # replacing a key does not empty it
    assert (len(memo), memo.get(1, T0)) == (3, 10)
    memo.put(99, T0, [], 99)
    assert len(memo) == 1 and memo.get(0, T0) is None and memo.get(99, T0) == 99
    with pytest.raises(ValueError):
        WindowMemo(max_entries=0)


# -- the pipeline with its memo ------------------------------------------------------------

STALE_AT = NOW + LIMITS.status_max_age  # the lists were confirmed at NOW
TERMINATED_AT = NOW + timedelta(minutes=7)
LIST_ENDS = T0 + timedelta(days=2)
INSTANTS = [T0, STALE_AT, TERMINATED_AT, LIST_ENDS, NOW]
EPSILON = [timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1)]


def _terminated() -> TrustSnapshot:
    base = snapshot()
    ended = dataclasses.replace(base.agreements[0], termination_effective=TERMINATED_AT)
    return snapshot(agreements=(ended,))


def _revoked() -> TrustSnapshot:
    lists = dict(snapshot().status_lists)
    lists[REVOCATION] = _status_list(REVOCATION, "revocation", set_index=7)
    return snapshot(status_lists=lists)


def _unconfirmed() -> TrustSnapshot:
    lists = dict(snapshot().status_lists)
    lists[SUSPENSION] = dataclasses.replace(lists[SUSPENSION], checked_at=None)
    return snapshot(status_lists=lists)


def _missing_list() -> TrustSnapshot:
    lists = dict(snapshot().status_lists)
    del lists[SUSPENSION]
    return snapshot(status_lists=lists)


SNAPSHOTS = {
    "baseline": snapshot,
    "terminated": _terminated,
    "revoked": _revoked,
    "unconfirmed": _unconfirmed,
    "missing-list": _missing_list,
}
DOCUMENT = credential()


def _answer(outcome: TrustedVerification) -> tuple[object, ...]:
    return (
        outcome.to_dict(),
        sorted(outcome.benefits),
        outcome.agreement,
        sorted(outcome.refetch),
    )


def _ask(snap: TrustSnapshot, now: datetime, at: datetime | None) -> tuple[object, ...]:
    return _answer(verify_with_snapshot(DOCUMENT, snap, now=now, at=at))


_times = st.builds(
    lambda base, eps, extra: base + eps + extra,
    st.sampled_from(INSTANTS),
    st.sampled_from(EPSILON),
    st.sampled_from([timedelta(0), timedelta(0), timedelta(seconds=30), -timedelta(minutes=3)]),
)


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
@settings(max_examples=40, deadline=None)
@given(questions=st.lists(st.tuples(_times, st.booleans()), min_size=2, max_size=12))
def test_kept_answers_equal_fresh_ones_at_and_around_every_instant(
    name: str, questions: list[tuple[datetime, bool]]
) -> None:
    kept = SNAPSHOTS[name]()
    for now, historical in questions:
        at = now - timedelta(minutes=20) if historical else None
        assert _ask(kept, now, at) == _ask(SNAPSHOTS[name](), now, at)


def test_the_answers_do_change_across_the_instants() -> None:
    # The comparison above would be empty if nothing changed: these instants matter.
    kept = _terminated()
    before = _ask(kept, TERMINATED_AT - timedelta(microseconds=1), None)
    after = _ask(kept, TERMINATED_AT, None)
    assert before[1] == ["reduced-examination"] and after[1] == []
    fresh = snapshot()
    assert _ask(fresh, STALE_AT, None)[3] == []
    assert _ask(fresh, STALE_AT + timedelta(microseconds=1), None)[3] == [REVOCATION, SUSPENSION]
    assert _ask(fresh, STALE_AT, None)[3] == []


def test_a_new_snapshot_starts_with_an_empty_memo() -> None:
    first = snapshot()
    _ask(first, NOW, None)
    assert len(first.status_memo) == 1 and len(first.recognition_memo) == 1
    again = dataclasses.replace(first, generation=first.generation + 1)
    assert len(again.status_memo) == 0 and len(again.recognition_memo) == 0
    historical = first.with_status_lists(first.status_lists)
    assert len(historical.status_memo) == 0
