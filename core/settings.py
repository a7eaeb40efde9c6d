"""One frozen settings object for every Flowlet deployable, read once at the edge.

Library code receives a :class:`Settings`; only :meth:`Settings.from_env` (called by the CLI)
looks at the environment. Every variable is ``FLOWLET_<FIELD>`` in upper case.

>>> s = Settings.from_env({"FLOWLET_DATA_DIR": "/tmp/fl", "FLOWLET_PARTITIONS": "8"})
>>> s.partitions, s.database_url
(8, 'sqlite:////tmp/fl/flowlet.db')
>>> s.with_(partitions=2).partitions
2
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    broker: str = ""  # empty: `flowlet up` starts the embedded broker and fills this in
    #: Tansu (the embedded broker) rejects idempotent producers; turn on for Apache Kafka.
    producer_idempotence: bool = False
    partitions: int = 4
    topic_transactions: str = "transactions"
    topic_dlq: str = "transactions.dlq"
    topic_alerts: str = "alerts"
    topic_fx_rates: str = "fx_rates"
    app_id: str = "flowlet"
    database_url: str = ""  # default: SQLite file in data_dir
    #: SQLite ledger durability, PRAGMA synchronous: FULL (every commit synced), NORMAL (a
    #: power cut may lose the last commits) or EXTRA; OFF is refused as unsafe.
    ledger_sqlite_synchronous: str = "FULL"
    api_database_url: str = ""  # the API's outbox; default: SQLite in data_dir
    #: The workers' feature state; default: its own SQLite file in data_dir (a batch holds its
    #: lock while the ledger writes). Deployed: the PostgreSQL of ``database_url``.
    state_database_url: str = ""
    mlflow_tracking_uri: str = ""  # default: SQLite store in data_dir
    model_name: str = "flowlet-fraud"
    model_alias: str = "champion"
    #: How often the scorer's background poller checks whether the alias moved.
    model_reload_seconds: float = 5.0
    #: Score every batch with ``shadow_alias`` too (lake only; never affects alerts).
    shadow_enabled: bool = False
    shadow_alias: str = "challenger"
    #: Reason codes: the k features contributing most to a row's risk, for rows scoring at
    #: least ``reason_codes_min_score``; negative means the model's alert threshold (alerts
    #: only). Contributions cost far more than scores; k = 0 turns them off.
    reason_codes_top_k: int = 3
    reason_codes_min_score: float = -1.0
    hold_expiry_interval_seconds: float = 60.0
    #: Fallback only: a model that declares its own ``alert_threshold`` uses that.
    alert_threshold: float = 0.5
    #: Sanctions/PEP screening: a name matches a list entry at this similarity (0-100, after
    #: normalisation and transliteration) or above (screening.matcher).
    screening_threshold: float = 90.0
    #: Micro-batches: at most ``batch_size`` records, taken as soon as one is fetched (what
    #: piled up while the previous batch ran); ``batch_within_seconds`` > 0 waits that long
    #: for a full batch when fewer are there.
    batch_size: int = 2000
    batch_within_seconds: float = 0.0
    #: How long the broker may hold a worker's fetch waiting for data (a latency floor per hop).
    fetch_max_wait_ms: int = 10
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_max_batch: int = 1000
    #: Backpressure: above this many accepted-but-unprocessed events the API answers 429.
    api_max_backlog: int = 200_000
    api_retry_after_seconds: int = 2
    #: The API key this process presents as a client (``simulate --to api``); the API and the
    #: worker's stats page check keys against the API's database (``flowlet keys``).
    api_key: str = ""
    #: Rate limit of keys created without one: requests/s and burst (a token bucket per key).
    api_key_rate_per_second: float = 100.0
    api_key_burst: int = 200
    #: A checked key is trusted this long: a revocation takes effect within it.
    api_key_cache_seconds: float = 2.0
    #: Largest request body and deepest JSON nesting the API reads (413 / 422 beyond).
    api_max_body_bytes: int = 8 * 1024 * 1024
    api_max_json_depth: int = 32
    #: The outbox relay: events per publish turn, how often it reconciles with the broker and
    #: the lake, and how long an event the worker consumed may stay unfinished before it is
    #: published again.
    outbox_batch: int = 5000
    outbox_reconcile_seconds: float = 2.0
    outbox_stuck_seconds: float = 120.0
    outbox_resend_after_seconds: float = 5.0
    dashboard_port: int = 8501
    worker_web_port: int = 6066
    #: Where the worker's stats page listens: loopback unless exposed on purpose.
    worker_web_host: str = "127.0.0.1"
    #: Consumer-group timings. Short, so a killed worker's partitions move on quickly; Tansu
    #: holds a JoinGroup for about half the session timeout before answering.
    session_timeout_seconds: float = 10.0
    rebalance_timeout_seconds: float = 4.0
    lake_refresh_seconds: float = 5.0
    #: How often a worker merges the lake's small batch files (streams.lake_compactor).
    lake_compact_seconds: float = 20.0
    #: AML typology detectors (``detectors``): the cash-reporting threshold per currency in
    #: major units (``CUR:amount,…``; ``*`` for the others) — structuring is "just under" it and
    #: every other detector's minimum amount is a share of it —, the high-risk countries
    #: (ISO 3166-1 alpha-2), the longest cycle in days and the inactivity that makes an account
    #: dormant.
    aml_reporting_thresholds: str = "*:10000"
    aml_high_risk_countries: str = "AF,BY,IR,KP,MM,RU,SY,YE"
    aml_cycle_days: int = 7
    aml_dormant_days: int = 90

    def __post_init__(self) -> None:
        data_dir = Path(self.data_dir).resolve()
        object.__setattr__(self, "data_dir", data_dir)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data_dir / 'flowlet.db'}")
        if not self.api_database_url:
            object.__setattr__(self, "api_database_url", f"sqlite:///{data_dir / 'api.db'}")
        if not self.mlflow_tracking_uri:
            object.__setattr__(self, "mlflow_tracking_uri", f"sqlite:///{data_dir / 'mlflow.db'}")
        if not self.state_database_url:
            object.__setattr__(self, "state_database_url", self._default_state_url())

    def _default_state_url(self) -> str:
        if self.database_url.startswith("sqlite"):
            return f"sqlite:///{Path(self.data_dir).resolve() / 'state.db'}"
        return self.database_url

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.data_dir / "mlartifacts"

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}@{self.model_alias}"

    def with_(self, **changes: object) -> Settings:
        """A copy with ``changes``; paths derived from ``data_dir`` follow a new ``data_dir``,
        and the state database follows the ledger's unless set.

        >>> Settings(data_dir=Path("/a")).with_(data_dir=Path("/b")).database_url
        'sqlite:////b/flowlet.db'
        >>> Settings(data_dir=Path("/a")).with_(database_url="postgresql://h/db").state_database_url
        'postgresql://h/db'
        """
        if "data_dir" in changes:
            defaults = Settings(data_dir=self.data_dir)
            for name in _DERIVED:
                if name not in changes and getattr(self, name) == getattr(defaults, name):
                    changes[name] = ""
        if ("state_database_url" not in changes
                and self.state_database_url == self._default_state_url()):
            changes["state_database_url"] = ""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"FLOWLET_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _parse(raw, f.type)
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The environment that recreates these settings in a child process."""
        return {f"FLOWLET_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}


_DERIVED = ("database_url", "api_database_url", "mlflow_tracking_uri")


def _parse(raw: str, type_name: object) -> object:
    kind = str(type_name)
    if kind == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "Path":
        return Path(raw)
    return raw
