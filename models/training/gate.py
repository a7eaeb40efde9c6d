"""The champion gate: the serving alias moves only to a model that beats the champion and whose
alerts an analyst team can work.

Every trained model is registered as a new version; then :func:`gate` decides its alias:

1. the candidate, loaded from the registry as the scorer would load it, must pass
   :func:`models.contract.check_scoring_model` (on the evaluation rows too) — one that fails is
   never promoted and gets no alias, whatever ``promote`` says;
2. **alert rate**: the candidate's alert rate (``score >= alert_threshold``) on the test window
   and, when given, on recent live rows (:class:`RecentRows`, e.g. the lake's feature columns
   of the last days) must not exceed ``alert_rate_factor`` × its reference rate — its alert
   budget, else its validation alert rate (:func:`models.contract.alert_policy`). The budget,
   not the validation rate, because it is what analysts can work and does not move with the
   noise of a validation window with few alerts. A model recording neither is not checked
   (models registered before the budget), and the reason says so;
3. **recent labels**: when the recent rows carry labels of both classes, the candidate's AP on
   them must not be lower than the champion's;
4. **test window**: the current champion (``settings.model_alias``) is loaded by version and
   scores the candidate's own test window; the candidate becomes champion iff ``candidate AP
   > champion AP + margin`` (average precision; ``margin`` 0 = a strict improvement).

A candidate refused by 2–4 gets ``settings.shadow_alias`` (``challenger``, for shadow scoring)
and the champion stays. **Unverifiable evidence never replaces a champion**: a test window of a
single class, or candidate scores that are not finite, give a NaN AP, and the candidate stays
challenger. The first model becomes champion unless it fails 1; an alert-rate breach of the
first model is written in its reason and logged, not refused — with no champion at all the
worker processes nothing (ledger postings included), which is worse than too many alerts. A
champion that cannot be loaded or cannot score the evaluation set (e.g. trained on other
features: it cannot serve today's stream either) is replaced, with that reason.

``promote="always"`` forces the promotion past 3–4 (a judgement on ranking quality the caller
may overrule, e.g. after a deliberate change of data) but **not past 1 or 2**: a model that
breaks the contract cannot serve, and one alerting beyond ``alert_rate_factor`` × its budget
buries the analysts whatever its ranking — to accept more alerts, raise the budget or the factor
explicitly (``flowlet train --alert-budget/--alert-rate-factor``), which the run then records.

The decision and its figures are returned (:class:`GateDecision`), logged, and recorded on the
candidate's run (tags ``gate.*``, metrics ``gate_candidate_ap``/``gate_champion_ap``,
``gate_test_alert_rate``/``gate_recent_alert_rate``/``gate_alert_rate_limit``,
``gate_candidate_recent_ap``/``gate_champion_recent_ap``) and model version (tags ``gate.*``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from core.settings import Settings
from models.contract import ScoringModel, alert_policy, check_scoring_model, model_input
from models.mlflow_env import MlflowClient
from models.registry import configure_mlflow, load_version, resolve_alias

log = logging.getLogger(__name__)

Promote = Literal["gate", "always", "never"]

#: Evaluation rows the candidate's contract check scores besides the synthetic ones.
CHECK_ROWS = 64

#: A candidate may alert at most this many times its budget (issue 14: "say 2×").
ALERT_RATE_FACTOR = 2.0

NAN = float("nan")


@dataclass(frozen=True)
class RecentRows:
    """Recent live rows to hold the candidate to: ``X`` has the feature columns (the lake's
    ``f_<name>`` columns renamed to the feature names), ``y`` their labels when known (None:
    only the alert rate is checked on them)."""

    X: pd.DataFrame
    y: np.ndarray | None = None


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
    #: the candidate's alert rates (NaN: not measured) and the most it may alert (NaN: no
    #: alert policy recorded on the model)
    test_alert_rate: float = NAN
    recent_alert_rate: float = NAN
    alert_rate_limit: float = NAN
    candidate_recent_ap: float = NAN
    champion_recent_ap: float = NAN
    #: why the candidate was refused, one entry per failed check (empty when promoted)
    refusals: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _Evidence:
    """What the checks found, filled as they run."""

    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)


def gate(settings: Settings, candidate_version: str, X_test: pd.DataFrame,  # noqa: N803
         y_test: np.ndarray, candidate_scores: np.ndarray, *, margin: float = 0.0,
         promote: Promote = "gate", run_id: str | None = None,
         alert_rate_factor: float = ALERT_RATE_FACTOR,
         recent: RecentRows | None = None) -> GateDecision:
    """Decide and set the alias for ``candidate_version`` (see the module doc). ``X_test``:
    the test window's feature rows (``features.FEATURE_NAMES`` columns), ``candidate_scores``
    the candidate's scores of them; ``recent``: recent live rows, optional."""
    client = configure_mlflow(settings)
    name = settings.model_name
    champion = resolve_alias(client, name, settings.model_alias)
    y = np.asarray(y_test, dtype=bool)
    scores = np.asarray(candidate_scores, dtype=np.float64)
    cand_ap = _ap(y, scores)
    champ_ap = NAN
    evidence = _Evidence()
    candidate, broken = _load_candidate(client, name, candidate_version, X_test)
    overridable: list[str] = []  # refusals promote="always" may overrule
    if broken:
        promoted, reason = False, broken
    else:
        _check_alert_rate(candidate, scores, recent, alert_rate_factor, evidence)
        if champion is None:  # nothing to keep: alert-rate breaches are reported, not refused
            first = "no champion yet: the first model becomes champion"
            if evidence.refusals:
                first += (", although " + "; ".join(evidence.refusals) + " — without a "
                          "champion the worker processes nothing, ledger included")
                log.warning("gate: %s v%s: %s", name, candidate_version, first)
                evidence.refusals.clear()
            verdict = (True, first)
        else:
            champ_model = _champion_model(client, name, champion)
            if recent is not None and not isinstance(champ_model, str):
                _check_recent_ap(candidate, champ_model, champion, recent, evidence,
                                 overridable)
            verdict = _compare(champ_model, champion, X_test, y, cand_ap, margin)
            champ_ap = verdict[2]
        if not verdict[0]:
            evidence.refusals.append(verdict[1])
            overridable.append(verdict[1])
        elif evidence.refusals:  # refused on other grounds: keep what the test window said
            evidence.notes.append(f"test window: {verdict[1]}")
        promoted = not evidence.refusals
        reason = "; ".join(evidence.refusals) if evidence.refusals else verdict[1]
        if evidence.notes:
            reason += " (" + "; ".join(evidence.notes) + ")"
    alias: str | None
    if (promote == "always" and not promoted and not broken
            and set(evidence.refusals) <= set(overridable)):
        promoted, reason = True, f"forced promotion ({reason})"
    if broken or promote == "never":
        if promote == "never":
            reason = f"no alias set (promote='never'); gate says: {reason}"
        alias, promoted = None, False
    else:
        alias = settings.model_alias if promoted else settings.shadow_alias
        client.set_registered_model_alias(name, alias, candidate_version)
    f = evidence.figures
    decision = GateDecision(
        promoted, alias, candidate_version, champion, cand_ap, champ_ap, margin, reason,
        test_alert_rate=f.get("test_alert_rate", NAN),
        recent_alert_rate=f.get("recent_alert_rate", NAN),
        alert_rate_limit=f.get("alert_rate_limit", NAN),
        candidate_recent_ap=f.get("candidate_recent_ap", NAN),
        champion_recent_ap=f.get("champion_recent_ap", NAN),
        refusals=() if promoted else tuple(evidence.refusals) or ((broken,) if broken else ()))
    _record(client, settings, decision, run_id, alert_rate_factor)
    (log.error if broken else log.info)("gate: %s v%s → %s (%s)", name, candidate_version,
                                         alias or "no alias", reason)
    return decision


def _load_candidate(client: MlflowClient, name: str, version: str, X: pd.DataFrame,  # noqa: N803
                    ) -> tuple[ScoringModel | None, str | None]:
    """(the registered candidate, None) when it honours the model contract; (None, why) else."""
    try:
        model = load_version(client, name, version)
        check_scoring_model(model, X.iloc[:CHECK_ROWS])
    except Exception as exc:
        log.exception("candidate %s v%s fails the model contract", name, version)
        return None, f"candidate v{version} fails the model contract ({exc!s:.300})"
    return model, None


def _check_alert_rate(model: ScoringModel, test_scores: np.ndarray, recent: RecentRows | None,
                      factor: float, evidence: _Evidence) -> None:
    """Refuse a candidate alerting more than ``factor`` × its reference rate (module doc, 2)."""
    threshold = float(model.alert_threshold)
    rates = {"test window": _rate(test_scores >= threshold)}
    evidence.figures["test_alert_rate"] = rates["test window"]
    if recent is not None and len(recent.X):
        recent_scores = _scores(model, recent.X)
        rates["recent live rows"] = _rate(recent_scores >= threshold)
        evidence.figures["recent_alert_rate"] = rates["recent live rows"]
    policy = alert_policy(model)
    reference = policy.reference_rate
    if reference is None:
        evidence.notes.append("no alert policy recorded on the candidate: alert rate not "
                              "checked")
        return
    limit = factor * reference
    evidence.figures["alert_rate_limit"] = limit
    basis = (f"{factor:g} × its budget {reference:.3%}" if policy.budget is not None
             else f"{factor:g} × its validation alert rate {reference:.3%}")
    validation = ("" if policy.validation_alert_rate is None
                  else f", validation alert rate {policy.validation_alert_rate:.3%}")
    for where, rate in rates.items():
        if rate > limit:
            evidence.refusals.append(f"candidate alerts {rate:.3%} of the {where}, over "
                                     f"{basis} = {limit:.3%}{validation}")


def _check_recent_ap(candidate: ScoringModel, champion: ScoringModel, champion_version: str,
                     recent: RecentRows, evidence: _Evidence, overridable: list[str]) -> None:
    """Refuse a candidate ranking recent labelled rows worse than the champion (module doc, 3);
    recent rows without labels of both classes give no evidence either way (noted)."""
    if recent.y is None or not len(recent.X):
        return
    y = np.asarray(recent.y, dtype=bool)
    try:
        champ = _ap(y, _scores(champion, recent.X))
    except Exception as exc:  # the test window decides whether this champion is usable
        log.warning("champion v%s cannot score the recent rows: %r", champion_version, exc)
        return
    cand = _ap(y, _scores(candidate, recent.X))
    evidence.figures.update(candidate_recent_ap=cand, champion_recent_ap=champ)
    if np.isnan(cand) or np.isnan(champ):
        evidence.notes.append(f"recent rows not comparable ({len(y)} rows, {int(y.sum())} "
                              "fraud)")
    elif cand < champ:
        why = (f"candidate AP {cand:.4f} < champion v{champion_version} AP {champ:.4f} on "
               f"{len(y)} recent labelled rows")
        evidence.refusals.append(why)
        overridable.append(why)


def _champion_model(client: MlflowClient, name: str, champion: str) -> ScoringModel | str:
    """The champion, or why it cannot be loaded."""
    try:
        return load_version(client, name, champion)
    except Exception as exc:
        log.exception("champion v%s cannot be loaded", champion)
        return f"champion v{champion} cannot be loaded ({exc!r:.200})"


def _compare(champion: ScoringModel | str, version: str, X: pd.DataFrame,  # noqa: N803
             y: np.ndarray, cand_ap: float, margin: float) -> tuple[bool, str, float]:
    """(promoted, reason, champion AP): the champion scores the candidate's test window."""
    if np.isnan(cand_ap):  # before anything else: no evidence must not replace a champion
        return False, (f"cannot verify the candidate on the test window ({int(y.sum())} fraud "
                       f"of {len(y)} rows, or scores not finite): champion v{version} kept"), NAN
    if isinstance(champion, str):  # not loadable: it cannot serve either
        return True, champion, NAN
    try:
        champ_ap = _ap(y, _scores(champion, X))
    except Exception as exc:  # cannot score today's features: not a usable champion
        log.exception("champion v%s cannot score the evaluation set", version)
        return True, f"champion v{version} cannot score the evaluation set ({exc!r:.200})", NAN
    figures = f"AP {cand_ap:.4f} %s champion v{version} AP {champ_ap:.4f} + margin {margin:g}"
    if np.isnan(champ_ap):  # a finite AP of the candidate, but the champion's scores are not
        return True, f"champion v{version} scores are not finite on the test window", champ_ap
    if cand_ap > champ_ap + margin:
        return True, "candidate " + figures % ">", champ_ap
    return False, "candidate " + figures % "<=", champ_ap


def _scores(model: ScoringModel, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
    return model.score_frame(model_input(X, model.feature_names))["score"].to_numpy()


def _rate(alerted: np.ndarray) -> float:
    return float(alerted.mean()) if len(alerted) else NAN


def _ap(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision; NaN when it says nothing (a single class, scores not finite)."""
    s = np.asarray(s, dtype=np.float64)
    if not y.any() or y.all() or not np.isfinite(s).all():
        return NAN
    return float(average_precision_score(y, s))


def _record(client: MlflowClient, settings: Settings, d: GateDecision,
            run_id: str | None, alert_rate_factor: float) -> None:
    tags = {"gate.decision": "promoted" if d.promoted else (d.alias or "none"),
            "gate.alias": d.alias or "", "gate.champion_version": d.champion_version or "",
            "gate.reason": d.reason[:4_000], "gate.margin": str(d.margin),
            "gate.alert_rate_factor": str(alert_rate_factor),
            "gate.refusals": " | ".join(d.refusals)[:4_000]}
    for k, v in tags.items():
        client.set_model_version_tag(settings.model_name, d.candidate_version, k, v)
        if run_id is not None:
            client.set_tag(run_id, k, v)
    if run_id is not None:
        for k, v in (("gate_candidate_ap", d.candidate_ap), ("gate_champion_ap", d.champion_ap),
                     ("gate_test_alert_rate", d.test_alert_rate),
                     ("gate_recent_alert_rate", d.recent_alert_rate),
                     ("gate_alert_rate_limit", d.alert_rate_limit),
                     ("gate_candidate_recent_ap", d.candidate_recent_ap),
                     ("gate_champion_recent_ap", d.champion_recent_ap)):
            if not np.isnan(v):
                client.log_metric(run_id, k, v)
