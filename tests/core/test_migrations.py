"""Several processes upgrading one new SQLite database at once: every one succeeds and the
schema is at head once (the lock of ``core.migrations`` spans each upgrade's commit)."""

import multiprocessing as mp

from sqlalchemy import create_engine, inspect

PROCESSES = 6


def _upgrade_all(url: str, start) -> None:  # type: ignore[no-untyped-def]
    from cases.migrate import migrate as cases_migrate
    from ledger.migrate import migrate as ledger_migrate
    from screening.store import migrate as screening_migrate

    engine = create_engine(url)
    start.wait()  # all together: the race two workers starting on a new data folder run
    for migrate in (ledger_migrate, cases_migrate, screening_migrate):
        migrate(engine)


def test_processes_upgrading_one_new_sqlite_file_at_once_all_succeed(tmp_path):
    ctx = mp.get_context("spawn")
    for round_ in range(3):
        url = f"sqlite:///{tmp_path}/race-{round_}.db"
        start = ctx.Barrier(PROCESSES)
        procs = [ctx.Process(target=_upgrade_all, args=(url, start)) for _ in range(PROCESSES)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0] * PROCESSES, f"round {round_}"
        tables = set(inspect(create_engine(url)).get_table_names())
        assert {"screening_lists", "alerts", "ledger_journals"} <= tables
