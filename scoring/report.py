"""The methodology report of a training run: one self-contained HTML page a lender can hand a reviewer."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scoring.fairness import ATTRIBUTES, FOUR_FIFTHS, MIN_GROUP_CLIENTS
from scoring.models import (
    BASE_LGB_PARAMS,
    EARLY_STOPPING_ROUNDS,
    IMBALANCE_STRATEGIES,
    INNER_VALIDATION_SHARE,
    MAX_ROUNDS,
    SEARCH_SPACE,
)
from scoring.registry import report_path
from warehouse.settings import Settings
from warehouse.vocabulary import feature_code, feature_sources

if TYPE_CHECKING:
    from scoring.train import Evaluation, TrainingSummary

STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}tr.chosen{background:#e8f5e9}
img{max-width:48%;margin:4px;border:1px solid #eee}code{background:#f5f5f5;padding:1px 3px}"""

METRIC_COLUMNS = (
    "auc",
    "gini",
    "ks",
    "pr_auc",
    "brier",
    "cost_per_client",
    "cost_per_client_at_0_5",
    "threshold",
    "approval_rate",
    "bad_rate_accepted",
)


def write_report(settings: Settings, summary: TrainingSummary) -> Path:
    """Write the report under reports_dir and return its path."""
    path = report_path(settings, summary.run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(settings, summary), encoding="utf-8")
    return path


def render(settings: Settings, summary: TrainingSummary) -> str:
    """The report's HTML."""
    sections = [
        _header(settings, summary),
        _data_section(summary),
        _validation_section(settings),
        _imbalance_section(summary),
        _cost_section(settings, summary),
        _metrics_section(summary),
        _plots_section(summary),
        _importance_section(summary),
        _fairness_section(settings, summary),
        _limits_section(),
    ]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Training report {summary.run_id}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )


def _header(settings: Settings, summary: TrainingSummary) -> str:
    """Title, model version and the champion decision."""
    decision = summary.decision
    verdict = "became the champion" if decision.promoted else "was registered but did not become the champion"
    return (
        f"<h1>Credit default model — training report</h1>"
        f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. MLflow run <code>{summary.run_id}</code>; "
        f"model <code>{html.escape(settings.model_name)}</code> version <b>{summary.version}</b> "
        f"({html.escape(summary.chosen.name)}) {verdict}: {html.escape(decision.reason)}.</p>"
    )


def _data_section(summary: TrainingSummary) -> str:
    """Training rows, default rate, data hash and feature sources."""
    facts = summary.data
    sources = feature_sources(list(summary.importance))
    return (
        "<h2>Data</h2>"
        + _table(
            ["", ""],
            [
                ["Training clients (DATASET = 'train')", f"{facts['rows']:,}"],
                ["Default rate (TARGET = 1)", f"{facts['default_rate']:.2%}"],
                [
                    "Data hash (SHA-256 of feature names, SK_ID_CURR, TARGET, FEATURE_HASH)",
                    f"<code>{facts['data_hash']}</code>",
                ],
                ["Features", f"{facts['features']} numeric columns of features.client_features"],
            ],
        )
        + "<h3>Features by source file</h3>"
        + _table(["source", "features"], [[k, v] for k, v in sources.items()])
    )


def _validation_section(settings: Settings) -> str:
    """How candidates were compared and how the final model was fitted."""
    space = ", ".join(SEARCH_SPACE)
    shown_params = {k: v for k, v in BASE_LGB_PARAMS.items() if k != "verbose"}
    items = [
        f"Stratified {settings.cv_folds}-fold cross-validation (shuffled, seed {settings.seed}); "
        "every candidate is fitted on the <b>same folds</b> and judged on its out-of-fold (OOF) predictions.",
        f"LightGBM stops early (patience {EARLY_STOPPING_ROUNDS} rounds, at most {MAX_ROUNDS}, metric AUC) "
        f"on an inner stratified {INNER_VALIDATION_SHARE:.0%} split of each training fold; "
        "the fold's test part is never seen during fitting.",
        "Candidates: a prior-probability dummy; an L2-regularised logistic regression (mean imputation "
        "with missing-value indicators, standardisation); LightGBM under each imbalance strategy "
        f"({', '.join(IMBALANCE_STRATEGIES)}) with base parameters "
        f"<code>{html.escape(str(shown_params))}</code>; "
        f"a seeded random search over {space} using the best imbalance strategy. With more than "
        f"{settings.search_max_rows:,} training clients, every LightGBM candidate (each imbalance strategy, "
        "then the search) is screened on a seeded stratified sample of that size (the same folds, cut down "
        "to the sample) and the best of them is cross-validated again on all clients (suffix "
        "<i>_all_rows</i>); only candidates cross-validated on all clients can be chosen.",
        "The challenger is the LightGBM candidate with the lowest OOF cost (ties: higher AUC). "
        "It is refitted on all training clients for the mean best iteration of its folds.",
        "The champion alias moves only if the challenger is cheaper than the current champion on the same "
        "folds (its stored OOF metrics when data, folds, seed and costs are identical; otherwise its recipe "
        "is cross-validated again on this run's folds), or when promotion is forced.",
    ]
    return "<h2>Validation scheme</h2>" + _list(items)


def _imbalance_section(summary: TrainingSummary) -> str:
    """LightGBM with each imbalance strategy, default parameters, same folds."""
    rows = [
        ev
        for ev in summary.evaluations
        if ev.result.candidate.is_lightgbm and not ev.name.startswith("lightgbm_search")
    ]
    return (
        "<h2>Class imbalance handling</h2><p>Same LightGBM parameters and folds; <i>class_weight</i> "
        "multiplies defaulters' weight by n_good/n_bad, <i>undersample</i> keeps every defaulter and as many "
        "randomly drawn good clients in each training fold. Both lift the defaulters' odds by n_good/n_bad; "
        "their log-odds are lowered by log(n_good/n_bad) (prior correction) so that every candidate's "
        "probabilities, thresholds and Brier scores are on the scale of the real default rate.</p>"
        + _metrics_table(rows, summary.chosen, ("auc", "pr_auc", "brier", "cost_per_client", "threshold"))
    )


def _cost_section(settings: Settings, summary: TrainingSummary) -> str:
    """The cost function, the chosen threshold and the confusion matrix at it."""
    m = summary.chosen.metrics
    return (
        "<h2>Business cost and decision threshold</h2>"
        "<p>A missed defaulter (false negative: accepted, then defaults) costs "
        f"{settings.cost_false_negative:g}; a wrongly refused good client (false positive) costs "
        f"{settings.cost_false_positive:g}. A client is refused when the predicted probability is at least "
        "the threshold. The threshold is the exact "
        "minimiser of total cost over every distinct OOF probability of the chosen candidate.</p>"
        + _table(
            ["", ""],
            [
                ["Threshold", f"{m['threshold']:.4f}"],
                ["Cost per client at the threshold", f"{m['cost_per_client']:.4f}"],
                ["Cost per client at 0.5", f"{m['cost_per_client_at_0_5']:.4f}"],
                ["Approval rate", f"{m['approval_rate']:.2%}"],
                ["Bad rate among accepted", f"{m['bad_rate_accepted']:.2%}"],
            ],
        )
        + "<h3>Confusion matrix at the threshold (OOF)</h3>"
        + _table(
            ["", "accepted", "refused"],
            [
                ["repaid (TARGET=0)", f"{m['tn']:,} (TN)", f"{m['fp']:,} (FP)"],
                ["defaulted (TARGET=1)", f"{m['fn']:,} (FN)", f"{m['tp']:,} (TP)"],
            ],
        )
    )


def _metrics_section(summary: TrainingSummary) -> str:
    """Every candidate's OOF metrics."""
    return (
        "<h2>Candidates compared (out-of-fold)</h2><p>Cost per client at each candidate's "
        "own best threshold; Gini = 2·AUC − 1; KS = max |TPR − FPR|; PR-AUC = average precision.</p>"
        + _metrics_table(summary.evaluations, summary.chosen, METRIC_COLUMNS)
    )


def _plots_section(summary: TrainingSummary) -> str:
    """The figures, embedded as base64 PNG."""
    images = "".join(
        f"<img alt='{name}' src='data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}'>"
        for name, path in summary.plot_paths.items()
    )
    return f"<h2>Figures</h2><div>{images}</div>"


def _importance_section(summary: TrainingSummary) -> str:
    """The 20 features with the largest mean |SHAP| on the refitted model."""
    rows = [
        [i, html.escape(name), feature_code(name), f"{value:.4f}"]
        for i, (name, value) in enumerate(list(summary.importance.items())[:20], start=1)
    ]
    return (
        "<h2>Global feature importance (top 20)</h2><p>Mean absolute exact TreeSHAP contribution (log-odds) "
        "of the refitted model over a seeded sample of training clients, with the reason code each feature "
        "belongs to (dbt/seeds/reason_codes.csv).</p>" + _table(["rank", "feature", "reason code", "mean |SHAP|"], rows)
    )


def _fairness_section(settings: Settings, summary: TrainingSummary) -> str:
    """Out-of-fold fairness per group, and the model with and without the protected attributes."""
    kept_out = ", ".join(summary.protected) or "none"
    table = summary.fairness
    rows = [
        [
            ATTRIBUTES[r.attribute],
            html.escape(str(r.group)),
            f"{r.clients:,}",
            _pct(r.approval_rate),
            "" if r.disparate_impact != r.disparate_impact else f"{r.disparate_impact:.2f}",
            r.four_fifths_rule,
            _pct(r.observed_default_rate_accepted),
            _pct(r.mean_probability),
            "" if r.calibration != r.calibration else f"{r.calibration:.2f}",
        ]
        for r in table.itertuples()
    ]
    comparison = summary.protected_comparison
    compared: list[list[object]] = [
        [label, *(_comparison_cell(comparison.get(side, {}), key) for side in ("without", "with"))]
        for label, key in (
            ("OOF AUC", "auc"),
            ("Cost per client", "cost_per_client"),
            ("Approval-rate gap", "approval_gap"),
        )
    ]
    clients = int(comparison["without"].get("clients", summary.data["rows"]))
    sample = " (the search sample, where the recipe was screened)" if clients < summary.data["rows"] else ""
    with_note = (
        "The same recipe was cross-validated on the same folds with the protected columns added, "
        f"on {clients:,} clients{sample}."
        if "with" in comparison
        else "No protected column is configured, so there is nothing to add back."
    )
    return (
        "<h2>Fairness</h2>"
        f"<p>Protected attributes kept out of the model (<code>protected_attributes</code>): <b>{kept_out}</b>. "
        "Out-of-fold decisions at the threshold, per gender, age band and family status (from the application as "
        "received). Disparate impact = the group's approval rate over the most approved group's (groups of at "
        f"least {MIN_GROUP_CLIENTS} clients); below {FOUR_FIFTHS:.0%} fails the four-fifths rule. Calibration = "
        "observed default rate over mean predicted probability (1 = calibrated).</p>"
        + _table(
            [
                "attribute",
                "group",
                "clients",
                "approved",
                "disparate impact",
                "four-fifths rule",
                "defaulted among accepted",
                "mean predicted risk",
                "calibration",
            ],
            rows,
        )
        + f"<h3>With and without the protected attributes</h3><p>{with_note} Approval-rate gap: between women and "
        "men, each model at its own cost-minimising threshold.</p>"
        + _table(["", "without (the model)", "with"], compared)
    )


def _comparison_cell(metrics: dict[str, float], key: str) -> str:
    """One figure of the with/without comparison."""
    if key not in metrics:
        return "—"
    return _pct(metrics[key]) if key == "approval_gap" else f"{metrics[key]:.4f}"


def _pct(value: float) -> str:
    """A share as a percentage, blank when unknown."""
    return "" if value != value else f"{value:.1%}"


def _limits_section() -> str:
    """What the figures do not say."""
    items = [
        "OOF metrics come from the fold models; the registered model is refitted on all clients with the "
        "mean best iteration, so its behaviour is close to but not identical with them.",
        "The threshold is chosen and reported on the same OOF predictions, so the reported cost is slightly "
        "optimistic; the comparison between candidates is fair because each gets the same treatment.",
        "Probabilities from reweighted or undersampled models are not calibrated default rates; "
        "use the threshold, not the raw probability, for decisions.",
    ]
    return "<h2>Limits</h2>" + _list(items)


def _metrics_table(evaluations: list[Evaluation], chosen: Evaluation, columns: tuple[str, ...]) -> str:
    """A table of some metrics, one row per candidate, the chosen one highlighted."""
    head = "".join(f"<th>{c}</th>" for c in ("candidate", "imbalance", "clients", *columns, "CV seconds"))
    body = "".join(
        f"<tr{' class=chosen' if ev is chosen else ''}><td>{html.escape(ev.name)}</td>"
        f"<td>{ev.result.candidate.imbalance}</td><td class=n>{ev.result.n_rows:,}</td>"
        + "".join(f"<td class=n>{ev.metrics[c]:.4f}</td>" for c in columns)
        + f"<td class=n>{ev.result.seconds:.1f}</td></tr>"
        for ev in evaluations
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _table(header: list[str], rows: list[list[object]]) -> str:
    """A simple HTML table (cells are trusted HTML)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _list(items: list[str]) -> str:
    """An HTML bullet list (items are trusted HTML)."""
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"
