"""The generator's outcomes: earlier nights' clients, after a delay, each batch once, seeded, a segment worsening."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from generator.dataset import generate_batch
from generator.outcomes import Deterioration, batch_folders, outcome_rows
from warehouse.delivery import read_manifest

NIGHTS = [date(2026, 1, 1), date(2026, 1, 11), date(2026, 1, 21), date(2026, 2, 10)]


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four nights' batches of 400 applications, each delivering the outcomes of batches 10 days older."""
    root = tmp_path_factory.mktemp("inbox")
    for night in NIGHTS:
        rows = outcome_rows(night, batch_folders([root]), 10, seed=3)
        generate_batch(root / night.isoformat(), night, 400, seed=3, drift=False, outcomes=rows)
    return root


def delivered(inbox: Path, night: date) -> pd.DataFrame:
    """The outcomes.csv of one night's batch."""
    return pd.read_csv(inbox / night.isoformat() / "outcomes.csv")


def truth(inbox: Path, night: date) -> pd.DataFrame:
    """The truth file of one night's batch."""
    return pd.read_csv(inbox / night.isoformat() / "truth" / "true_default_probability.csv")


def test_each_batch_gets_its_outcomes_once_after_the_delay_with_the_drawn_target(inbox: Path) -> None:
    assert delivered(inbox, NIGHTS[0]).empty
    second, third, fourth = (delivered(inbox, n) for n in NIGHTS[1:])
    assert set(second["OBSERVATION_DATE"]) == {"2026-01-11"} and len(second) == 400
    assert set(third["OBSERVATION_DATE"]) == {"2026-01-21"}
    assert set(fourth["OBSERVATION_DATE"]) == {"2026-01-31"}  # the 2026-01-21 batch, observed 10 days on
    for rows, source in ((second, NIGHTS[0]), (fourth, NIGHTS[2])):
        expected = truth(inbox, source).sort_values("SK_ID_CURR", ignore_index=True)
        assert rows["SK_ID_CURR"].tolist() == expected["SK_ID_CURR"].tolist()
        assert rows["DEFAULTED"].tolist() == expected["TARGET"].tolist()
    assert "outcomes.csv" in (read_manifest(inbox / NIGHTS[1].isoformat()) or {})


def test_a_deteriorating_segment_defaults_more_only_there_and_is_seeded(inbox: Path) -> None:
    segment = Deterioration.parse("NAME_INCOME_TYPE=Working", odds_factor=6.0)
    folders = batch_folders([inbox])
    worse = outcome_rows(NIGHTS[1], folders, 10, seed=3, deteriorate=segment)
    assert worse.equals(outcome_rows(NIGHTS[1], folders, 10, seed=3, deteriorate=segment))
    apps = pd.read_csv(
        inbox / NIGHTS[0].isoformat() / "application_test.csv", usecols=["SK_ID_CURR", "NAME_INCOME_TYPE"]
    )
    plain = delivered(inbox, NIGHTS[1]).merge(apps).merge(worse, on="SK_ID_CURR", suffixes=("", "_worse"))
    working = plain["NAME_INCOME_TYPE"] == "Working"
    assert (plain.loc[~working, "DEFAULTED"] == plain.loc[~working, "DEFAULTED_worse"]).all()
    assert (plain["DEFAULTED_worse"] >= plain["DEFAULTED"]).all()
    assert plain.loc[working, "DEFAULTED_worse"].mean() > 2 * plain.loc[working, "DEFAULTED"].mean()


@pytest.mark.parametrize("text", ["NAME_INCOME_TYPE", "NAME_INCOME_TYPE=Astronaut", "AMT_CREDIT=5", "FOO=1"])
def test_a_segment_must_be_a_category_value(text: str) -> None:
    with pytest.raises(ValueError, match="COLUMN=VALUE"):
        Deterioration.parse(text)
