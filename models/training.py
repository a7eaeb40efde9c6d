"""Train, evaluate, log to MLflow and register the fraud model.

The bootstrap (:func:`ensure_champion`) gives a fresh stack a real model: it trains on
simulated history when the registry has no ``champion`` yet.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import xgboost as xgb
from sklearn.metrics import average_precision_score, roc_auc_score

from features import FEATURE_NAMES, build_features, events_frame, feature_matrix
from flowlet.settings import Settings
from models.mlflow_env import MlflowClient, mlflow
from models.pyfunc import FraudModel
from models.simulator import Simulator

log = logging.getLogger(__name__)
EXPERIMENT = "flowlet-fraud"


@dataclass(frozen=True)
class TrainResult:
    model_name: str
    version: str
    run_id: str
    metrics: dict[str, float]


def labelled_history(n_events: int, days: int, seed: int, end: datetime) -> pl.DataFrame:
    sim = Simulator(seed=seed)
    txs = sim.generate(n_events, end - timedelta(days=days), end)
    frame = events_frame([t.event for t in txs])
    return frame.with_columns(
        pl.Series("is_fraud", [t.is_fraud for t in txs], dtype=pl.Int8),
        pl.Series("fraud_pattern", [t.pattern for t in txs], dtype=pl.String),
    )


def configure_mlflow(settings: Settings) -> MlflowClient:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        local = not settings.mlflow_tracking_uri.startswith(("http://", "https://"))
        # A local store keeps artifacts in the data folder; a tracking server decides itself.
        mlflow.create_experiment(
            EXPERIMENT,
            artifact_location=settings.mlflow_artifacts_dir.as_uri() if local else None,
        )
    mlflow.set_experiment(EXPERIMENT)
    return MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)


def train(history: pl.DataFrame, settings: Settings, seed: int = 7,
          set_alias: bool = True) -> TrainResult:
    """Train on labelled history (canonical event columns plus ``is_fraud``)."""
    client = configure_mlflow(settings)
    feats = build_features(history).sort("occurred_at")
    x = feature_matrix(feats).to_pandas()
    y = feats["is_fraud"].to_numpy()
    cut = int(len(x) * 0.75)  # time-based split: train on the past, test on what follows
    params = {"n_estimators": 200, "max_depth": 5, "learning_rate": 0.1, "subsample": 0.9,
              "random_state": seed, "n_jobs": 2, "eval_metric": "aucpr"}
    clf = xgb.XGBClassifier(**params)
    clf.fit(x.iloc[:cut], y[:cut])
    p_test = clf.predict_proba(x.iloc[cut:])[:, 1]
    metrics = {
        "test_roc_auc": float(roc_auc_score(y[cut:], p_test)),
        "test_average_precision": float(average_precision_score(y[cut:], p_test)),
        "train_rows": float(cut), "test_rows": float(len(x) - cut),
        "test_fraud_rate": float(np.mean(y[cut:])),
    }
    with mlflow.start_run(run_name="bootstrap") as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({**params, "features": ",".join(FEATURE_NAMES)})
        mlflow.log_metrics(metrics)
        booster_path = Path(tmp) / "booster.json"
        clf.get_booster().save_model(booster_path)
        sample = x.iloc[:50]
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=FraudModel(),
            artifacts={"booster": str(booster_path)},
            signature=mlflow.models.infer_signature(sample, clf.predict_proba(sample)[:, 1]),
            input_example=sample.head(3),
            registered_model_name=settings.model_name,
        )
    version = str(info.registered_model_version)
    if set_alias:
        client.set_registered_model_alias(settings.model_name, settings.model_alias, version)
    log.info("trained %s v%s: %s", settings.model_name, version, metrics)
    return TrainResult(settings.model_name, version, run.info.run_id, metrics)


def current_champion(settings: Settings) -> str | None:
    client = configure_mlflow(settings)
    try:
        return str(client.get_model_version_by_alias(settings.model_name,
                                                     settings.model_alias).version)
    except Exception:  # no registered model or no alias yet
        return None


def ensure_champion(settings: Settings, n_events: int = 30_000, days: int = 14,
                    seed: int = 7) -> str:
    """Return the champion's version, training a first model on simulated history if needed."""
    existing = current_champion(settings)
    if existing is not None:
        return existing
    log.info("no %s model yet: training one on %d simulated events", settings.model_uri,
             n_events)
    history = labelled_history(n_events, days, seed, end=datetime.now(UTC))
    return train(history, settings, seed=seed).version
