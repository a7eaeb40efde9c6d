"""``flowlet train`` on a terminal: rich progress for the steps, a metrics table, the gate."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.status import Status
from rich.table import Table

from core.settings import Settings
from models.training.data import Source
from models.training.fit import TrainConfig
from models.training.gate import ALERT_RATE_FACTOR, Promote
from models.training.lake_source import lake_training_set
from models.training.recent import recent_lake_rows
from models.training.run import TrainResult, train_ensemble
from models.training.splits import SplitError, SplitPlan
from models.training.validate import ContractError
from simulator import merchants_for

log = logging.getLogger(__name__)

#: the gap of simulated histories (default and ``--from-lake``) unless told otherwise: their
#: measured label delay (AML investigations take ≈25 days) would leave a 30-day history no
#: training window, so the warning that the gap is shorter than the delay is expected there
SIMULATED_GAP = timedelta(days=2)

SHOWN = ("average_precision", "roc_auc", "recall_at_fpr_0.01", "precision_at_k",
         "alerts", "alert_rate", "precision_at_policy", "cost_minor")


def run_train(settings: Settings, *, events: str | None = None, labels: str | None = None,
              from_lake: bool = False, days: int = 30, customers: int = 1000,
              merchants: int | None = None, seed: int = 7, gap_days: float | None = None,
              train_start: datetime | None = None, train_end: datetime | None = None,
              test_start: datetime | None = None, test_end: datetime | None = None,
              validation_share: float | None = None,
              margin: float = 0.0, promote: Promote = "gate",
              alert_budget: float | None = None, alert_rate_factor: float = ALERT_RATE_FACTOR,
              recent_days: float = 1.0, refit: bool = True,
              console: Console | None = None) -> TrainResult:
    """Train on Parquet ``events`` + ``labels`` (files or folders), on the lake (``from_lake``:
    the simulated history ``flowlet simulate --days N`` wrote, plus every transaction the
    workers processed and every label they applied — analysts' decisions, chargebacks; see
    ``models.training.lake_source``), or by default on a fresh
    ``simulate_history(days, seed, customers=…)`` ending at the current hour;
    print the comparison and the gate decision.

    The split (``models.training.splits.SplitPlan``): the given dates (UTC instants), the gap
    (``gap_days``; default the label delay measured in the labels — for Parquet sources only:
    simulated histories keep :data:`SIMULATED_GAP`) and the validation share.

    ``alert_budget`` (default ``TrainConfig.alert_budget``) caps the alert threshold on
    validation; the gate refuses a candidate alerting more than ``alert_rate_factor`` × it on
    the test window or on the lake's rows processed in the last ``recent_days`` (0: none).
    ``refit`` (``TrainConfig.refit``): the served members are fitted again on the whole
    training window once the combiner and the policy are chosen."""
    from models.training.data import history_from_simulator

    console = console or Console(stderr=True)
    config = TrainConfig(refit=refit)
    if alert_budget is not None:
        if not 0 < alert_budget <= 1:
            raise SystemExit(f"--alert-budget {alert_budget} is not a share in (0, 1]")
        config = replace(config, alert_budget=alert_budget)
    if alert_rate_factor <= 0:
        raise SystemExit(f"--alert-rate-factor {alert_rate_factor} must be positive")
    simulated = events is None and labels is None
    gap = (timedelta(days=gap_days) if gap_days is not None
           else SIMULATED_GAP if simulated and not (train_end and test_start) else None)
    try:
        plan = SplitPlan(train_start, train_end, test_start, test_end, gap=gap,
                         validation_fraction=(validation_share if validation_share is not None
                                              else config.validation_fraction),
                         test_fraction=config.test_fraction)
    except SplitError as exc:
        raise SystemExit(f"flowlet train: {exc}") from None
    if from_lake and (events or labels):
        raise SystemExit("--from-lake reads the lake's history: give it without --events/--labels")
    if (events is None) != (labels is None):
        raise SystemExit("--events PATH and --labels PATH go together")
    with console.status("preparing") as status:
        ev: Source
        lab: Source
        if from_lake:
            try:
                lake = lake_training_set(settings.lake_dir)
            except FileNotFoundError as exc:
                raise SystemExit(f"flowlet train --from-lake: {exc}") from None
            ev, lab = lake.events, lake.labels
            source = f"lake {settings.lake_dir.resolve()}: {lake.describe()}"
            console.print(f"training on the lake: {lake.describe()}")
        elif events is not None and labels is not None:
            ev, lab = Path(events), Path(labels)
            source = f"{ev.resolve()} + {lab.resolve()}"
        else:
            status.update(f"simulating {days} days × {customers:,} customers")
            end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            history = history_from_simulator(
                days, seed=seed, end=end, customers=customers,
                merchants=merchants or merchants_for(customers))
            ev, lab = history.events, history.labels
            source = (f"simulate_history days={days} customers={customers} seed={seed} "
                      f"end={end.isoformat()}")
        recent = None
        if recent_days > 0:
            status.update(f"reading the lake's last {recent_days:g} days of live rows")
            try:
                recent = recent_lake_rows(settings.lake_dir, recent_days)
            except Exception as exc:  # no gate on unread evidence: stop and say how to skip it
                raise SystemExit(f"cannot read recent live rows from {settings.lake_dir}: "
                                 f"{exc}; --recent-days 0 trains without them") from exc
        try:
            result = train_ensemble(ev, lab, settings, config=config, seed=seed, split=plan,
                                    gate_margin=margin, promote=promote,
                                    gate_alert_rate_factor=alert_rate_factor, recent=recent,
                                    progress=step_reporter(console, status),
                                    lineage={"source": source})
        except (ContractError, SplitError) as exc:  # the data's or the options' fault
            raise SystemExit(f"flowlet train: {exc}") from None
    render(result, Console())
    return result


def step_reporter(console: Console, status: Status) -> Callable[[str], None]:
    """Each training step on the status line on a terminal, as a log line otherwise (a log
    file, a container's output), so a long training is never silent."""
    def report(message: str) -> None:
        status.update(message)
        if not console.is_terminal:
            log.info("training: %s", message)
    return report


def ensure_model(settings: Settings, days: int, customers: int, seed: int) -> str:
    """``flowlet train --if-missing``: the champion's version, training a first model on
    simulated history when there is none, with its steps shown."""
    from models.training.run import ensure_champion

    console = Console(stderr=True)
    with console.status("looking for a champion") as status:
        return ensure_champion(settings, days=days, customers=customers, seed=seed,
                               progress=step_reporter(console, status))


def render(result: TrainResult, console: Console) -> None:
    s = result.split
    table = Table(title=f"test window {s.test_start:%Y-%m-%d %H:%M} → {s.test_end:%Y-%m-%d %H:%M}"
                        f" UTC (gap {s.gap / timedelta(days=1):g} days, labels as of "
                        f"{s.label_cutoff:%Y-%m-%d %H:%M})")
    table.add_column("model")
    for name in SHOWN:
        table.add_column(name, justify="right")
    for model, metrics in result.comparison.items():
        table.add_row(model, *(_fmt(metrics.get(k, math.nan)) for k in SHOWN))
    console.print(table)
    g = result.gate
    if g is None:
        console.print(f"not registered (run {result.run_id})")
        return
    verdict = "[green]promoted to champion[/]" if g.promoted else (
        f"[yellow]{g.alias or 'no alias'}[/]")
    console.print(f"{result.model_name} v{result.version}: {verdict} — {g.reason}")
    rates = [f"{label} {v:.3%}" for label, v in (
        ("test window", g.test_alert_rate), ("recent live rows", g.recent_alert_rate),
        ("limit", g.alert_rate_limit)) if not math.isnan(v)]
    if rates:
        console.print("alert rate: " + ", ".join(rates))
    console.print(f"run {result.run_id}; timings " + ", ".join(
        f"{k.removesuffix('_seconds')} {v:.1f}s" for k, v in result.timings.items()))


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.4f}"
