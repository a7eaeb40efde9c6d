"""The native kernel gives XGBoost's margins bit for bit, on every input layout the scorer meets."""

import json
import multiprocessing
import os
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from features import FEATURE_NAMES
from models.ensemble import native
from models.ensemble.native import NODE, NativeForest, compile_booster

needs_kernel = pytest.mark.skipif(not native.available(),
                                  reason="installed without a C compiler: no native kernel")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler on this machine")
def test_the_kernel_is_built_on_a_machine_with_a_c_compiler():
    # without the kernel the scorer falls back to XGBoost at a fraction of the throughput
    assert native.available()


def _data(seed: int, n: int = 3_000, features: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    X[rng.random(X.shape) < 0.15] = np.nan  # missing values take each node's default
    X[:, 2] = np.round(X[:, 2], 1)  # ties with split thresholds
    y = (np.nan_to_num(X[:, 0]) + rng.normal(scale=0.5, size=n) > 0.3).astype(float)
    return X, y


def _margins(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    out = booster.inplace_predict(X, predict_type="margin", missing=np.nan)
    return np.asarray(out).reshape(len(X), -1)


def _contributions(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    """XGBoost's Saabas attributions ``(n, outputs, features)``, bias column dropped."""
    out = booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True,
                          approx_contribs=True, validate_features=False)
    return np.asarray(out).reshape(len(X), -1, X.shape[1] + 1)[:, :, :-1]


@pytest.mark.parametrize(("objective", "depth", "rounds", "seed"), [
    ("binary:logistic", 4, 30, 0), ("binary:logistic", 8, 10, 1),
    ("reg:squarederror", 6, 20, 2), ("binary:logitraw", 3, 1, 3),
    ("binary:logistic", 1, 5, 4),
])
@needs_kernel
def test_margins_and_contributions_equal_xgboost_bit_for_bit(objective, depth, rounds, seed):
    X, y = _data(seed)
    booster = xgb.train({"objective": objective, "max_depth": depth, "seed": seed,
                         "eta": 0.3, "nthread": 1},
                        xgb.DMatrix(X, label=y, missing=np.nan), num_boost_round=rounds)
    forest = compile_booster(booster)
    assert forest is not None
    np.testing.assert_array_equal(forest.margins(X), _margins(booster, X))
    np.testing.assert_array_equal(forest.contributions(X), _contributions(booster, X))


@needs_kernel
def test_the_ensembles_fused_booster_on_every_layout_batch_size_and_thread_count(fitted):
    model = fitted.model
    booster = model._fused_booster()
    forest = model._native
    assert forest is not None
    X = fitted.prepared.X[:4_000].astype(np.float64)
    X[::5, 7] = np.nan
    expected = _margins(booster, X)
    expected_contributions = _contributions(booster, X[:300])
    frame = pd.DataFrame(X, columns=list(FEATURE_NAMES)).to_numpy()  # column-major view
    assert not frame.flags.c_contiguous
    layouts = {"C float64": X, "F float64": frame, "C float32": X.astype(np.float32),
               "F float32": np.asfortranarray(X.astype(np.float32)),
               "strided rows": np.repeat(X, 2, axis=0)[::2]}
    for name, data in layouts.items():
        for n in (0, 1, 15, 16, 17, 65, 1_000, 4_000):
            for threads in (1, 2):
                got = forest.margins(data[:n], threads=threads)
                assert got.shape == (n, 2)
                np.testing.assert_array_equal(got, expected[:n], err_msg=f"{name} n={n}")
        got = forest.contributions(data[:300], threads=2)
        np.testing.assert_array_equal(got, expected_contributions, err_msg=name)


def test_ensemble_scores_and_reasons_are_the_same_with_and_without_the_kernel(
        fitted, monkeypatch):
    model = fitted.model
    X = pd.DataFrame(fitted.prepared.X[:2_000].astype(np.float64), columns=list(FEATURE_NAMES))
    with_kernel, reasons = model.score_frame(X), model.contributions(X)
    monkeypatch.setattr(model, "_native", None)
    pd.testing.assert_frame_equal(model.score_frame(X), with_kernel, check_exact=True)
    np.testing.assert_array_equal(model.contributions(X), reasons)


def test_without_the_extension_compile_returns_none_and_the_ensemble_uses_xgboost(
        fitted, monkeypatch):
    X = fitted.prepared.X[:500]
    expected = fitted.model.score(X)
    monkeypatch.setattr(native, "_forest", None)
    assert compile_booster(fitted.model._fused_booster()) is None
    again = pickle.loads(pickle.dumps(fitted.model))  # rebuilt while the kernel is "missing"
    assert again._native is None
    np.testing.assert_array_equal(again.score(X), expected)


@needs_kernel
def test_wrong_feature_count_is_refused(fitted):
    with pytest.raises(ValueError, match="features"):
        fitted.model._native.margins(np.zeros((3, 5)))


@needs_kernel
def test_the_kernel_refuses_arrays_that_point_outside_the_forest():
    leaf = np.zeros(3, dtype=np.float32)
    nodes = np.array([(0.5, 1, 0), (np.nan, 0, 1), (np.nan, 1, 1)], dtype=NODE)
    ok = NativeForest(nodes, leaf, np.zeros(1, np.int32), np.ones(1, np.int32),
                      np.zeros(1, np.int32), np.zeros(1, np.float32), n_features=1)
    assert ok.margins(np.array([[0.0], [1.0]])).shape == (2, 1)
    for bad_nodes, message in (
            (np.array([(0.5, 2, 0), (np.nan, 0, 1), (np.nan, 1, 1)], dtype=NODE), "outside"),
            (np.array([(0.5, 1, 4), (np.nan, 0, 1), (np.nan, 1, 1)], dtype=NODE), "feature")):
        bad = NativeForest(bad_nodes, leaf, ok.roots, ok.depths, ok.groups, ok.base, 1)
        with pytest.raises(ValueError, match=message):
            bad.margins(np.array([[0.0]]))


def test_categorical_splits_fall_back_to_xgboost():
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"c": pd.Categorical(rng.choice(list("abcd"), 500)),
                      "x": rng.normal(size=500)})
    y = (X["c"].isin(["a", "b"])).astype(float)
    booster = xgb.train({"max_depth": 2, "nthread": 1},
                        xgb.DMatrix(X, label=y, enable_categorical=True), num_boost_round=3)
    assert compile_booster(booster) is None


# -- what a caller of the raw kernel cannot do (a review's findings, each a crash before) ----
def _small_forest() -> NativeForest:
    nodes = np.array([(0.5, 1, 0), (np.nan, 0, 0), (np.nan, 1, 0)], dtype=NODE)
    return NativeForest(nodes, np.array([0.0, -1.0, 1.0], np.float32), np.zeros(1, np.int32),
                        np.ones(1, np.int32), np.zeros(1, np.int32), np.zeros(1, np.float32), 1)


def _raw(forest: NativeForest, x: np.ndarray, out: np.ndarray, **swap: np.ndarray) -> None:
    arrays = {"nodes": forest.nodes, "mean": forest.mean, "roots": forest.roots,
              "depths": forest.depths, "groups": forest.groups, "base": forest.base, **swap}
    native._forest.predict(*arrays.values(), x, out, 0, len(x))


@needs_kernel
def test_a_child_index_that_overflows_int32_is_refused():
    forest = _small_forest()
    nodes = forest.nodes.copy()
    nodes[0]["next"] = 2**31 - 1
    with pytest.raises(ValueError, match="outside"):
        _raw(forest, np.zeros((1, 1)), np.zeros((1, 1), np.float32), nodes=nodes)


@needs_kernel
def test_sizes_that_overflow_are_refused_not_wrapped():
    forest = _small_forest()
    huge = np.broadcast_to(np.zeros((1, 1), np.float32), (2**60, 1))  # no memory behind it
    with pytest.raises(ValueError, match="out must be"):
        _raw(forest, huge, np.zeros((0, 4), np.float32), base=np.zeros(4, np.float32))
    wide = np.broadcast_to(np.zeros((1, 1), np.float32), (1, 2**40))
    with pytest.raises(ValueError, match="features"):
        _raw(forest, wide, np.zeros((1, 1), np.float32))


@needs_kernel
def test_wrong_dtypes_are_refused():
    forest = _small_forest()
    with pytest.raises(TypeError, match="int32"):
        _raw(forest, np.zeros((1, 1)), np.zeros((1, 1), np.float32),
             roots=np.zeros(1, np.int64))


@needs_kernel
def test_an_out_array_overlapping_the_nodes_cannot_redirect_the_walk():
    forest = _small_forest()
    x = np.array([[0.0], [1.0], [np.nan]])
    expected = forest.margins(x)
    nodes = forest.nodes.copy()
    out = nodes.view(np.float32)[:3].reshape(3, 1)  # writing scores over the nodes' fields
    _raw(forest, x, out, nodes=nodes)
    np.testing.assert_array_equal(out, expected)


def test_a_minus_inf_split_sending_missing_values_left_falls_back_to_xgboost():
    X, y = _data(6)
    booster = xgb.train({"max_depth": 1, "nthread": 1}, xgb.DMatrix(X, label=y),
                        num_boost_round=1)
    model = json.loads(booster.save_raw("json"))
    tree = model["learner"]["gradient_booster"]["model"]["trees"][0]
    tree["split_conditions"][0], tree["default_left"][0] = float("-inf"), 1
    with pytest.raises(ValueError, match="-inf"):
        native.from_model_json(model)


def _score_in_child(forest: NativeForest, x: np.ndarray, expected: np.ndarray) -> None:
    os._exit(0 if np.array_equal(forest.margins(x, threads=2), expected) else 1)


@needs_kernel
def test_a_forked_child_can_score_on_threads_after_its_parent_did():
    forest = _small_forest()
    x = np.random.default_rng(0).normal(size=(1_000, 1))
    expected = forest.margins(x, threads=2)  # the parent's pool exists now
    child = multiprocessing.get_context("fork").Process(target=_score_in_child,
                                                        args=(forest, x, expected))
    child.start()
    child.join(timeout=60)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and child.exitcode == 0
