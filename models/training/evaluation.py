"""Evaluation metrics a risk team reads, on one test window, for any scorer.

Transaction level (``y`` = fraud label, ``s`` = score):

* ``roc_auc`` and ``average_precision`` (scikit-learn; NaN with a single class);
* ``recall_at_fpr`` — the share of fraud caught while flagging at most ``fpr`` (default 1%) of
  legitimate transactions: the largest TPR on the ROC curve with FPR ≤ ``fpr``;
* ``alert_rate`` and ``precision_at_policy`` at the model's alert threshold: the share of
  transactions alerted and the share of alerts that are fraud (:func:`at_policy`);
* **cost** at the model's alert threshold (chosen on validation data, never on the test window):
  ``cost = missed fraud amount + alert_cost_minor × alerts`` where missed fraud amount is the sum
  of ``amount_minor`` of fraud transactions scoring below the threshold, and every alert (a
  transaction at or above it) costs a fixed review cost. Amounts are summed in minor units as
  they come (no FX conversion: a like-for-like comparison between models on the same window).

Entity level — **precision@k per day**: each UTC day, every entity (an account via
``account_id``, a card via ``card_token``) gets the highest score of its transactions that day
and is positive if any of them is fraud. The k highest-scoring entities not already *caught*
(alerted while positive on an earlier day) are alerted; the day's precision is true alerts /
alerts. Reported: the mean over days with at least one candidate (``precision_at_k``), the pooled
ratio (``precision_at_k_pooled``) and the entities caught.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

ENTITY_COLUMNS = ("account_id", "card_token")


@dataclass(frozen=True)
class EvalConfig:
    k_per_day: int = 10
    fpr: float = 0.01
    alert_cost_minor: int = 1_000
    entity_columns: tuple[str, ...] = ENTITY_COLUMNS


def recall_at_fpr(y: np.ndarray, s: np.ndarray, fpr: float = 0.01) -> float:
    """Largest true-positive rate with false-positive rate ≤ ``fpr``.

    >>> recall_at_fpr(np.array([0, 0, 0, 1, 1]), np.array([.1, .2, .9, .8, .95]), fpr=0.0)
    0.5
    """
    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return float("nan")
    f, t, _ = roc_curve(y, s)
    return float(t[f <= fpr + 1e-12].max())


def alert_cost(y: np.ndarray, s: np.ndarray, amount_minor: np.ndarray, threshold: float,
               alert_cost_minor: int) -> dict[str, float]:
    """Cost of working every alert at ``threshold`` plus the fraud let through.

    >>> alert_cost(np.array([1, 1, 0]), np.array([.9, .2, .7]), np.array([500, 800, 10]),
    ...            0.5, 100)
    {'alerts': 2.0, 'missed_fraud_minor': 800.0, 'cost_minor': 1000.0}
    """
    y = np.asarray(y, dtype=bool)
    alerted = np.asarray(s) >= threshold
    missed = float(np.asarray(amount_minor, dtype=np.float64)[y & ~alerted].sum())
    alerts = float(alerted.sum())
    return {"alerts": alerts, "missed_fraud_minor": missed,
            "cost_minor": missed + alert_cost_minor * alerts}


def precision_at_k_per_day(frame: pl.DataFrame, scores: np.ndarray, labels: np.ndarray,
                           k: int, entity_columns: Sequence[str] = ENTITY_COLUMNS
                           ) -> pl.DataFrame:
    """Per day: ``candidates``, ``alerts``, ``true_alerts``, ``precision``.

    ``frame`` has ``occurred_at`` and the entity columns (nulls ignored), aligned with
    ``scores`` and ``labels``. Entities caught (alerted while positive) on earlier days are no
    longer candidates. Ties in score are broken by entity key, so the result is deterministic.
    """
    base = frame.select(pl.col("occurred_at").dt.date().alias("day"),
                        *[pl.col(c).cast(pl.String) for c in entity_columns]).with_columns(
        pl.Series("score", np.asarray(scores, dtype=np.float64)),
        pl.Series("label", np.asarray(labels, dtype=bool)))
    long = pl.concat([
        base.filter(pl.col(c).is_not_null()).select(
            "day", (pl.lit(f"{c}:") + pl.col(c)).alias("entity"), "score", "label")
        for c in entity_columns])
    daily = (long.group_by("day", "entity").agg(pl.col("score").max(), pl.col("label").any())
             .sort(["day", "score", "entity"], descending=[False, True, False]))
    rows = []
    caught: set[str] = set()
    for (day,), group in daily.group_by("day", maintain_order=True):
        open_ = group.filter(~pl.col("entity").is_in(list(caught)))
        top = open_.head(k)
        hits = top.filter(pl.col("label"))["entity"].to_list()
        caught.update(hits)
        rows.append({"day": day, "candidates": open_.height, "alerts": top.height,
                     "true_alerts": len(hits),
                     "precision": len(hits) / top.height if top.height else float("nan")})
    return pl.DataFrame(rows, schema={"day": pl.Date, "candidates": pl.Int64,
                                      "alerts": pl.Int64, "true_alerts": pl.Int64,
                                      "precision": pl.Float64})


def choose_threshold(y: np.ndarray, s: np.ndarray, amount_minor: np.ndarray | None = None,
                     *, rule: str = "cost", alert_cost_minor: int = 1_000,
                     target_precision: float = 0.5, top_share: float = 0.005
                     ) -> tuple[float, str, float, float]:
    """The alert threshold from validation data: ``(threshold, rule used, precision, recall)``.

    * ``"cost"`` (default): the threshold minimising the cost model above on the validation
      rows — alert the top j transactions for the j with the least ``alert_cost_minor × j +
      missed fraud amount``;
    * ``"precision"``: the lowest score whose alerts reach ``target_precision``;
    * ``"top_share"``: alert the top ``top_share`` of transactions — also the fallback when the
      chosen rule has nothing to go on (no fraud known, precision never reached).

    >>> y = np.array([1, 0, 1, 0, 0]); s = np.array([.9, .8, .7, .2, .1])
    >>> choose_threshold(y, s, np.array([5000, 9, 50, 9, 9]), alert_cost_minor=100)[:2]
    (0.9, 'cost')
    >>> choose_threshold(y, s, np.array([5000, 9, 5000, 9, 9]), alert_cost_minor=100)[:2]
    (0.7, 'cost')
    """
    y = np.asarray(y, dtype=bool)
    s = np.asarray(s, dtype=np.float64)
    thr: float | None = None
    if y.any() and len(s) and rule == "precision":
        p, _, t = precision_recall_curve(y, s)
        ok = np.flatnonzero(p[:-1] >= target_precision)
        thr = float(t[ok[0]]) if len(ok) else None
    elif y.any() and len(s) and rule == "cost":
        amount = (np.ones(len(s)) if amount_minor is None
                  else np.asarray(amount_minor, dtype=np.float64))
        order = np.argsort(-s, kind="stable")
        ss = s[order]
        saved = np.cumsum(np.where(y[order], amount[order], 0.0))
        last = np.r_[np.flatnonzero(ss[1:] != ss[:-1]), len(ss) - 1]  # end of each tie group
        cost = alert_cost_minor * (last + 1) - saved[last]  # + total fraud amount (constant)
        best = int(np.argmin(cost))
        thr = float(ss[last[best]]) if cost[best] < 0 else float(np.nextafter(ss[0], np.inf))
    if thr is None:
        rule = "top_share"
        thr = float(np.quantile(s, 1 - top_share)) if len(s) else 0.5
    alerted = s >= thr
    prec = float(y[alerted].mean()) if alerted.any() else float("nan")
    rec = float((y & alerted).sum() / y.sum()) if y.any() else float("nan")
    return thr, rule, prec, rec


def budget_threshold(s: np.ndarray, budget: float) -> float:
    """The lowest threshold that alerts at most ``floor(budget × n)`` of the scores ``s``.

    ``0.0`` (no constraint) when the budget covers every row. Ties are never split: a tie at
    the budget's edge is left out whole, so the budget holds exactly, not approximately (a
    quantile with interpolation may let a tie group through). Capped at 1.0, the top of the
    contract's range: rows scoring exactly 1.0 then still alert.

    >>> budget_threshold(np.array([.1, .2, .3, .4, .9, .9]), 0.5)  # 3 of 6: .4, .9, .9
    0.30000000000000004
    >>> budget_threshold(np.array([.1, .2, .9, .9]), 0.25)  # 1 of 4 would split the tie
    0.9000000000000001
    """
    s = np.asarray(s, dtype=np.float64)
    allowed = int(np.floor(budget * len(s) + 1e-9))
    if allowed >= len(s):
        return 0.0
    edge = np.sort(s)[::-1][allowed]  # the highest score that must not alert
    return float(min(np.nextafter(edge, np.inf), 1.0))


@dataclass(frozen=True)
class AlertPolicy:
    """A model's alerting choice on validation data, and what it did there.

    ``threshold = max(rule_threshold, budget_threshold(validation scores, budget))``: the rule
    (cost, precision, top share) picks what is worth working, the budget caps how much an
    analyst team is given — a rule fitted to a window with few known frauds can otherwise ask
    for a flood. ``alert_rate`` is the share of validation rows at or above ``threshold``,
    the figure serving and monitoring compare the live alert rate with.
    """

    threshold: float
    rule: str  # the rule used (its fallback, "top_share", when it had nothing to go on)
    rule_threshold: float  # the rule's threshold, before the budget
    budget: float
    alert_rate: float
    precision: float
    recall: float

    @property
    def capped(self) -> bool:
        """True when the budget, not the rule, set the threshold."""
        return self.threshold > self.rule_threshold


def choose_policy(y: np.ndarray, s: np.ndarray, amount_minor: np.ndarray | None = None, *,
                  budget: float = 0.005, **rule: object) -> AlertPolicy:
    """:func:`choose_threshold` (``rule``: its keyword arguments) capped by an alert ``budget``
    (share of transactions, 1.0 = no cap) on the same validation rows.

    >>> y = np.array([1, 0, 1, 0, 0] * 20, dtype=bool); s = np.tile([.9, .8, .7, .2, .1], 20)
    >>> p = choose_policy(y, s, rule="top_share", top_share=0.5, budget=0.3)
    >>> p.rule_threshold, p.threshold > 0.8, p.alert_rate, p.capped
    (0.7, True, 0.2, True)
    """
    y = np.asarray(y, dtype=bool)
    s = np.asarray(s, dtype=np.float64)
    rule_thr, kind, _, _ = choose_threshold(y, s, amount_minor, **rule)  # type: ignore[arg-type]
    rule_thr = min(rule_thr, 1.0)  # "alert nothing" (the cost rule) as the contract allows
    thr = max(rule_thr, budget_threshold(s, budget)) if len(s) else rule_thr
    alerted = s >= thr
    return AlertPolicy(
        threshold=thr, rule=kind, rule_threshold=rule_thr, budget=float(budget),
        alert_rate=float(alerted.mean()) if len(s) else float("nan"),
        precision=float(y[alerted].mean()) if alerted.any() else float("nan"),
        recall=float((y & alerted).sum() / y.sum()) if y.any() else float("nan"))


def evaluate(frame: pl.DataFrame, y: np.ndarray, s: np.ndarray, threshold: float,
             config: EvalConfig = EvalConfig()) -> dict[str, float]:  # noqa: B008
    """Every metric above for one scorer on one window (``frame``: the window's events)."""
    y = np.asarray(y, dtype=bool)
    two = y.any() and not y.all()
    per_day = precision_at_k_per_day(frame, s, y, config.k_per_day, [
        c for c in config.entity_columns if c in frame.columns])
    worked = per_day.filter(pl.col("alerts") > 0)
    metrics = {
        "roc_auc": float(roc_auc_score(y, s)) if two else float("nan"),
        "average_precision": float(average_precision_score(y, s)) if two else float("nan"),
        f"recall_at_fpr_{config.fpr:g}": recall_at_fpr(y, s, config.fpr),
        "precision_at_k": float(worked["precision"].mean()) if worked.height else float("nan"),
        "precision_at_k_pooled": (float(worked["true_alerts"].sum() / worked["alerts"].sum())
                                  if worked.height else float("nan")),
        "entities_caught": float(per_day["true_alerts"].sum()),
        "threshold": float(threshold),
        **alert_cost(y, s, frame["amount_minor"].to_numpy(), threshold,
                     config.alert_cost_minor),
        **at_policy(y, s, threshold),
    }
    return metrics


def at_policy(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float]:
    """What an analyst sees at the model's alert threshold: the share of transactions alerted
    (``alert_rate``, held to the policy's budget by the gate and by monitoring) and the share
    of alerts that are fraud (``precision_at_policy``; NaN without alerts).

    >>> at_policy(np.array([1, 0, 0, 0]), np.array([.9, .8, .1, .2]), 0.5)
    {'alert_rate': 0.5, 'precision_at_policy': 0.5}
    """
    alerted = np.asarray(s) >= threshold
    y = np.asarray(y, dtype=bool)
    return {"alert_rate": float(alerted.mean()) if len(alerted) else float("nan"),
            "precision_at_policy": float(y[alerted].mean()) if alerted.any() else float("nan")}


def comparison_table(results: Mapping[str, Mapping[str, float]]) -> pl.DataFrame:
    """One row per model, one column per metric (the order of the first model's metrics)."""
    names = list(next(iter(results.values())).keys()) if results else []
    return pl.DataFrame([{"model": m, **{k: r.get(k, float("nan")) for k in names}}
                         for m, r in results.items()])


def markdown_table(table: pl.DataFrame) -> str:
    cols = table.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in table.iter_rows():
        lines.append("| " + " | ".join(
            f"{v:.4g}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
