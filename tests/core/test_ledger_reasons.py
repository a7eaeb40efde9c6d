"""The kinds of the ledger's rejection reasons: one classification whether the rejection cube
computes it (polars, as rows arrive) or a reader asks the rows (SQL LIKE)."""

import duckdb
import polars as pl

from core.ledger_reasons import KIND_PREFIX, NO_REASON, REASON_KINDS, kind_expr, kind_of, words_of

REASONS = [
    "insufficient funds: wallet:acct-1 has 0 EUR available, needs 5",
    "insufficient funds",
    "Insufficient funds: case matters",
    "no EUR->JPY FX rate as of 2026-05-01T00:00:00+00:00",
    "12 EUR converts to nothing in JPY",
    "authorization auth-7 is unknown",
    "authorization auth-7 is unknown, really",  # the pattern is anchored at the end
    "authorization a.* is not pending (captured)",
    "authorization auth-8 belongs to another account",
    "tx-9 was not posted",
    "tx-9 is a reversal",
    "tx-3 opens or closes a card hold",
    "hold h-1 is not pending",
    "line one\ninsufficient funds",  # % matches at the start only when the text starts so
    "insufficient funds\nsecond line",
    "100% [regex] (chars) ^$ \\",
    "",
]


def sql_kinds(reasons: list[str | None]) -> list[str | None]:
    """The same question asked with SQL LIKE, as the Ledger page's fallback asks the rows."""
    quote = lambda text: "'" + text.replace("'", "''") + "'"  # noqa: E731
    cases = " ".join(f"WHEN r LIKE {quote(pattern)} THEN {quote(KIND_PREFIX + key)}"
                     for key, pattern, _ in REASON_KINDS)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, r VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(reasons)))
    return [k for (k,) in con.sql(f"SELECT CASE {cases} ELSE r END FROM t ORDER BY i").fetchall()]


def test_python_polars_and_sql_like_classify_alike():
    reasons: list[str | None] = [*REASONS, None]
    want = sql_kinds(reasons)
    assert [kind_of(r) for r in reasons] == want
    got = pl.DataFrame({"r": reasons}, schema={"r": pl.String}).select(
        kind_expr(pl.col("r"))).to_series().to_list()
    assert got == want
    # Not vacuous: most of them are kinds, some are not.
    kinds = [k for k in want if k and k.startswith(KIND_PREFIX)]
    assert len({*kinds}) == len(REASON_KINDS) and len(kinds) < len(REASONS)


def test_words_name_every_kind_and_leave_other_reasons_as_written():
    for key, _, words in REASON_KINDS:
        assert words_of(KIND_PREFIX + key) == words
    assert words_of("a reason no kind knows") == "a reason no kind knows"
    assert words_of(None) == NO_REASON
    assert words_of(KIND_PREFIX + "retired_kind") == "retired_kind"
