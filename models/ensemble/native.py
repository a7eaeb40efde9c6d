"""An XGBoost booster's margins from a small C kernel (``models/ensemble/_forest.c``), several
times faster.

``xgb.Booster.inplace_predict`` walks each row down each tree with a data-dependent branch per
node and pays ~0.3 ms of fixed cost per call (``models.ensemble.fused``). The kernel instead
flattens the trees into one array whose children sit side by side, makes leaves point at themselves,
copies each row twice (NaN as +inf for nodes that send missing values right, -inf for the
others) and advances a block of 16 rows through every tree for exactly that tree's depth with no
branch on the data — the same numbers (float32 features, ``x < c`` left, NaN to the node's
default, float32 leaves summed in tree order onto the base margin; the contract test checks
them against XGBoost's bit for bit) at a fraction of the time.

The kernel copies and validates every array it indexes with before it releases the GIL
(sizes checked for overflow, dtypes checked), so no argument — overlapping, changing under
another thread, or hand-made — makes it read or write outside its buffers.

The extension is built by ``pip install`` when a C compiler is there (``setup.py``, an
optional extension; ``make ext`` or ``python setup.py build_ext --inplace`` rebuilds it in a
checkout); without it :func:`compile_booster` returns ``None`` and the caller keeps XGBoost's
predictor.

>>> import numpy as np, xgboost as xgb
>>> X = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
>>> booster = xgb.train({"max_depth": 3}, xgb.DMatrix(X, label=X[:, 0] > 0),
...                     num_boost_round=5)
>>> forest = compile_booster(booster)
>>> forest is None or bool((forest.margins(X)[:, 0] == booster.inplace_predict(
...     X, predict_type="margin")).all())
True
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import xgboost as xgb

try:
    from models.ensemble import _forest
except ImportError:  # no C compiler when the package was installed
    _forest = None

log = logging.getLogger(__name__)

#: One node, as ``_forest.c``'s ``node_t``: a leaf has a NaN threshold and points at itself.
NODE = np.dtype([("threshold", "<f4"), ("next", "<i4"), ("slot", "<i4")])
_BLOCK = 16  # rows per block in the kernel; a thread gets whole blocks
#: objectives whose margin starts from ``logit(base_score)`` / ``base_score`` itself
_LOGIT_BASE = {"binary:logistic", "reg:logistic"}
_IDENTITY_BASE = {"binary:logitraw", "reg:squarederror", "reg:pseudohubererror",
                  "reg:absoluteerror"}


def available() -> bool:
    """Whether the C kernel was built with this installation."""
    return _forest is not None


@dataclass(frozen=True)
class NativeForest:
    """A booster's trees as the kernel reads them; :meth:`margins` is ``predict_type="margin"``."""

    nodes: np.ndarray   # NODE, every tree's nodes one after the other
    mean: np.ndarray    # float32 per node: a leaf's value; a split's cover-weighted mean of them
    roots: np.ndarray   # int32 per tree
    depths: np.ndarray  # int32 per tree: the deepest leaf's depth in edges
    groups: np.ndarray  # int32 per tree: the output it adds to
    base: np.ndarray    # float32 per output: the base margin
    n_features: int

    def __post_init__(self) -> None:
        for array in (self.nodes, self.mean, self.roots, self.depths, self.groups, self.base):
            array.setflags(write=False)  # the kernel also copies what it indexes with

    def margins(self, X: np.ndarray, threads: int = 1) -> np.ndarray:
        """``(len(X), outputs)`` float32 margins of a 2-D float32/float64 array (any strides)."""
        X = self._check(X)
        out = np.empty((len(X), len(self.base)), dtype=np.float32)
        self._run(_forest.predict, X, out, threads)  # type: ignore[union-attr]
        return out

    def contributions(self, X: np.ndarray, threads: int = 1) -> np.ndarray:
        """``(len(X), outputs, features)`` float32 path attributions, XGBoost's
        ``pred_contribs=True, approx_contribs=True`` without its bias column."""
        X = self._check(X)
        out = np.zeros((len(X), len(self.base), self.n_features), dtype=np.float32)
        self._run(_forest.contributions, X, out, threads)  # type: ignore[union-attr]
        return out

    def _check(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected (n, {self.n_features}) features, got {X.shape}")
        return X if X.dtype in (np.float32, np.float64) else X.astype(np.float32)

    def _run(self, kernel: Callable[..., None], X: np.ndarray, out: np.ndarray,
             threads: int) -> None:
        args = (self.nodes, self.mean, self.roots, self.depths, self.groups, self.base, X, out)
        n = len(X)
        blocks = -(-n // _BLOCK)
        if threads <= 1 or blocks < 2:
            kernel(*args, 0, n)
            return
        per = -(-blocks // threads) * _BLOCK
        list(_pool().map(lambda s: kernel(*args, s, min(n, s + per)), range(0, n, per)))


_pool_lock = threading.Lock()
_pool_of: dict[int, ThreadPoolExecutor] = {}


def _pool() -> ThreadPoolExecutor:
    """Threads for multi-threaded scoring (the kernel releases the GIL); one pool per process,
    so a forked child does not wait on its parent's worker threads, which it does not have."""
    with _pool_lock:
        pool = _pool_of.get(os.getpid())
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                      thread_name_prefix="forest")
            _pool_of.clear()
            _pool_of[os.getpid()] = pool
        return pool


def compile_booster(booster: xgb.Booster) -> NativeForest | None:
    """The booster's trees for the kernel, or ``None`` (logged) when it cannot take them:
    no compiled kernel, categorical splits, vector leaves or an objective it does not know."""
    if _forest is None:
        log.info("models.ensemble._forest is not built: scoring with XGBoost's predictor")
        return None
    model = json.loads(booster.save_raw("json"))
    try:
        return from_model_json(model)
    except ValueError as exc:
        log.warning("scoring with XGBoost's predictor: %s", exc)
        return None


def _base_margins(learner: dict) -> np.ndarray:
    """XGBoost's base margin per output, computed as it does in float32."""
    params = learner["learner_model_param"]
    base = np.array([float(v) for v in params["base_score"].strip("[]").split(",")],
                    dtype=np.float32)
    objective = learner["objective"]["name"]
    if objective in _LOGIT_BASE:
        return np.array([_forest.logit(float(p)) for p in base], dtype=np.float32)  # type: ignore[union-attr]
    if objective in _IDENTITY_BASE:
        return base
    raise ValueError(f"objective {objective!r} is not supported by the native kernel")


def from_model_json(model: dict) -> NativeForest:
    """Flatten XGBoost's JSON model: breadth first per tree, so each right child is its left
    sibling + 1; a leaf points at itself (``next = self - 1``, NaN threshold)."""
    learner = model["learner"]
    gbm = learner["gradient_booster"]
    if gbm["name"] != "gbtree":
        raise ValueError(f"booster {gbm['name']!r} is not a tree ensemble")
    trees = gbm["model"]["trees"]
    tree_info = gbm["model"]["tree_info"]
    base = _base_margins(learner)
    n_features = int(learner["learner_model_param"]["num_feature"])
    nodes, mean, roots, depths = [], [], [], []
    offset = 0
    for tree in trees:
        if any(int(t) != 0 for t in tree["split_type"]):
            raise ValueError("categorical splits are not supported by the native kernel")
        if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1:
            raise ValueError("vector leaves are not supported by the native kernel")
        t_nodes, t_mean, depth = _flatten(tree, offset, n_features)
        nodes.append(t_nodes)
        mean.append(t_mean)
        roots.append(offset)
        depths.append(depth)
        offset += len(t_nodes)
    all_nodes = np.concatenate(nodes) if nodes else np.zeros(1, NODE)
    if not nodes:  # no trees: one leaf nobody visits keeps the arrays non-empty
        all_nodes[0] = (np.nan, -1, 0)
    groups = np.asarray(tree_info, dtype=np.int32)
    if len(groups) != len(trees) or (len(groups) and groups.max() >= len(base)):
        raise ValueError("tree_info does not match the model's outputs")
    return NativeForest(nodes=all_nodes,
                        mean=np.concatenate(mean) if mean else np.zeros(1, np.float32),
                        roots=np.asarray(roots, dtype=np.int32),
                        depths=np.asarray(depths, dtype=np.int32), groups=groups,
                        base=base, n_features=n_features)


def _flatten(tree: dict, offset: int, n_features: int) -> tuple[np.ndarray, np.ndarray, int]:
    """One tree's nodes; a split reads slot ``feature`` (missing → +inf, goes right) or, when
    XGBoost sends missing values left, ``feature + n_features`` (missing → -inf)."""
    left, right = tree["left_children"], tree["right_children"]
    order, depth_of = [0], [0]  # old ids breadth first; grows while walked
    for i, old in enumerate(order):
        if left[old] != -1:
            order += [left[old], right[old]]
            depth_of += [depth_of[i] + 1] * 2
    new_of = {old: i for i, old in enumerate(order)}
    out = np.zeros(len(order), dtype=NODE)
    cond = np.asarray(tree["split_conditions"], dtype=np.float32)
    hess = np.asarray(tree["sum_hessian"], dtype=np.float32)
    feature = tree["split_indices"]
    default_left = tree["default_left"]
    mean = np.zeros(len(order), dtype=np.float32)
    slot = np.zeros(len(order), dtype=np.int64)
    for i, old in enumerate(order):  # parents first: a leaf reads its parent's slot
        if left[old] != -1:
            if default_left[old] and cond[old] == -np.inf:
                # missing values are read as -inf on this side, which is not < -inf
                raise ValueError("a -inf split sending missing values left")
            slot[i] = int(feature[old]) + (n_features if default_left[old] else 0)
            slot[new_of[left[old]]] = slot[new_of[right[old]]] = slot[i]
    for i in range(len(order) - 1, -1, -1):  # children (later in the order) first
        old = order[i]
        if left[old] == -1:
            # a leaf's self-steps credit mean - mean (0; NaN for an infinite leaf, which
            # XGBoost also puts on the last split's feature) to its parent's feature
            out[i] = (np.nan, offset + i - 1, slot[i])
            mean[i] = cond[old]
        else:
            out[i] = (cond[old], offset + new_of[left[old]], slot[i])
            # XGBoost's FillNodeMeanValues, in float32 as it computes it
            lo, hi = new_of[left[old]], new_of[right[old]]
            total = mean[lo] * hess[left[old]]
            total += mean[hi] * hess[right[old]]
            mean[i] = total / hess[old]
    return out, mean, max(depth_of)
