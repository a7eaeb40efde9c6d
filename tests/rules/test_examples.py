"""The shipped example rules stay valid as features are renamed: they import cleanly."""

from pathlib import Path

from rules import RuleStore

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "examples"


def test_the_example_rules_import():
    store = RuleStore("sqlite://")
    for path in sorted(EXAMPLES.glob("*.yaml")):
        report = store.import_text(path.read_text(), "flowlet-test")
        assert report.new_versions, path
    assert len(store.listing()) >= 6
