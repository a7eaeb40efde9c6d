"""Train, evaluate, log to MLflow, register and gate: the one entry point notebooks and the CLI use.

:func:`train_ensemble` takes any event history in the canonical schema plus labels
(``models.training.data``), splits it by time (``models.training.splits``), fits and evaluates
the ensemble and the models it is compared with (``models.training.fit``), logs everything to
MLflow — params, metrics of every model, plots, the comparison table, data lineage, the pyfunc
with its signature and input example — registers the model and runs the champion gate
(``models.training.gate``).

:func:`ensure_champion` gives a fresh stack a real model: it trains on simulated history when the
registry has no ``champion`` yet.
"""

from __future__ import annotations

import hashlib
import logging
import math
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from core.settings import Settings
from features import FEATURE_NAMES
from models import drift
from models.contract import alert_policy
from models.ensemble.model import EnsembleModel
from models.mlflow_env import mlflow
from models.monitoring import Reference
from models.registry import EXPERIMENT, configure_mlflow, resolve_alias
from models.training import plots
from models.training.data import Source, history_from_simulator, load_events, load_labels
from models.training.evaluation import (
    comparison_table,
    markdown_table,
    precision_at_k_per_day,
)
from models.training.fit import POLICY_COLUMNS, Fitted, Progress, TrainConfig, fit_and_evaluate
from models.training.gate import ALERT_RATE_FACTOR, GateDecision, Promote, RecentRows, gate
from models.training.splits import SplitPlan, TimeSplit, time_split
from simulator import merchants_for

log = logging.getLogger(__name__)

__all__ = ["EXPERIMENT", "TrainConfig", "TrainResult", "configure_mlflow", "current_champion",
           "ensure_champion", "train_ensemble", "train_simulated"]


@dataclass(frozen=True)
class TrainResult:
    model_name: str
    version: str | None  # None when not registered
    run_id: str
    #: the ensemble's test-window metrics, ``test_<metric>``, plus row counts and timings
    metrics: dict[str, float]
    #: model → test-window metrics, for the ensemble, each member alone and the rule baseline
    comparison: dict[str, dict[str, float]]
    gate: GateDecision | None
    split: TimeSplit
    timings: dict[str, float]
    model: EnsembleModel = field(repr=False)

    def table(self) -> pl.DataFrame:
        return comparison_table(self.comparison)


def train_ensemble(events: Source, labels: Source, settings: Settings, *,
                   config: TrainConfig | None = None, seed: int = 7,
                   split: TimeSplit | SplitPlan | None = None, register: bool = True,
                   promote: Promote = "gate", gate_margin: float = 0.0,
                   gate_alert_rate_factor: float = ALERT_RATE_FACTOR,
                   recent: RecentRows | None = None,
                   progress: Progress | None = None, run_name: str = "ensemble",
                   lineage: dict[str, str] | None = None) -> TrainResult:
    """Train the ensemble on ``events`` + ``labels`` (Parquet paths or frames, see
    ``models.training.data``), log the run, register the model and run the gate.

    ``split`` defaults to :func:`models.training.splits.time_split` over the events' time range with
    ``config``'s gap and fractions; a :class:`~models.training.splits.SplitPlan` (dates, gap
    defaulting to the measured label delay, validation share) is resolved against the data.
    ``promote``: ``"gate"`` (champion only if better), ``"always"`` (champion regardless — still
    measured and logged) or ``"never"`` (register, set no alias). The gate refuses a candidate
    alerting more than ``gate_alert_rate_factor`` × its alert budget on the test window or on
    ``recent`` live rows, or ranking ``recent`` labelled rows worse than the champion
    (``models.training.gate``). Same data, config and seed → identical model and scores.
    """
    config = config or TrainConfig()
    step = progress or (lambda _msg: None)
    t_start = time.perf_counter()
    step("loading events and labels")
    ev, lab = load_events(events), load_labels(labels)
    if ev.height == 0:
        raise ValueError("no events to train on")
    if isinstance(split, SplitPlan):
        split, plan = split.resolve(ev, lab), split
        config = replace(config, gap=split.gap, validation_fraction=plan.validation_fraction)
    if split is None:
        start = ev["occurred_at"].min()
        end = ev["occurred_at"].max() + timedelta(microseconds=1)
        split = time_split(start, end, gap=config.gap, test_fraction=config.test_fraction,
                           validation_fraction=config.validation_fraction)
    fitted = fit_and_evaluate(ev, lab, split, config, seed, progress=step)
    model = fitted.model
    # the ensemble's test-window metrics, and its policy's figures (alert_budget,
    # validation_alert_rate) for monitoring to hold the live alert rate to
    metrics = {_metric_name(k): v for k, v in fitted.comparison["ensemble"].items()}
    metrics.update(fitted.counts)

    step("logging the run to MLflow")
    configure_mlflow(settings)
    version: str | None = None
    with mlflow.start_run(run_name=run_name) as run, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mlflow.log_params({**config.params(), "seed": seed, "n_features": len(FEATURE_NAMES),
                           **{f"split_{k}": v for k, v in split.describe().items()},
                           **{f"model_{k}": v for k, v in model.describe().items()}})
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        for name, m in fitted.comparison.items():
            mlflow.log_metrics({f"{name}_{_metric_name(k)}": v for k, v in m.items()
                                if np.isfinite(v)})
        mlflow.set_tags({"flowlet.kind": "ensemble", "flowlet.members":
                         "xgboost,isolation_forest,logistic_combiner", **fitted.card.tags()})
        mlflow.log_text(fitted.card.markdown(), "model_card.md")
        mlflow.log_dict({"refit": fitted.card.refit, "stages": fitted.card.stages_dict()},
                        "data_stages.json")
        mlflow.log_dict(_feature_reference(fitted).to_dict(), drift.ARTIFACT_PATH)
        mlflow.log_dict(_lineage(ev, lab, split, lineage), "lineage.json")
        _log_comparison(fitted, folder)
        _log_figures(fitted)
        step("logging and registering the pyfunc")
        sample = _input_example(fitted)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model.shell(),
            artifacts=model.save_boosters(folder),
            signature=mlflow.models.infer_signature(sample, model.score_frame(sample)),
            input_example=sample.head(5),
            registered_model_name=settings.model_name if register else None,
        )
        if register:
            version = str(info.registered_model_version)
    decision = None
    if register and version is not None:
        _tag_reference(settings, version, fitted)
        step("champion gate")
        m = fitted.prepared.masks["test"]
        X_test = pd.DataFrame(fitted.prepared.X[m].astype(np.float64),  # noqa: N806
                              columns=list(FEATURE_NAMES))
        decision = gate(settings, version, X_test, fitted.prepared.y_eval[m],
                        model.score(fitted.prepared.X[m]), margin=gate_margin, promote=promote,
                        run_id=run.info.run_id, alert_rate_factor=gate_alert_rate_factor,
                        recent=recent)
    timings = {**fitted.timings, "total_seconds": time.perf_counter() - t_start}
    mlflow.MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri).log_batch(
        run.info.run_id, metrics=[mlflow.entities.Metric(k, v, int(time.time() * 1000), 0)
                                  for k, v in timings.items()])
    log.info("trained %s v%s: test AP %.4f", settings.model_name, version,
             metrics["test_average_precision"])
    return TrainResult(settings.model_name, version, run.info.run_id, metrics,
                       fitted.comparison, decision, split, timings, model)


def _metric_name(key: str) -> str:
    """``test_<key>`` for a test-window metric of the comparison; the policy's own figures
    (``models.training.fit.POLICY_COLUMNS``, measured on validation) keep their names."""
    return key if key in POLICY_COLUMNS else f"test_{key}"


def _tag_reference(settings: Settings, version: str, fitted: Fitted) -> None:
    """What live monitoring compares this version with (:mod:`models.monitoring`)."""
    model = fitted.model
    # the rows the served threshold was set on: validation, or after a refit the gap window
    scores = model.score(fitted.prepared.X[fitted.reference_rows])
    budget = alert_policy(model).budget  # None for a model without one
    reference = Reference.from_scores(scores, model.alert_threshold,
                                      math.nan if budget is None else budget)
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    for key, value in {**reference.tags(), **fitted.card.tags()}.items():
        client.set_model_version_tag(settings.model_name, version, key, value)


def _feature_reference(fitted: Fitted) -> drift.FeatureReference:
    """Live feature drift's reference (:mod:`models.drift`): the rows the served members were
    fitted on — the whole training window after a refit, else the fit window."""
    split, refit = fitted.split, fitted.card.refit
    rows = fitted.prepared.masks["train" if refit else "fit"]
    end = split.train_end if refit else split.validation_start
    return drift.FeatureReference.from_matrix(fitted.prepared.X[rows], FEATURE_NAMES,
                                              split.train_start.isoformat(), end.isoformat())


def _input_example(fitted: Fitted) -> pd.DataFrame:
    rows = fitted.prepared.X[fitted.prepared.masks["validation"]][:50]
    return pd.DataFrame(rows.astype(np.float64), columns=list(FEATURE_NAMES))


def _lineage(ev: pl.DataFrame, lab: pl.DataFrame, split: TimeSplit,
             extra: dict[str, str] | None) -> dict[str, object]:
    ids = ev["transaction_id"].sort().to_list()
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return {"events": ev.height, "labels": lab.height,
            "fraud_labels": int(lab["is_fraud"].sum()),
            "events_from": ev["occurred_at"].min().isoformat(),  # type: ignore[union-attr]
            "events_to": ev["occurred_at"].max().isoformat(),  # type: ignore[union-attr]
            "labels_to": (lab["labelled_at"].max().isoformat()  # type: ignore[union-attr]
                          if lab.height else None),
            "transaction_ids_sha256": digest, "split": split.describe(), **(extra or {})}


def _log_comparison(fitted: Fitted, folder: Path) -> None:
    table = comparison_table(fitted.comparison)
    table.write_csv(folder / "comparison.csv")
    (folder / "comparison.md").write_text(markdown_table(table))
    mlflow.log_artifact(str(folder / "comparison.csv"), "evaluation")
    mlflow.log_artifact(str(folder / "comparison.md"), "evaluation")
    # precision of the top-k entities, day by day, for every model (the metrics are its mean)
    data, m = fitted.prepared, fitted.prepared.masks["test"]
    test_frame = data.frame.filter(pl.Series(m))
    cfg = fitted.eval_config
    per_day = pl.concat([
        precision_at_k_per_day(test_frame, fn(data.X[m]), data.y_eval[m], cfg.k_per_day,
                               [c for c in cfg.entity_columns if c in test_frame.columns]
                               ).select(pl.lit(name).alias("model"), pl.all())
        for name, fn in fitted.scorers.items()])
    per_day.write_csv(folder / "precision_at_k_per_day.csv")
    mlflow.log_artifact(str(folder / "precision_at_k_per_day.csv"), "evaluation")


def _log_figures(fitted: Fitted) -> None:
    data, m = fitted.prepared, fitted.prepared.masks["test"]
    X, y = data.X[m], data.y_eval[m]  # noqa: N806
    scores = {name: fn(X) for name, fn in fitted.scorers.items()}
    figures = {}
    if y.any() and not y.all():
        figures["pr_curve.png"] = plots.pr_curves(y, scores)
    figures["score_histogram.png"] = plots.score_histogram(y, scores["ensemble"],
                                                           fitted.model.alert_threshold)
    sample = X[np.linspace(0, len(X) - 1, min(len(X), 2000)).astype(int)] if len(X) else X
    if len(sample):
        importance = np.abs(fitted.model.contributions(sample)).mean(axis=0)
        figures["feature_importance.png"] = plots.feature_importance(FEATURE_NAMES, importance)
        mlflow.log_dict({n: float(v) for n, v in zip(FEATURE_NAMES, importance, strict=True)},
                        "evaluation/feature_importance.json")
    for name, fig in figures.items():
        mlflow.log_figure(fig, f"evaluation/{name}")
        plots.close(fig)


# ---- the stack's bootstrap -------------------------------------------------------------------

def current_champion(settings: Settings) -> str | None:
    client = configure_mlflow(settings)
    return resolve_alias(client, settings.model_name, settings.model_alias)


def train_simulated(settings: Settings, days: int = 21, customers: int = 500, seed: int = 7, *,
                    end: datetime | None = None, promote: Promote = "gate",
                    run_name: str = "simulated",
                    progress: Progress | None = None) -> TrainResult:
    """Train the ensemble on ``simulate_history(days, seed, customers=…)`` ending at ``end``
    (default: the current hour), with only the labels known by then — as in production.

    ``days`` × ``customers`` × ≈2.75 events; the gap is a day per week of history (at most the
    default), so short histories keep labelled fraud in the fit window.
    """
    end = end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if progress is not None:
        progress(f"simulating {days} days × {customers:,} customers")
    history = history_from_simulator(days, seed=seed, end=end, customers=customers,
                                     merchants=merchants_for(customers))
    return train_ensemble(history.events, history.labels, settings,
                          config=_bootstrap_config(days), seed=seed, promote=promote,
                          run_name=run_name, progress=progress,
                          lineage={"source": f"simulate_history days={days} "
                                             f"customers={customers} seed={seed} "
                                             f"end={end.isoformat()}"})


def ensure_champion(settings: Settings, days: int = 21, customers: int = 500,
                    seed: int = 7, progress: Progress | None = None) -> str:
    """Return the champion's version, training a first ensemble on simulated history if needed
    (:func:`train_simulated`; the defaults, ≈29k events, train in well under 30 s; each step
    is told to ``progress``)."""
    existing = current_champion(settings)
    if existing is not None:
        return existing
    log.info("no %s model yet: training one on %d days of simulated history (%d customers)",
             settings.model_uri, days, customers)
    result = train_simulated(settings, days, customers, seed, run_name="bootstrap",
                             progress=progress)
    champion = current_champion(settings)
    if champion is None:  # the gate refused it (contract, alert rate): say so, loudly
        log.error("the bootstrap model %s v%s is not champion: %s", settings.model_name,
                  result.version, result.gate.reason if result.gate else "not registered")
    return champion or str(result.version)


def _bootstrap_config(days: int) -> TrainConfig:
    # short simulated histories: a gap of a day per week of history, at most the default
    return TrainConfig(gap=min(TrainConfig().gap, timedelta(days=max(days, 1) / 7)))
