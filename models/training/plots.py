"""Evaluation figures (matplotlib, Agg backend: no display needed), logged as MLflow artifacts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import average_precision_score, precision_recall_curve  # noqa: E402


def pr_curves(y: np.ndarray, scores: Mapping[str, np.ndarray]) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, s in scores.items():
        p, r, _ = precision_recall_curve(y, s)
        ax.plot(r, p, label=f"{name} (AP {average_precision_score(y, s):.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision–recall, test window",
           xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def score_histogram(y: np.ndarray, s: np.ndarray, threshold: float | None = None) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 51)
    y = np.asarray(y, dtype=bool)
    ax.hist(s[~y], bins=bins, alpha=0.6, label=f"legitimate ({(~y).sum():,})", log=True)
    ax.hist(s[y], bins=bins, alpha=0.6, label=f"fraud ({y.sum():,})", log=True)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1, label=f"alert threshold {threshold:.3f}")
    ax.set(xlabel="ensemble score", ylabel="transactions (log)",
           title="Score distribution by label, test window")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def feature_importance(names: Sequence[str], importance: np.ndarray, top: int = 20,
                       title: str = "Mean |contribution| to the ensemble log-odds") -> Figure:
    order = np.argsort(importance)[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(order) + 1))
    ax.barh([names[i] for i in order], importance[order])
    ax.set(title=title, xlabel="mean |contribution|")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)
