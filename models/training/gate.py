"""The champion gate: the serving alias moves only to a model that beats the champion.

Every trained model is registered as a new version; then :func:`gate` decides its alias:

1. the candidate, loaded from the registry as the scorer would load it, must pass
   :func:`models.contract.check_scoring_model` (on the evaluation rows too) — one that fails is
   never promoted and gets no alias, whatever ``promote`` says;
2. the current champion (``settings.model_alias``) is loaded by version and scores the
   candidate's own test window; the candidate becomes champion iff
   ``candidate AP > champion AP + margin`` (average precision; ``margin`` 0 = a strict
   improvement). Otherwise it gets ``settings.shadow_alias`` (``challenger``, for shadow
   scoring) and the champion stays. The first model becomes champion; a champion that cannot
   be loaded or cannot score the evaluation set (e.g. trained on other features) is replaced,
   with that reason.

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
from models.contract import check_scoring_model, model_input
from models.mlflow_env import MlflowClient
from models.registry import configure_mlflow, load_version, resolve_alias

log = logging.getLogger(__name__)

Promote = Literal["gate", "always", "never"]

#: Evaluation rows the candidate's contract check scores besides the synthetic ones.
CHECK_ROWS = 64


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


def gate(settings: Settings, candidate_version: str, X_test: pd.DataFrame,  # noqa: N803
         y_test: np.ndarray, candidate_scores: np.ndarray, *, margin: float = 0.0,
         promote: Promote = "gate", run_id: str | None = None) -> GateDecision:
    """Decide and set the alias for ``candidate_version`` (see the module doc). ``X_test``:
    the test window's feature rows (``features.FEATURE_NAMES`` columns), ``candidate_scores``
    the candidate's scores of them."""
    client = configure_mlflow(settings)
    name = settings.model_name
    champion = resolve_alias(client, name, settings.model_alias)
    y = np.asarray(y_test, dtype=bool)
    cand_ap = _ap(y, candidate_scores)
    champ_ap = float("nan")
    broken = _contract_failure(client, name, candidate_version, X_test)
    if broken:
        promoted, reason = False, broken
    elif champion is None:
        promoted, reason = True, "no champion yet: the first model becomes champion"
    else:
        promoted, reason, champ_ap = _compare(client, name, champion, X_test, y, cand_ap, margin)
    alias: str | None
    if promote == "always" and not promoted and not broken:
        promoted, reason = True, f"forced promotion ({reason})"
    if broken or promote == "never":
        if promote == "never":
            reason = f"no alias set (promote='never'); gate says: {reason}"
        alias, promoted = None, False
    else:
        alias = settings.model_alias if promoted else settings.shadow_alias
        client.set_registered_model_alias(name, alias, candidate_version)
    decision = GateDecision(promoted, alias, candidate_version, champion, cand_ap, champ_ap,
                            margin, reason)
    _record(client, settings, decision, run_id)
    (log.error if broken else log.info)("gate: %s v%s → %s (%s)", name, candidate_version,
                                         alias or "no alias", reason)
    return decision


def _contract_failure(client: MlflowClient, name: str, version: str,
                      X: pd.DataFrame) -> str | None:  # noqa: N803
    """Why the registered candidate breaks the model contract; None when it honours it."""
    try:
        check_scoring_model(load_version(client, name, version), X.iloc[:CHECK_ROWS])
    except Exception as exc:
        log.exception("candidate %s v%s fails the model contract", name, version)
        return f"candidate v{version} fails the model contract ({exc!s:.300})"
    return None


def _compare(client: MlflowClient, name: str, champion: str, X: pd.DataFrame,  # noqa: N803
             y: np.ndarray, cand_ap: float, margin: float) -> tuple[bool, str, float]:
    """(promoted, reason, champion AP): the champion scores the candidate's test window."""
    try:
        model = load_version(client, name, champion)
        scores = model.score_frame(model_input(X, model.feature_names))["score"].to_numpy()
        champ_ap = _ap(y, scores)
    except Exception as exc:  # cannot score today's features: not a usable champion
        log.exception("champion v%s cannot score the evaluation set", champion)
        return True, f"champion v{champion} cannot score the evaluation set ({exc!r:.200})", \
            float("nan")
    if np.isnan(cand_ap):
        return False, "no fraud in the test window: nothing to compare on", champ_ap
    figures = f"AP {cand_ap:.4f} %s champion v{champion} AP {champ_ap:.4f} + margin {margin:g}"
    if np.isnan(champ_ap) or cand_ap > champ_ap + margin:
        return True, "candidate " + figures % ">", champ_ap
    return False, "candidate " + figures % "<=", champ_ap


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
