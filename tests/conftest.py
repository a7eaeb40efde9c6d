"""Shared fixtures: a real embedded broker, a trained model registry, child processes, a
database on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from core.processes import free_port  # noqa: E402
from core.settings import Settings  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("FLOWLET_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL: SQLite always, PostgreSQL when FLOWLET_TEST_POSTGRES_URL is set
    (``.ci/run`` sets it), each PostgreSQL test in its own schema, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'flowlet.db'}"
        return
    if not PG_URL:
        pytest.skip("FLOWLET_TEST_POSTGRES_URL not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def api_key(settings: Settings, scopes: tuple[str, ...] = ("publish", "label", "read"),
            rate_per_second: float = 1e6, burst: int = 1_000_000) -> str:
    """A new API key in the API's database of ``settings`` (unlimited unless told)."""
    from streams.keys import KeyStore

    store = KeyStore(settings.api_database_url)
    try:
        return store.create("tests", scopes, actor="tests", rate_per_second=rate_per_second,
                            burst=burst)[1]
    finally:
        store.engine.dispose()


def key_headers(settings: Settings, scopes: tuple[str, ...] = ("publish", "label", "read"),
                ) -> dict[str, str]:
    """``Authorization: Bearer <a new key>`` for ``settings``' API and worker."""
    return {"Authorization": f"Bearer {api_key(settings, scopes)}"}


@pytest.fixture(name="key_headers")
def _key_headers_fixture():  # type: ignore[no-untyped-def]
    return key_headers


@pytest.fixture(name="api_key")
def _api_key_fixture():  # type: ignore[no-untyped-def]
    return api_key


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as b:
        yield b


@pytest.fixture(scope="session")
def model_registry(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An MLflow store with a champion trained on simulated history (shared by the session)."""
    from models.training.run import ensure_champion

    settings = Settings(data_dir=tmp_path_factory.mktemp("registry"))
    ensure_champion(settings, days=28, customers=250, seed=3)
    return settings


@pytest.fixture
def stack_settings(tmp_path: Path, broker: EmbeddedBroker, model_registry: Settings) -> Settings:
    """Settings for one isolated stack: own data dir, broker and ports; the shared registry."""
    return Settings(
        data_dir=tmp_path / "data", broker=broker.bootstrap,
        mlflow_tracking_uri=model_registry.mlflow_tracking_uri,
        api_port=free_port(), worker_web_port=free_port(), dashboard_port=free_port(),
        batch_within_seconds=0.2,
    )


class Child:
    """A ``python -m flowlet …`` child process with its log kept for failure messages."""

    def __init__(self, args: list[str], settings: Settings, log: Path) -> None:
        self.log = log
        env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowlet", *args], cwd=REPO, env=env,
            stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self, sig: int = 15, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"did not stop within {timeout}s:\n{self.tail()}") from None
        return self.proc.returncode


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator:
    children: list[Child] = []

    def _spawn(name: str, args: list[str], settings: Settings) -> Child:
        child = Child(args, settings, tmp_path / f"{name}.log")
        children.append(child)
        return child

    yield _spawn
    for child in children:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()


def wait_http_ok(url: str, timeout: float = 60, child: Child | None = None,
                 headers: dict[str, str] | None = None) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if child is not None and child.proc.poll() is not None:
            raise AssertionError(f"process exited ({child.proc.returncode}):\n{child.tail()}")
        try:
            resp = httpx.get(url, timeout=2, headers=headers)
            if resp.status_code == 200:
                return resp
            last = resp.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    detail = child.tail() if child else ""
    raise AssertionError(f"{url} not OK after {timeout}s (last: {last!r})\n{detail}")


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns something truthy (returned); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {value!r})")


def worker_lag(settings: Settings) -> dict[str, int]:
    """Records on the worker's source topics it has not processed yet, per topic.

    A worker's batch counts as processed once its effects and sends are done (the stats page's
    ``processed`` offsets; a partition it never read counts up to its group's committed
    offset). Both are read before the end
    offsets, so an empty answer means nothing is in flight. (kafka-python's admin client:
    aiokafka's cannot fetch group offsets from Tansu.)
    """
    from kafka import KafkaAdminClient, TopicPartition

    processed = httpx.get(f"http://127.0.0.1:{settings.worker_web_port}/stats/", timeout=5,
                          headers=_stats_headers(settings)).json()["processed"]
    topics = (settings.topic_transactions,)
    parts = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]
    admin = KafkaAdminClient(bootstrap_servers=settings.broker)
    try:
        committed = admin.list_group_offsets({settings.app_id: None})[settings.app_id]
    finally:
        admin.close()
    ends = end_offsets(settings.broker, parts)
    lag: dict[str, int] = {}
    for tp in parts:
        done = max(committed[tp].offset if tp in committed else 0,
                   processed.get(f"{tp.topic}:{tp.partition}", 0))
        if ends[tp] > done:
            lag[tp.topic] = lag.get(tp.topic, 0) + ends[tp] - done
    return lag


_STATS_KEYS: dict[str, dict[str, str]] = {}


def _stats_headers(settings: Settings) -> dict[str, str]:
    """A read key for the worker's stats page, one per API database."""
    if settings.api_database_url not in _STATS_KEYS:
        _STATS_KEYS[settings.api_database_url] = key_headers(settings, ("read",))
    return _STATS_KEYS[settings.api_database_url]


def stats_headers(settings: Settings) -> dict[str, str]:
    return _stats_headers(settings)


def end_offsets(bootstrap: str, parts: list) -> dict:  # type: ignore[type-arg]
    """Each partition's true end offset (its last record's offset + 1).

    The embedded broker answers ListOffsets(latest) with the first offset of the partition's
    last record batch + 1, short of the end when that batch holds several records; a fetch from
    there returns the whole batch, whose last offset is the real one."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        reported = consumer.end_offsets(parts)
        ends = {}
        for tp in parts:
            ends[tp] = reported[tp]
            if reported[tp] == 0:
                continue
            consumer.assign([tp])
            consumer.seek(tp, reported[tp] - 1)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                records = consumer.poll(timeout_ms=200).get(tp, [])
                if records:
                    ends[tp] = max(reported[tp], records[-1].offset + 1)
                    break
        return ends
    finally:
        consumer.close()


def wait_caught_up(settings: Settings, timeout: float = 120) -> None:
    """Wait until the worker has processed every record of its source topics: after this,
    nothing more arrives in the ledger, the lake or the output topics."""
    last: dict[str, int] = {}

    def caught_up() -> bool:
        last.clear()
        last.update(worker_lag(settings))
        return not last

    try:
        wait_until(caught_up, timeout, "the worker to process every record of its source "
                   "topics", interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; not processed: {last}") from None


def read_topic(bootstrap: str, topic: str, timeout: float = 30) -> list:
    """Every record of ``topic`` up to its end offsets as of now (manual assignment, no group)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic)
        assert partitions, f"no topic {topic!r} on {bootstrap}"
        parts = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = end_offsets(bootstrap, parts)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list = []

        def read_to_end() -> bool:
            for records in consumer.poll(timeout_ms=200).values():
                out.extend(records)
            return all(consumer.position(tp) >= ends[tp] for tp in parts)

        wait_until(read_to_end, timeout, f"{topic} read to its end offsets {ends}", interval=0)
        return out
    finally:
        consumer.close()


@pytest.fixture(name="wait_http_ok")
def _wait_http_ok_fixture():  # type: ignore[no-untyped-def]
    return wait_http_ok


@pytest.fixture(name="wait_until")
def _wait_until_fixture():  # type: ignore[no-untyped-def]
    return wait_until


@pytest.fixture(name="wait_caught_up")
def _wait_caught_up_fixture():  # type: ignore[no-untyped-def]
    return wait_caught_up


@pytest.fixture(name="read_topic")
def _read_topic_fixture():  # type: ignore[no-untyped-def]
    return read_topic


def publish(settings: Settings, items: list) -> None:  # type: ignore[type-arg]
    """Produce events or labels to ``transactions`` straight to Kafka, keyed by account."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.broker, acks="all", linger_ms=5,
                             enable_idempotence=False)
    for item in items:
        producer.send(settings.topic_transactions, item.model_dump_json().encode(),
                      key=item.account_id.encode())
    producer.flush()
    producer.close()


def lake_count(settings: Settings) -> int:
    from core.lake import connect

    return connect(settings.lake_dir).sql("select count(*) from transactions").fetchall()[0][0]


@pytest.fixture(name="publish")
def _publish_fixture():  # type: ignore[no-untyped-def]
    return publish


@pytest.fixture(name="lake_count")
def _lake_count_fixture():  # type: ignore[no-untyped-def]
    return lake_count


@pytest.fixture
def aged_traffic(stack_settings, spawn, wait_http_ok, wait_until, wait_caught_up):
    """A running API and worker that processed 1,200 simulated events ten days old (a label
    known now counts in a merchant's 30-day window ending 7 days ago): ``(settings, events,
    api, worker, base_url)``. For the analyst's-loop tests."""
    from datetime import UTC, datetime, timedelta

    from core.lake import connect
    from simulator import Simulator

    s = stack_settings
    api = spawn("api", ["api"], s)
    worker = spawn("worker", ["worker"], s)
    base = f"http://{s.api_host}:{s.api_port}"
    wait_http_ok(f"{base}/healthz", child=api)
    now = datetime.now(UTC)
    sim = Simulator(seed=31, n_accounts=60, n_merchants=8, fraud_share=0.2)
    events = [t.event.model_dump(mode="json", exclude_none=True)
              for t in sim.generate(1200, now - timedelta(days=12), now - timedelta(days=9))]
    with httpx.Client(base_url=base, timeout=30, headers=key_headers(s)) as client:
        for start in range(0, len(events), 200):
            chunk = events[start:start + 200]
            assert client.post("/v1/transactions", json=chunk).json()["accepted"] == len(chunk)
    wait_until(lambda: connect(s.lake_dir).sql("select count(*) from transactions")
               .fetchall()[0][0] >= len(events), 180, f"{len(events)} lake rows")
    wait_caught_up(s)
    return s, events, api, worker, base
