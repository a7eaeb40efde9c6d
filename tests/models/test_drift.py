"""Live feature drift against the training reference (``models.drift``)."""

import math

import numpy as np
import pytest

from models.drift import MIN_LIVE_ROWS, FeatureReference, drift_table
from models.monitoring import feature_psi

NAMES = ("steady", "moved", "went_missing", "constant")


def training_matrix(rng: np.random.Generator, n: int = 5000) -> np.ndarray:
    return np.column_stack([rng.normal(size=n), rng.lognormal(size=n), rng.normal(size=n),
                            np.zeros(n)])


def test_the_reference_gives_the_psi_of_the_raw_training_values():
    rng = np.random.default_rng(5)
    train, live = training_matrix(rng), training_matrix(rng, 800)
    live[:, 1] *= 1.5
    ref = FeatureReference.from_matrix(train, NAMES, "2026-01-01", "2026-02-01")
    for j, name in enumerate(NAMES):
        assert ref.psi(name, live[:, j]) == pytest.approx(feature_psi(train[:, j], live[:, j]))
    back = FeatureReference.from_dict(ref.to_dict())
    assert back == ref and back.rows == 5000 and back.window_end == "2026-02-01"


def test_shifted_features_are_ranked_first_and_named_in_plain_words():
    rng = np.random.default_rng(6)
    train = training_matrix(rng)
    ref = FeatureReference.from_matrix(train, NAMES, "2026-01-01", "2026-02-01")
    live = training_matrix(rng, 1000)
    live[:, 1] = live[:, 1] * 3 + 1  # amounts three times larger
    live[:500, 2] = np.nan  # half the values go missing
    table = drift_table(ref, dict(zip(NAMES, live.T, strict=True)))
    by_name = {r.feature: r for r in table}
    assert [r.feature for r in table[:2]] == sorted(
        ["moved", "went_missing"], key=lambda n: -by_name[n].psi)
    assert by_name["moved"].shift == by_name["went_missing"].shift == "major shift"
    assert by_name["steady"].shift == by_name["constant"].shift == "stable"
    assert by_name["went_missing"].live_missing == pytest.approx(0.5)
    assert by_name["went_missing"].reference_missing == 0.0


def test_a_moderate_shift_is_told_apart_from_a_major_one():
    rng = np.random.default_rng(7)
    ref = FeatureReference.from_matrix(rng.normal(size=(20_000, 1)), ("x",), "s", "e")
    moderate = ref.psi("x", rng.normal(0.45, size=20_000))
    major = ref.psi("x", rng.normal(1.0, size=20_000))
    assert 0.1 <= moderate < 0.25 < major


def test_too_few_live_rows_or_an_unknown_feature_give_no_psi():
    rng = np.random.default_rng(8)
    ref = FeatureReference.from_matrix(rng.normal(size=(1000, 1)), ("x",), "s", "e")
    table = drift_table(ref, {"x": rng.normal(size=MIN_LIVE_ROWS - 1),
                              "new": rng.normal(size=500)})
    assert all(math.isnan(r.psi) for r in table)
    assert {r.feature: r.shift for r in table} == {"x": "too few live rows",
                                                   "new": "no reference"}


def test_the_scorers_sample_keeps_the_latest_rows_of_each_batch():
    import pandas as pd

    from models.serving.live_drift import LiveFeatureDrift

    sample = LiveFeatureDrift(sample_rows=40, rows_per_batch=16)
    names = ("x", "y")
    for batch in range(5):  # 80 rows sampled into 40 slots
        frame = pd.DataFrame({"x": np.full(100, float(batch)), "y": np.arange(100.0)})
        sample.add(frame, names)
    summary = sample.summary()
    assert summary["live_rows"] == 40 and summary["reference"] is None
    batches, counts = np.unique(sample._buffer[:, 0], return_counts=True)
    # the latest 40 of 5 × 16: batches 4 and 3 whole, the last 8 rows of batch 2
    assert dict(zip(batches.tolist(), counts.tolist(), strict=True)) == {2.0: 8, 3.0: 16,
                                                                         4.0: 16}
    assert set(sample._buffer[:, 1]) >= {0.0, 99.0}  # evenly spaced, ends included
    rng = np.random.default_rng(9)
    sample.use("m/2", FeatureReference.from_matrix(rng.normal(size=(500, 2)), names, "s", "e"))
    summary = sample.summary()
    assert summary["model"] == "m/2" and summary["reference"]["rows"] == 500
    assert summary["worst"] == []  # 40 live rows: too few to read a PSI from
