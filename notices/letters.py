"""The notice of a refusal: a one-page letter (HTML and PDF) with the decision, its principal reasons, what would
change it, and the client's right to a human review and to contest the decision (GDPR Art. 22).

Everything comes from the published serving database (scores.latest, scores.reasons, scores.credit_alternatives),
so the letter states exactly what the relationship manager sees. The PDF is drawn with fpdf2 (pure Python, its
built-in Helvetica: Latin-1 text).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
from fpdf import FPDF

from scoring.points import PointsScale
from scoring.serving import connect_serving
from warehouse.features import FEATURES_TABLE, ID_COLUMN
from warehouse.settings import Settings
from warehouse.vocabulary import format_figure, review_reasons

RESPONSE_DAYS = 30
"""Days the client has to ask for a review, printed on the notice."""


@dataclass(frozen=True)
class Notice:
    """What a refusal notice says."""

    client_id: int
    decided_at: datetime
    requested: float | None
    points: float
    band: str
    accepted_from: float
    """The lowest score in points the model accepts (the refusal threshold on the points scale)."""
    reasons: tuple[str, ...]
    changer: str | None
    lender: str
    contact: str
    by_person: bool = False
    """The model accepted and a member of staff refused, on review (the reasons are the reviewer's)."""

    @property
    def file_stem(self) -> str:
        """notice_<client id>."""
        return f"notice_{self.client_id}"

    def paragraphs(self) -> list[tuple[str, str | list[str]]]:
        """The letter as (kind, text) blocks: 'title', 'text', 'heading', 'list' (shared by the HTML and the PDF)."""
        amount = f" of {format_figure(self.requested, 'money')}" if self.requested else ""
        blocks: list[tuple[str, str | list[str]]] = [
            ("small", f"{self.lender} · {self.decided_at:%d %B %Y} · Application reference {self.client_id}"),
            ("title", "Decision on your credit application"),
            ("text", "Dear applicant,"),
            (
                "text",
                f"We have examined your application for a credit{amount} and we are sorry to tell you that we cannot "
                "grant it.",
            ),
            (
                "text",
                "A member of our credit team reviewed your application and took this decision. Your credit score "
                f"from our automated model is {self.points:.0f} points ({self.band}).",
            )
            if self.by_person
            else (
                "text",
                "The decision was taken with the help of an automated credit-scoring model. Your credit score is "
                f"{self.points:.0f} points ({self.band}); we grant credit from {self.accepted_from:.0f} points.",
            ),
            ("heading", "The principal reasons for our decision"),
            ("list", list(self.reasons) or ["The overall assessment of your application by our scoring model."]),
        ]
        if self.changer:
            blocks += [("heading", "What would change the decision"), ("text", self.changer)]
        blocks += [
            ("heading", "Your rights"),
            (
                "text",
                "You have the right to obtain a review of this decision by a member of our staff, who will look at "
                "your application in full; to express your point of view; and to contest the decision (Article 22 "
                "of the General Data Protection Regulation). You may also ask which of your data we used and have "
                "them corrected.",
            ),
            (
                "text",
                f"To do so, contact {self.contact}, within {RESPONSE_DAYS} days, quoting the application reference "
                f"{self.client_id}. A review is free of charge and does not harm any future application.",
            ),
            ("text", "Yours sincerely,"),
            ("text", f"The credit team, {self.lender}"),
        ]
        return blocks


FINAL_DECISION = "coalesce(l.final_decision, l.decision)"
"""A notice follows the decision after any human review: none for a refusal a manager overturned."""


def load_notice(con: duckdb.DuckDBPyConnection, settings: Settings, client_id: int) -> Notice | None:
    """The notice of a client's latest decision if it is a refusal (None otherwise), from the serving database."""
    row = con.execute(
        f"""SELECT l.scored_at, l.points, l.score_band, l.threshold, l.decision_changer,
                   (SELECT f.AMT_CREDIT FROM {FEATURES_TABLE} AS f WHERE f.{ID_COLUMN} = l.SK_ID_CURR),
                   l.overridden, l.review_reason
            FROM scores.latest AS l WHERE l.SK_ID_CURR = $id AND {FINAL_DECISION} = 'refuse'""",
        {"id": client_id},
    ).fetchone()
    if row is None:
        return None
    scored_at, points, band, threshold, changer, requested, overridden, review_reason = row
    if overridden:  # the model accepted and a person refused: the reason is the reviewer's, not the model's
        reasons = [review_reasons()[review_reason].label] if review_reason in review_reasons() else []
        changer = None
    else:
        reasons = [
            sentence
            for (sentence,) in con.execute(
                "SELECT r.sentence FROM scores.reasons AS r JOIN scores.latest AS l USING (run_id, SK_ID_CURR) "
                "WHERE r.SK_ID_CURR = $id ORDER BY r.rank",
                {"id": client_id},
            ).fetchall()
        ]
    return Notice(
        client_id=client_id,
        decided_at=scored_at,
        requested=requested,
        points=points,
        band=band,
        accepted_from=float(PointsScale.from_settings(settings).of_probability(threshold)),
        reasons=tuple(reasons),
        changer=changer,
        lender=settings.lender_name,
        contact=settings.review_contact,
        by_person=bool(overridden),
    )


STYLE = """body{font-family:Helvetica,Arial,sans-serif;max-width:42em;margin:3em auto;color:#222;line-height:1.5}
h1{font-size:1.5em;margin:.8em 0}h2{font-size:1.1em;margin:1.2em 0 .3em}.small{color:#666;font-size:.9em}"""


def to_html(notice: Notice) -> str:
    """The notice as a self-contained HTML page."""
    parts = []
    for kind, text in notice.paragraphs():
        if kind == "list":
            parts.append("<ol>" + "".join(f"<li>{html.escape(item)}</li>" for item in text) + "</ol>")
        else:
            tag = {"title": "h1", "heading": "h2", "small": "p class='small'"}.get(kind, "p")
            parts.append(f"<{tag}>{html.escape(str(text))}</{tag.split()[0]}>")
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Decision on application "
        f"{notice.client_id}</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )


def to_pdf(notice: Notice) -> bytes:
    """The notice as a one-page A4 PDF."""
    pdf = FPDF(format="A4")
    pdf.set_margins(22, 20, 22)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    for kind, text in notice.paragraphs():
        if kind == "list":
            pdf.set_font("helvetica", size=10.5)
            for number, item in enumerate(text, start=1):
                pdf.multi_cell(0, 5.6, _latin(f"{number}. {item}"), align="L", new_x="LMARGIN", padding=(0, 0, 0, 4))
                pdf.ln(1)
            continue
        size, style, gap = {"title": (16, "B", 4), "heading": (11.5, "B", 1.5), "small": (9, "", 2)}.get(
            kind, (10.5, "", 2.5)
        )
        if kind == "heading":
            pdf.ln(2)
        pdf.set_font("helvetica", style=style, size=size)
        pdf.set_text_color(100 if kind == "small" else 30)
        pdf.multi_cell(0, size * 0.53, _latin(str(text)), align="L", new_x="LMARGIN")
        pdf.ln(gap)
    pdf.set_text_color(30)
    return bytes(pdf.output())


def _latin(text: str) -> str:
    """Text the PDF's built-in font can draw (Latin-1), with typographic characters replaced."""
    for fancy, plain in {"—": "-", "–": "-", "’": "'", "“": '"', "”": '"', "…": "..."}.items():
        text = text.replace(fancy, plain)
    return text.encode("latin-1", "replace").decode("latin-1")


def night_refusals(con: duckdb.DuckDBPyConnection, night: date | None) -> list[int]:
    """Clients whose latest decision is a refusal scored on `night` (UTC date; None: by the latest run)."""
    where = (
        "CAST(l.scored_at AS DATE) = $night"
        if night
        else "l.run_id = (SELECT max(run_id) FROM scores.runs WHERE status = 'succeeded')"
    )
    params = {"night": night} if night else {}
    return [
        client
        for (client,) in con.execute(
            f"SELECT l.SK_ID_CURR FROM scores.latest AS l WHERE {FINAL_DECISION} = 'refuse' AND {where} ORDER BY 1",
            params,
        ).fetchall()
    ]


def write_notices(settings: Settings, night: date | None = None) -> tuple[Path, list[Path]]:
    """Write the HTML and PDF notice of every refusal of a night into notices_dir/<night>/; (folder, files)."""
    with connect_serving(settings) as con:
        clients = night_refusals(con, night)
        notices = [n for n in (load_notice(con, settings, c) for c in clients) if n is not None]
    label = night.isoformat() if night else (notices[0].decided_at.date().isoformat() if notices else "latest")
    folder = settings.notices_dir / label
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for notice in notices:
        page = folder / f"{notice.file_stem}.html"
        page.write_text(to_html(notice), encoding="utf-8")
        document = folder / f"{notice.file_stem}.pdf"
        document.write_bytes(to_pdf(notice))
        written += [page, document]
    return folder, written
