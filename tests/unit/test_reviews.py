"""The reviews file: checked, appended one transaction at a time, owner-only, never changed."""

from __future__ import annotations

import sqlite3
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from scoring.reviews import ReviewError, record_review, stored_reviews
from warehouse.settings import Settings


def review(settings: Settings, client: int = 100001, **changes: object):
    """Record a valid override of a refusal (some fields changed)."""
    fields = {
        "client": client,
        "run_id": 3,
        "model_decision": "refuse",
        "action": "override",
        "reason_code": "OVERRIDE_GUARANTEE",
        "comment": "Her father guarantees the loan.",
        "reviewer": "alice",
        **changes,
    }
    return record_review(settings, **fields)  # type: ignore[arg-type]


def test_a_review_is_stored_with_who_when_and_the_final_decision(settings: Settings) -> None:
    saved = review(settings)
    assert (saved.final_decision, saved.reviewer, saved.review_id) == ("accept", "alice", 1)
    confirmed = review(settings, action="confirm", reason_code="CONFIRM_DOCUMENTS", comment="", reviewer="bob")
    assert confirmed.final_decision == "refuse"
    assert stored_reviews(settings, client=100001) == [saved, confirmed]
    assert stored_reviews(settings, after=1) == [confirmed]
    assert stat.S_IMODE(settings.reviews_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.reviews_path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reason_code": "CONFIRM_DOCUMENTS"}, "cannot justify a review that overrides"),
        ({"reason_code": "NOPE"}, "is not one of the review reasons"),
        ({"comment": "  "}, "needs one"),
        ({"action": "confirm", "reason_code": "OTHER", "comment": ""}, "needs one"),
        ({"action": "maybe"}, "confirm or override"),
        ({"model_decision": "pending"}, "model's decision"),
        ({"reviewer": " "}, "name of its reviewer"),
        ({"comment": "x" * 2001}, "at most 2,000"),
    ],
)
def test_a_wrong_review_says_why_and_writes_nothing(settings: Settings, changes: dict, message: str) -> None:
    with pytest.raises(ReviewError, match=message):
        review(settings, **changes)
    assert stored_reviews(settings) == []


def test_reviews_are_never_changed_or_deleted(settings: Settings) -> None:
    review(settings)
    with sqlite3.connect(settings.reviews_path) as con:
        for statement in ("UPDATE reviews SET final_decision = 'refuse'", "DELETE FROM reviews"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                con.execute(statement)
    assert len(stored_reviews(settings)) == 1


def test_concurrent_reviews_are_all_kept(settings: Settings) -> None:
    with ThreadPoolExecutor(8) as pool:
        saved = list(pool.map(lambda i: review(settings, client=100000 + i).review_id, range(80)))
    assert sorted(saved) == list(range(1, 81))
    assert sorted(r.SK_ID_CURR for r in stored_reviews(settings)) == list(range(100000, 100080))
