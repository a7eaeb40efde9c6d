"""MLflow registry: the tracking store, and the champion gate.

**Gate.** Every trained model is registered as a new version. The ``champion`` alias (what the
stream scores with) moves to the candidate only if the candidate beats the current champion *on
the same evaluation*: the champion is loaded and scores the candidate's test window, and the
candidate is promoted iff ``candidate AP > champion AP + margin`` (average precision; ``margin``
0 = a strict improvement). Otherwise the candidate gets the ``challenger`` alias, for shadow
scoring, and the champion stays. The first model becomes champion; a champion that cannot score
the evaluation set (e.g. trained on other features) is replaced, with that reason.

The decision and both figures are returned (:class:`GateDecision`), logged, and recorded on the
candidate's run (tags ``gate.*``, metrics ``gate_candidate_ap``/``gate_champion_ap``) and model
version (tags ``gate.*``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from core.settings import Settings
from models.mlflow_env import MlflowClient, mlflow

log = logging.getLogger(__name__)

EXPERIMENT = "flowlet-fraud"
CHALLENGER = "challenger"
Promote = Literal["gate", "always", "never"]


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


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:  # no registered model, or no such alias
        return None


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    alias: str | None  # the alias the candidate got ("champion", "challenger" or None)
    candidate_version: str
    champion_version: str | None  # the champion it was compared with
    candidate_ap: float
    champion_ap: float  # NaN without a (scorable) champion
    margin: float
    reason: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def version_scores(settings: Settings, version: str, X: pd.DataFrame) -> np.ndarray:
    """Scores of a registered version through its pyfunc (any model of this registry: the
    ensemble returns a frame with ``score``, older models an array)."""
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}")
    out = model.predict(X)
    if isinstance(out, pd.DataFrame):
        out = out["score"] if "score" in out.columns else out.iloc[:, 0]
    return np.asarray(out, dtype=np.float64).reshape(-1)


def gate(settings: Settings, candidate_version: str, X_test: pd.DataFrame,  # noqa: N803
         y_test: np.ndarray, candidate_scores: np.ndarray, *, margin: float = 0.0,
         promote: Promote = "gate", run_id: str | None = None) -> GateDecision:
    """Decide and set the alias for ``candidate_version`` (see the module doc)."""
    client = configure_mlflow(settings)
    champion = alias_version(client, settings.model_name, settings.model_alias)
    y = np.asarray(y_test, dtype=bool)
    cand_ap = _ap(y, candidate_scores)
    champ_ap = float("nan")
    reason = ""
    if champion is None:
        promoted, reason = True, "no champion yet: the first model becomes champion"
    else:
        try:
            champ_ap = _ap(y, version_scores(settings, champion, X_test))
        except Exception as exc:  # cannot score today's features: not a usable champion
            log.exception("champion v%s cannot score the evaluation set", champion)
            reason = f"champion v{champion} cannot score the evaluation set ({exc!r:.200})"
        if reason:
            promoted = True
        elif np.isnan(cand_ap):
            promoted, reason = False, "no fraud in the test window: nothing to compare on"
        elif np.isnan(champ_ap) or cand_ap > champ_ap + margin:
            promoted = True
            reason = (f"candidate AP {cand_ap:.4f} > champion v{champion} AP "
                      f"{champ_ap:.4f} + margin {margin:g}")
        else:
            promoted = False
            reason = (f"candidate AP {cand_ap:.4f} <= champion v{champion} AP "
                      f"{champ_ap:.4f} + margin {margin:g}")
    if promote == "always" and not promoted:
        promoted, reason = True, f"forced promotion ({reason})"
    alias: str | None
    if promote == "never":
        alias, reason = None, f"no alias set (promote='never'); gate says: {reason}"
        promoted = False
    elif promoted:
        alias = settings.model_alias
    else:
        alias = CHALLENGER
    if alias is not None:
        client.set_registered_model_alias(settings.model_name, alias, candidate_version)
    decision = GateDecision(promoted, alias, candidate_version, champion, cand_ap, champ_ap,
                            margin, reason)
    _record(client, settings, decision, run_id)
    log.info("gate: %s v%s → %s (%s)", settings.model_name, candidate_version,
             alias or "no alias", reason)
    return decision


def _ap(y: np.ndarray, s: np.ndarray) -> float:
    if not y.any() or y.all():
        return float("nan")
    return float(average_precision_score(y, s))


def _record(client: MlflowClient, settings: Settings, d: GateDecision,
            run_id: str | None) -> None:
    tags = {"gate.decision": "promoted" if d.promoted else (d.alias or "none"),
            "gate.alias": d.alias or "", "gate.champion_version": d.champion_version or "",
            "gate.reason": d.reason, "gate.margin": str(d.margin)}
    for k, v in tags.items():
        client.set_model_version_tag(settings.model_name, d.candidate_version, k, v)
        if run_id is not None:
            client.set_tag(run_id, k, v)
    if run_id is not None:
        for k, v in (("gate_candidate_ap", d.candidate_ap), ("gate_champion_ap", d.champion_ap)):
            if not np.isnan(v):
                client.log_metric(run_id, k, v)
