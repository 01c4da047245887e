"""What the read API answers, field by field: each description is the column documentation of the published table
it comes from (scoring/score_tables.py), so the OpenAPI docs and the serving database say the same thing."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from scoring import score_tables as st
from warehouse.tables import TableDoc

Decision = Literal["accept", "refuse"]


def doc(table: TableDoc, column: str) -> str:
    """The documentation of a column of a published table."""
    return next(comment for name, _, comment in table.columns if name == column)


def described(table: TableDoc, column: str, **extra: Any) -> Any:
    """A pydantic Field described by a published column's documentation."""
    return Field(description=doc(table, column), **extra)


class Publication(BaseModel):
    """Which publication of the serving database answered: every figure of one answer comes from it."""

    published_at: datetime = described(st.PUBLICATION, "published_at")
    last_run_id: int | None = described(st.PUBLICATION, "last_run_id")


class Reason(BaseModel):
    """One principal reason of a decision (scores.reasons)."""

    rank: int = described(st.REASONS, "rank")
    code: str = described(st.REASONS, "code")
    title: str | None = described(st.REASON_CODES, "title")
    direction: Literal["raises", "lowers"] = described(st.REASONS, "direction")
    points: float = described(st.REASONS, "points")
    sentence: str = described(st.REASONS, "sentence")
    manager_sentence: str = described(st.REASONS, "manager_sentence")


class Notice(BaseModel):
    """The refusal notice of the decision, as the client receives it."""

    text: str = Field(description="The letter in plain text, paragraphs separated by blank lines.")
    pdf: str = Field(description="Path of this API that returns the same letter as a PDF.")


class CurrentDecision(BaseModel):
    """A client's current decision (scores.latest), its principal reasons and, for a refusal, the notice."""

    client_id: int = described(st.LATEST, "SK_ID_CURR")
    run_id: int = described(st.LATEST, "run_id")
    model_version: int = described(st.LATEST, "model_version")
    scored_at: datetime = described(st.LATEST, "scored_at")
    probability: float = described(st.LATEST, "probability")
    threshold: float = described(st.LATEST, "threshold")
    decision: Decision = Field(description="The model's decision: " + doc(st.PREDICTIONS, "decision"))
    final_decision: Decision = described(st.LATEST, "final_decision")
    overridden: bool = described(st.LATEST, "overridden")
    reviewed_by: str | None = described(st.LATEST, "reviewed_by")
    reviewed_at: datetime | None = described(st.LATEST, "reviewed_at")
    review_reason: str | None = described(st.LATEST, "review_reason")
    points: float = described(st.LATEST, "points")
    score_band: str = described(st.LATEST, "score_band")
    reasons: list[Reason] = Field(description=st.REASONS.comment)
    largest_accepted_credit: float | None = described(st.LATEST, "largest_accepted_credit")
    decision_changer: str | None = described(st.LATEST, "decision_changer")
    notice: Notice | None = Field(description="The refusal notice (null for an acceptance).")
    publication: Publication


class PastScore(BaseModel):
    """One score a client was given (scores.predictions of a successful run)."""

    run_id: int = described(st.PREDICTIONS, "run_id")
    model_version: int = described(st.PREDICTIONS, "model_version")
    scored_at: datetime = described(st.PREDICTIONS, "scored_at")
    probability: float = described(st.PREDICTIONS, "probability")
    threshold: float = described(st.PREDICTIONS, "threshold")
    decision: Decision = described(st.PREDICTIONS, "decision")
    points: float | None = described(st.PREDICTIONS, "points")
    feature_hash: str = described(st.PREDICTIONS, "FEATURE_HASH")


class ScoreHistory(BaseModel):
    """Every score of a client, newest first."""

    client_id: int = described(st.PREDICTIONS, "SK_ID_CURR")
    scores: list[PastScore] = Field(description=st.PREDICTIONS.comment)
    publication: Publication


class ModelCard(BaseModel):
    """How a model version that scored clients was made (scores.model_card)."""

    model_name: str = described(st.MODEL_CARD, "model_name")
    model_version: int = described(st.MODEL_CARD, "model_version")
    run_id: str = described(st.MODEL_CARD, "run_id")
    trained_at: datetime | None = described(st.MODEL_CARD, "trained_at")
    train_rows: int | None = described(st.MODEL_CARD, "train_rows")
    features: int = described(st.MODEL_CARD, "features")
    candidate: str | None = described(st.MODEL_CARD, "candidate")
    imbalance: str | None = described(st.MODEL_CARD, "imbalance")
    metrics: dict[str, Any] = described(st.MODEL_CARD, "metrics")
    threshold: float = described(st.MODEL_CARD, "threshold")
    cost_false_negative: float | None = described(st.MODEL_CARD, "cost_false_negative")
    cost_false_positive: float | None = described(st.MODEL_CARD, "cost_false_positive")
    data_hash: str | None = described(st.MODEL_CARD, "data_hash")
    in_use: bool = Field(description="Whether the latest successful scoring run used this version.")
    publication: Publication


class Health(BaseModel):
    """Whether the API can read a publication, and which."""

    status: Literal["ok"] = Field(description="'ok': a complete publication is readable.")
    publication: Publication


class Problem(BaseModel):
    """Why a request was not answered."""

    detail: str = Field(description="What went wrong, in plain words.")
