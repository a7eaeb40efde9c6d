"""The workbench in a real browser: Debian's chromium driven by Playwright against the dashboard
as ``flowlet up`` starts it.

* An analyst logs in (after a refused password), opens the queue, opens the top alert's case
  with one click, records "confirmed fraud": the case is decided in the store and its labels
  wait in the API's outbox. Screenshots of every page go to ``$FLOWLET_SCREENSHOTS`` or a
  temporary folder the test prints (``docs/screenshots/`` holds a committed set).
* With a running API, worker and broker: a lead's decision in the browser reaches the lake's
  labels (the API's relay publishes what the dashboard put in the outbox) and the merchant's
  delayed-label feature of a later transaction.

``make test`` installs chromium first when it is missing (``scripts/ensure-chromium.sh``).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cases import CaseStore
from cases.workflow import label_id
from core.lake import connect
from core.processes import free_port
from core.settings import Settings
from dashboards import workbench
from flowlet.up import dashboard_command
from simulator import Simulator
from streams.outbox.store import Outbox, outbox
from streams.testing import run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PASSWORDS = {"ana": "ana's long password", "adam": "adam's long password"}


@contextmanager
def serving(settings: Settings, log: Path) -> Iterator[str]:
    """The dashboard as ``flowlet up`` starts it, on ``settings``; yields its URL."""
    env = {**os.environ, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(dashboard_command(settings), cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{settings.dashboard_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the dashboard did not start:\n" + \
                log.read_text(errors="replace")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """A data folder filled by the pipeline (lake, alerts, cases), two users, and the dashboard
    serving it; yields the settings and the dashboard's URL."""
    settings = Settings(data_dir=tmp_path / "data").with_(dashboard_port=free_port())
    now = datetime.now(UTC)
    txs = Simulator(seed=8, n_accounts=40, n_merchants=10).generate(
        400, now - timedelta(hours=2), now)
    run_pipeline([t.event for t in txs], settings.data_dir)
    store = CaseStore(settings.database_url)
    store.add_user("ana", "analyst", PASSWORDS["ana"])
    store.add_user("adam", "admin", PASSWORDS["adam"])
    with serving(settings, tmp_path / "dashboard.log") as url:
        yield settings, url


def playwright_api():  # type: ignore[no-untyped-def]
    """``playwright.sync_api`` with its timeouts set, or a skip naming what is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run scripts/ensure-chromium.sh (make test does)")
    sync_api.expect.set_options(timeout=30_000)
    return sync_api


@pytest.fixture
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$FLOWLET_SCREENSHOTS`` (``FLOWLET_SCREENSHOTS=docs/screenshots`` refreshes the
    committed ones), else a temporary folder the test prints."""
    chosen = os.environ.get("FLOWLET_SCREENSHOTS")
    folder = Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_an_analyst_decides_the_top_alert_in_a_real_browser(dashboard, shots, capsys):
    sync_api = playwright_api()
    settings, url = dashboard
    store = CaseStore(settings.database_url)
    expect = sync_api.expect

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        page.set_default_timeout(30_000)

        def log_in(username: str) -> None:
            page.get_by_role("textbox", name="Username").fill(username)
            page.get_by_role("textbox", name="Password").fill(PASSWORDS[username])
            page.get_by_role("button", name="Log in").click()

        def settled(name: str) -> None:
            """Wait until the script finished its run, then take the screenshot."""
            expect(page.locator('[data-test-script-state="notRunning"]')).to_have_count(1)
            time.sleep(0.5)
            page.screenshot(path=str(shots / f"{name}.png"))

        page.goto(url)
        expect(page.get_by_role("heading", name="Flowlet — log in")).to_be_visible()
        page.get_by_role("textbox", name="Username").fill("ana")
        page.get_by_role("textbox", name="Password").fill("a wrong password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text("Wrong username or password")).to_be_visible()
        settled("01-login-refused")
        log_in("ana")

        expect(page.get_by_role("heading", name="Alert queue")).to_be_visible()
        grid = page.get_by_test_id("stDataFrame").first
        expect(grid).to_be_visible()
        settled("02-alert-queue")
        top = workbench.queue(store).iloc[0]  # the page's order: highest priority first
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the first row's selection box

        expect(page.get_by_role("heading", name=f"Case — account {top['account']}",
                                exact=True)).to_be_visible()
        expect(page).to_have_url(re.compile(f"/case\\?case={top['case_id']}$"))
        settled("03-case")
        network = page.get_by_role("heading", name="Counterparty network")
        network.scroll_into_view_if_needed()
        expect(page.get_by_role("heading", name="Balances in the ledger")).to_be_visible()
        expect(page.locator(".stGraphVizChart svg, [data-testid='stGraphVizChart'] svg")
               .first).to_be_visible()
        settled("03-case-customer")
        page.get_by_text("Confirmed fraud", exact=True).click()
        page.get_by_role("textbox", name="Note", exact=True).fill(
            "card reported stolen by the customer")
        page.get_by_role("button", name="Record decision").click()
        recorded = page.get_by_text("Recorded: Confirmed fraud.")
        expect(recorded).to_be_visible()
        recorded.scroll_into_view_if_needed()
        settled("04-case-decided")

        case = store.case(top["case_id"])
        assert case["state"] == "decided" and case["decision"] == "confirmed_fraud"
        assert [n["text"] for n in case["notes"]] == ["card reported stolen by the customer"]
        evidence = {e["transaction_id"] for e in case["evidence"]}
        with Outbox(settings.api_database_url).engine.connect() as conn:
            queued = dict(conn.execute(select(outbox.c.transaction_id, outbox.c.payload)).all())
        assert len(queued) == len(evidence)
        assert all(b'"is_fraud":true' in payload for payload in queued.values())
        assert [e["action"] for e in store.audit_entries(top["case_id"])][:2] == [
            "decide", "note"]

        for title, heading in (("Overview", "Flowlet — overview"),
                               ("Model health", "Model health"), ("Decisions", "Decisions"),
                               ("Ledger", "Ledger"), ("Features", "Features")):
            page.get_by_role("link", name=title).click()
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            settled(f"05-{title.lower().replace(' ', '-')}")
        expect(page.get_by_role("link", name="Users")).to_have_count(0)  # not an analyst's

        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Flowlet — log in")).to_be_visible()
        log_in("adam")
        page.get_by_role("link", name="Users").click()
        expect(page.get_by_role("heading", name="Users")).to_be_visible()
        settled("06-users")
        browser.close()

    logins = [(e["actor"], e["action"]) for e in store.audit_entries()
              if e["action"].startswith("login")]
    assert sorted(logins) == [("adam", "login"), ("ana", "login"), ("ana", "login_failed")]
    with capsys.disabled():
        print(f"\nscreenshots: {shots}")


def test_a_browser_decision_reaches_the_lake_and_the_merchant_feature(
        aged_traffic, wait_until, tmp_path, key_headers):
    """The whole loop with a real API, worker and broker: traffic → alerts → a lead decides
    in the browser → the labels in the lake and in the merchant's delayed-label feature."""
    sync_api = playwright_api()
    expect = sync_api.expect
    s, events, api, worker, base = aged_traffic
    lake = lambda sql: connect(s.lake_dir).sql(sql).fetchall()  # noqa: E731

    store = CaseStore(s.database_url)
    store.add_user("lea", "lead", "lea's long password")
    queue = workbench.queue(store)
    assert not queue.empty, "the model alerted nothing: nothing to decide"
    row = next(i for i, cid in enumerate(queue["case_id"])
               if any(h["merchant_id"] for h in store.case(cid)["evidence"]))
    assert row < 8, "no case with a merchant among the rows the queue shows first"
    case_id, account = queue["case_id"][row], queue["account"][row]

    with serving(s, tmp_path / "dashboard.log") as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        page.goto(url)
        page.get_by_role("textbox", name="Username").fill("lea")
        page.get_by_role("textbox", name="Password").fill("lea's long password")
        page.get_by_role("button", name="Log in").click()
        grid = page.get_by_test_id("stDataFrame").first
        expect(grid).to_be_visible()
        expect(page.locator('[data-test-script-state="notRunning"]')).to_have_count(1)
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 16, box["y"] + 35 + 35 * row + 17)
        expect(page.get_by_role("heading", name=f"Case — account {account}", exact=True)
               ).to_be_visible()
        page.get_by_text("Confirmed fraud", exact=True).click()
        page.get_by_role("button", name="Record decision").click()
        expect(page.get_by_text("Recorded: Confirmed fraud.")).to_be_visible()
        browser.close()

    evidence = store.case(case_id)["evidence"]
    label_ids = {label_id(h["transaction_id"], case_id) for h in evidence}
    wait_until(lambda: {i for (i,) in lake("select label_id from labels")} >= label_ids,
               60, "the decision's labels in the lake (published by the API's relay)")
    merchant = next(h["merchant_id"] for h in evidence if h["merchant_id"])
    template = next(e for e in events if e.get("merchant_id") == merchant)
    probe = {**template, "transaction_id": "probe-after-browser-decision",
             "occurred_at": datetime.now(UTC).isoformat()}
    with httpx.Client(base_url=base, timeout=30, headers=key_headers(s)) as client:
        assert client.post("/v1/transactions", json=probe).json()["status"] == "accepted"
    wait_until(lambda: lake("select count(*) from transactions where transaction_id = "
                            "'probe-after-browser-decision'")[0][0] == 1, 60,
               "the probe's lake row")
    (rate,) = lake("select f_merchant_fraud_rate_30d_delay7d from transactions "
                   "where transaction_id = 'probe-after-browser-decision'")[0]
    assert rate > 0, "the merchant's delayed-label feature did not see the decision"
    assert worker.stop() == 0, worker.tail()
    assert api.stop() == 0, api.tail()
