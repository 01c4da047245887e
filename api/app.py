"""The read API for other systems (a CRM, a branch system): a client's current decision, score history, model card.

Read-only, over the published serving database: each request opens a short-lived read-only connection to the
file as it is at that moment (scoring.serving.read_publication), reads everything it answers through it, and
closes it. A publication swaps the file atomically, so an answer comes whole from one publication (named in every
answer), never from a half-published run, and the API never holds the file or blocks a publication. Every request
but /health needs an API key in the X-API-Key header (`credit-scoring api-key add NAME` makes one).
"""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Response, Security
from fastapi.security import APIKeyHeader

from api import models
from api.keys import KeyRing
from notices.letters import Notice, load_notice, to_pdf
from scoring import score_tables as st
from scoring.serving import ServingUnreadable, read_publication
from warehouse.features import ID_COLUMN
from warehouse.settings import Settings

KEY_HEADER = "X-API-Key"
log = logging.getLogger(__name__)
ClientId = Annotated[int, Path(description=models.doc(st.LATEST, "SK_ID_CURR"), ge=0)]
NOT_ANSWERED = {
    401: {"model": models.Problem, "description": "No API key, or not a valid one."},
    404: {"model": models.Problem, "description": "Nothing published for this client or model version."},
    503: {"model": models.Problem, "description": "No publication can be read yet."},
}


def create_app(settings: Settings) -> FastAPI:
    """The API application over the settings' serving database and keys file."""
    app = FastAPI(
        title="Credit decisions read API",
        version="1",
        description=__doc__,
        responses={503: NOT_ANSWERED[503]},
    )
    ring = KeyRing(settings.api_keys_file)
    scheme = APIKeyHeader(name=KEY_HEADER, auto_error=False, description="A key made by `credit-scoring api-key add`.")

    def caller(key: Annotated[str | None, Security(scheme)]) -> str:
        """The name of the caller's key; 401 without a valid one."""
        owner = ring.owner(key)
        if owner is None:
            raise HTTPException(401, f"a valid API key is needed in the {KEY_HEADER} header")
        return owner

    @contextmanager
    def publication() -> Iterator[tuple[duckdb.DuckDBPyConnection, models.Publication]]:
        """A read-only connection to the current publication and which one it is; 503 when there is none."""
        if not settings.serving_path.is_file():
            raise HTTPException(503, "no serving database has been published yet")
        try:
            with read_publication(settings.serving_path) as con:
                yield con, _publication(con)
        except ServingUnreadable as error:
            raise HTTPException(503, str(error)) from None

    @app.get("/health", response_model=models.Health, tags=["service"])
    def health() -> models.Health:
        """Whether a publication is readable, and which (no key needed; no client data)."""
        with publication() as (_, published):
            return models.Health(status="ok", publication=published)

    router = APIRouter(dependencies=[Depends(caller)], responses={k: NOT_ANSWERED[k] for k in (401, 404)})

    @router.get("/clients/{client_id}/decision", response_model=models.CurrentDecision, tags=["clients"])
    def current_decision(client_id: ClientId) -> models.CurrentDecision:
        """A client's current decision: probability, points and band, the model's and the final decision (after
        a human review), the principal reasons, what would change a refusal, and the refusal notice."""
        with publication() as (con, published):
            row = _one(con, f"SELECT * FROM {st.LATEST.qualified} WHERE {ID_COLUMN} = ?", [client_id])
            if row is None:
                raise HTTPException(404, f"client {client_id} has no published decision")
            row.setdefault("final_decision", row["decision"])  # published before reviews existed: nobody reviewed
            row.setdefault("overridden", False)
            reasons = _rows(
                con,
                f"SELECT r.*, c.title FROM {st.REASONS.qualified} AS r "
                f"LEFT JOIN {st.REASON_CODES.qualified} AS c USING (code) "
                f"WHERE r.run_id = ? AND r.{ID_COLUMN} = ? ORDER BY r.rank",
                [row["run_id"], client_id],
            )
            notice = load_notice(con, settings, client_id)
        return models.CurrentDecision(
            **row,
            client_id=client_id,
            reasons=[models.Reason(**reason) for reason in reasons],
            notice=_notice(notice, client_id),
            publication=published,
        )

    @router.get(
        "/clients/{client_id}/notice.pdf",
        tags=["clients"],
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}, "description": "The refusal notice as a PDF."}},
    )
    def notice_pdf(client_id: ClientId) -> Response:
        """The refusal notice of a client's current decision, as a PDF (404 when it is not a refusal)."""
        with publication() as (con, _):
            notice = load_notice(con, settings, client_id)
        if notice is None:
            raise HTTPException(404, f"client {client_id} has no published refusal")
        return Response(to_pdf(notice), media_type="application/pdf")

    @router.get("/clients/{client_id}/history", response_model=models.ScoreHistory, tags=["clients"])
    def score_history(client_id: ClientId) -> models.ScoreHistory:
        """Every score the client was given by a successful scoring run, newest first."""
        with publication() as (con, published):
            scores = _rows(
                con,
                f"SELECT p.run_id, p.model_version, p.scored_at, p.probability, p.threshold, p.decision, p.points, "
                f"CAST(p.FEATURE_HASH AS VARCHAR) AS feature_hash FROM {st.PREDICTIONS.qualified} AS p "
                f"JOIN {st.RUNS.qualified} AS r USING (run_id) "
                f"WHERE p.{ID_COLUMN} = ? AND r.status = 'succeeded' ORDER BY p.scored_at DESC, p.run_id DESC",
                [client_id],
            )
        if not scores:
            raise HTTPException(404, f"client {client_id} has no published score")
        return models.ScoreHistory(
            client_id=client_id, scores=[models.PastScore(**s) for s in scores], publication=published
        )

    @router.get("/model-card", response_model=models.ModelCard, tags=["model"])
    def current_model_card() -> models.ModelCard:
        """The card of the model version that made the latest successful scoring run."""
        with publication() as (con, published):
            return _card(con, published, None)

    @router.get("/model-card/{model_version}", response_model=models.ModelCard, tags=["model"])
    def model_card(
        model_version: Annotated[int, Path(description=models.doc(st.MODEL_CARD, "model_version"))],
    ) -> models.ModelCard:
        """The card of one model version that scored clients."""
        with publication() as (con, published):
            return _card(con, published, model_version)

    app.include_router(router)
    return app


def _publication(con: duckdb.DuckDBPyConnection) -> models.Publication:
    """Which publication a connection reads."""
    row = _one(con, f"SELECT published_at, last_run_id FROM {st.PUBLICATION.qualified}")
    if row is None:
        raise ServingUnreadable("the serving database holds no publication record")
    return models.Publication(**row)


def _card(con: duckdb.DuckDBPyConnection, published: models.Publication, version: int | None) -> models.ModelCard:
    """A model version's card (None: the version of the latest successful run); 404 when none."""
    in_use = _one(
        con,
        f"SELECT model_name, model_version FROM {st.RUNS.qualified} WHERE status = 'succeeded' "
        "ORDER BY run_id DESC LIMIT 1",
    )
    if in_use is None:
        raise HTTPException(404, "no scoring run has succeeded yet")
    wanted = in_use["model_version"] if version is None else version
    row = _one(
        con,
        f"SELECT * EXCLUDE (report_path) FROM {st.MODEL_CARD.qualified} WHERE model_name = ? AND model_version = ?",
        [in_use["model_name"], wanted],
    )
    if row is None:
        raise HTTPException(404, f"model version {wanted} never scored a published client")
    row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else {}
    return models.ModelCard(**row, in_use=wanted == in_use["model_version"], publication=published)


def _notice(notice: Notice | None, client_id: int) -> models.Notice | None:
    """The notice as the API gives it: its text and where its PDF is."""
    if notice is None:
        return None
    blocks = [
        text if isinstance(text, str) else "\n".join(f"- {line}" for line in text) for _, text in notice.paragraphs()
    ]
    return models.Notice(text="\n\n".join(blocks), pdf=f"/clients/{client_id}/notice.pdf")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """A query's rows as dictionaries (column name -> value)."""
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> dict[str, Any] | None:
    """The first row of a query as a dictionary, or None."""
    rows = _rows(con, sql, params)
    return rows[0] if rows else None
