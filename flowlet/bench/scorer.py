"""``flowlet bench scorer``: the scorer's rows/s with and without reason codes and shadow."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from core.settings import Settings

console = Console(stderr=True)


def run_scorer_bench(n_events: int = 20_000, out_dir: Path | None = None,
                     seconds: float = 2.0) -> dict:
    """Scorer rows/s on micro-batches of 500 and 10,000 feature rows.

    Against a fresh registry (a champion and a challenger trained on simulated history):
    the model's own ``score_frame``, then :meth:`Scorer.score` without reason codes, with
    reason codes for alerts only (the default) and for every row, and with shadow scoring.
    Each figure is the best of repeated passes over the rows for about ``seconds``.
    """
    import numpy as np

    from features import build_features, feature_matrix
    from models.serving.scorer import Scorer
    from models.training.data import history_from_simulator
    from models.training.run import ensure_champion, train_simulated

    base = out_dir or Path(tempfile.mkdtemp(prefix="flowlet-scorer-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=base)
    with console.status("training a champion and a challenger"):
        ensure_champion(settings)
        end = datetime.now(UTC)
        # a fixed end: ending at the current hour, a small history may hold no labelled fraud
        challenger = train_simulated(settings, days=14, customers=300, seed=8, promote="never",
                                     end=datetime(2026, 3, 1, tzinfo=UTC),
                                     run_name="challenger").version
        from models.mlflow_env import MlflowClient

        MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri) \
            .set_registered_model_alias(settings.model_name, settings.shadow_alias, challenger)
    with console.status(f"features for {max(n_events, 10_000):,} simulated events"):
        history = history_from_simulator(7, seed=99, end=end,
                                         n_events=max(n_events, 10_000)).events
        rows = feature_matrix(build_features(history)).to_pandas()

    def rate(fn: object, batch: int) -> float:
        chunks = [rows.iloc[i:i + batch] for i in range(0, len(rows) - batch + 1, batch)]
        best = 0.0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or best == 0.0:
            t0 = time.perf_counter()
            for chunk in chunks:
                fn(chunk)  # type: ignore[operator]
            best = max(best, len(chunks) * batch / (time.perf_counter() - t0))
        return best

    variants = {
        "no_reasons": settings.with_(reason_codes_top_k=0),
        "reasons_alerts": settings,
        "reasons_all_rows": settings.with_(reason_codes_min_score=0.0),
        "shadow": settings.with_(shadow_enabled=True),
    }
    scorers = {}
    for key, s in variants.items():
        scorers[key] = Scorer(s)
        scorers[key].load()
    model = scorers["no_reasons"].current
    alert_rate = float(np.mean(scorers["reasons_alerts"].score(rows).is_alert))
    figures: dict[str, object] = {"rows": len(rows), "model": model.ref,
                                  "alert_rate": round(alert_rate, 4)}
    for batch in (500, 10_000):
        with console.status(f"batches of {batch:,}"):
            figures[f"model_score_frame_b{batch}_rows_per_s"] = round(rate(
                lambda x: model.score_frame(x[list(model.feature_names)]), batch))
            for key, scorer in scorers.items():
                figures[f"scorer_{key}_b{batch}_rows_per_s"] = round(rate(scorer.score, batch))
        figures[f"shadow_overhead_b{batch}"] = round(
            figures[f"scorer_reasons_alerts_b{batch}_rows_per_s"]  # type: ignore[operator]
            / figures[f"scorer_shadow_b{batch}_rows_per_s"] - 1, 3)  # type: ignore[operator]
    figures.update({"cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count()})
    (base / "bench-scorer.json").write_text(json.dumps(figures, indent=2))
    Console().print(figures)
    return figures
