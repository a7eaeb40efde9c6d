"""Lists in OpenSanctions' simple CSV format and fuzzy name matching, without the stream."""

from __future__ import annotations

import pytest

from core.settings import Settings
from screening import SAMPLE_LIST, ListFileError, ListStore, Matcher, read_list
from screening.lists import COLUMNS

THRESHOLD = Settings().screening_threshold


@pytest.fixture(scope="module")
def matcher():
    return Matcher(read_list(SAMPLE_LIST), THRESHOLD)


@pytest.mark.parametrize(("name", "entry"), [
    ("Mohammed Karim Haddad", "syn-s-0003"),  # as listed
    ("Mohamed Karim Hadad", "syn-s-0003"),  # spelling variant
    ("HADDAD, Mohammed Karim", "syn-s-0003"),  # word order and punctuation
    ("Мохаммед Карим Хаддад", "syn-s-0003"),  # Cyrillic, transliterated
    ("Иван Петров", "syn-s-0001"),  # Cyrillic without the patronymic
    ("Ivan Petrov", "syn-s-0001"),  # Latin without the patronymic
    ("Nordwind Shiping Ltd.", "syn-s-0002"),  # typo and legal form
    ("Jurgen Konig", "syn-p-0002"),  # accents dropped (listed: Jürgen König)
])
def test_sanctioned_names_and_their_variants_match(matcher, name, entry):
    found = matcher.match(name)
    assert found and found[0].entry_id == entry
    assert found[0].score >= THRESHOLD


@pytest.mark.parametrize("name", [
    "Ivan Petrenko", "Ivana Petrovic", "Ivan Smirnov", "Kim Chul", "Crescent Shipping",
    "Elena Moreno Garcia", "Maria Lopez", "Ivan", "Petrov Trading", "",
])
def test_unrelated_similar_names_stay_below_the_threshold(matcher, name):
    assert matcher.match(name) == []
    # they are similar, not unrelated noise: some entry scores well above zero
    if len(name) > 4:
        assert max(m.score for m in Matcher(read_list(SAMPLE_LIST), 0).match(name)) >= 40


def test_pep_and_sanctions_entries_are_told_apart():
    kinds = {e.entry_id: e.kind for e in read_list(SAMPLE_LIST)}
    assert kinds["syn-p-0001"] == "pep" and kinds["syn-s-0001"] == "sanctions"


def _write(tmp_path, *rows: str, header: str = ",".join(COLUMNS)):
    path = tmp_path / "list.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


GOOD = "x-1,Person,Ada Bad,,1970,ru,,,Some regime,,,Synthetic,,,"


def test_a_file_with_bad_rows_names_each_line_and_loads_nothing(tmp_path):
    store = ListStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert store.load(SAMPLE_LIST).entries == 10
    bad = _write(tmp_path, GOOD,
                 ",Person,No Id,,,,,,,,,,,,",  # line 3
                 "x-2,Person,,,,,,,,,,,,,",  # line 4
                 "x-3,Person,Bad Date,,1970-02-30,,,,,,,,,,",  # line 5
                 "x-1,Person,Again,,,,,,,,,,,,",  # line 6: repeated id
                 "x-4,Person,Short,row",  # line 7: too few columns
                 "x-5,Person,Seen,,,,,,,,,,yesterday,,")  # line 8
    with pytest.raises(ListFileError) as err:
        store.load(bad)
    assert err.value.errors == [
        "line 3: id: empty",
        "line 4: name: empty",
        "line 5: birth_date: '1970-02-30' is not YYYY, YYYY-MM or YYYY-MM-DD",
        "line 6: id: 'x-1' repeats line 2",
        "line 7: 15 columns expected, found fewer",
        "line 8: first_seen: 'yesterday' is not an ISO 8601 time",
    ]
    version, entries = store.current()  # the previous list is still the one in use
    assert version == 1 and len(entries) == 10


def test_a_missing_column_or_a_non_utf8_file_is_refused(tmp_path):
    with pytest.raises(ListFileError, match=r"line 1: header: missing column\(s\) dataset"):
        read_list(_write(tmp_path, header=",".join(c for c in COLUMNS if c != "dataset")))
    path = tmp_path / "latin1.csv"
    path.write_bytes((",".join(COLUMNS) + "\nx-1,Person,J\xfcrgen,,,,,,,,,,,,\n").encode("latin-1"))
    with pytest.raises(ListFileError, match="not UTF-8"):
        read_list(path)


def test_a_good_load_replaces_the_list_as_a_new_version(tmp_path):
    store = ListStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.load(SAMPLE_LIST)
    report = store.load(_write(tmp_path, GOOD))
    assert (report.version, report.entries, report.by_kind) == (2, 1, {"sanctions": 1})
    version, entries = store.current()
    assert version == 2 and [e.entry_id for e in entries] == ["x-1"]


def test_screening_source_and_whitelist_on_each_database(db_url):
    from datetime import UTC, datetime

    from cases import CaseStore
    from core.contract import CustomerEvent
    from screening import ScreeningSource

    store = ListStore(db_url)
    store.load(SAMPLE_LIST)
    source = ScreeningSource(store.engine, THRESHOLD)
    cases = CaseStore(store.engine)
    onboarding = CustomerEvent(event_id="kyc-1", account_id="acc-1", version=1,
                               occurred_at=datetime(2026, 11, 2, tzinfo=UTC),
                               customer_type="business", name="Nordwind Shipping Co.",
                               country="CY", onboarded_on="2026-11-01")
    (hit,) = source.on_customers([onboarding])
    assert (hit["source"], hit["reason_codes"][0]) == ("screening:sanctions", "entry:syn-s-0002")
    assert cases.record_alerts([hit]) == 1
    cases.add_user("ana", "analyst", "a long enough password")
    (case,) = cases.cases()
    cases.decide(case["case_id"], "not_fraud", "ana", "a namesake")
    update = onboarding.model_copy(update={"event_id": "kyc-2", "version": 2})
    assert source.on_customers([update]) == []


def test_simulated_profiles_hit_only_where_a_listed_name_was_planted(matcher):
    from simulator.kyc import LISTED_NAMES, customer_events
    from simulator.profiles import build_world

    events = customer_events(build_world(seed=5, customers=2000, merchants=10))
    hits = {e.name for e in events if matcher.match(e.name)}
    planted = {e.name for e in events if e.name in LISTED_NAMES}
    assert planted and hits == planted
