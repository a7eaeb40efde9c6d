"""The unsupervised member: an IsolationForest, compiled into an XGBoost booster.

scikit-learn fits the forest (``IsolationForest``, which handles NaN natively); every isolation
tree is then written, node for node, into an XGBoost tree whose leaves hold the path length
scikit-learn assigns there (edges from the root + ``c(n_leaf)``). Summing the trees — one
``inplace_predict`` with ``output_margin`` — gives the forest's total path length, so

* ``score = 2 ** (-mean path length / c(max_samples))`` is exactly scikit-learn's anomaly score
  (``-score_samples``), in (0, 1], higher = more anomalous, at XGBoost's prediction speed
  (about 3× scikit-learn's, multithreaded, no Python per tree);
* ``pred_contribs`` attributes the path length to features (leaves hold path lengths and the
  nodes scikit-learn's sample counts as cover), which gives per-feature contributions to the
  anomaly score that add up exactly (see :meth:`AnomalyModel.contributions`).

Split semantics: scikit-learn sends ``x <= t`` left on float32 inputs; XGBoost sends
``x < c`` left, so ``c`` is the next float32 above the largest float32 ``<= t``. NaN follows
scikit-learn's ``missing_go_to_left`` (XGBoost's ``default_left``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import xgboost as xgb
from sklearn.ensemble import IsolationForest

from models.ensemble.matrix import as_matrix, booster_state, restore_booster


def average_path_length(n: np.ndarray | float) -> np.ndarray:
    """``c(n)``: average path length of an unsuccessful BST search among ``n`` points.

    >>> average_path_length(np.array([1, 2, 256])).round(3).tolist()
    [0.0, 1.0, 10.245]
    """
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _split_condition(threshold: float) -> np.float32:
    """XGBoost's ``x < c`` equivalent of scikit-learn's ``x <= threshold`` for float32 x."""
    f = np.float32(threshold)
    if float(f) > threshold:
        f = np.nextafter(f, np.float32(-np.inf))
    return np.nextafter(f, np.float32(np.inf))


def _bfs_order(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Old node ids in XGBoost's layout: breadth first, a right child right after its left one
    (XGBoost's predictor goes to ``left + (x >= c)``; scikit-learn numbers depth first)."""
    order = [0]
    for node in order:  # grows while iterating: a breadth-first walk
        if left[node] != -1:
            order += [int(left[node]), int(right[node])]
    return np.asarray(order)


def _tree_json(tree: object, features: np.ndarray, n_features: int, tree_id: int) -> dict:
    t = tree.tree_  # type: ignore[attr-defined]
    n = t.node_count
    old = _bfs_order(t.children_left, t.children_right)  # new id -> old id
    new_of = np.empty(n, dtype=np.int64)
    new_of[old] = np.arange(n)
    leaf = t.children_left[old] == -1
    left = np.where(leaf, -1, new_of[np.maximum(t.children_left[old], 0)])
    right = np.where(leaf, -1, new_of[np.maximum(t.children_right[old], 0)])
    depth_edges = (t.compute_node_depths() - 1)[old]
    leaf_value = depth_edges + average_path_length(t.n_node_samples[old])
    parents = np.full(n, 2147483647, dtype=np.int64)
    parents[left[~leaf]] = np.flatnonzero(~leaf)
    parents[right[~leaf]] = np.flatnonzero(~leaf)
    split_index = np.where(leaf, 0, features[np.maximum(t.feature[old], 0)]).astype(int)
    threshold = t.threshold[old]
    cond = np.array([float(leaf_value[i]) if leaf[i] else float(_split_condition(threshold[i]))
                     for i in range(n)])
    missing_left = getattr(t, "missing_go_to_left", np.zeros(n, dtype=np.uint8))[old]
    return {
        "base_weights": np.where(leaf, leaf_value, 0.0).astype(np.float32).tolist(),
        "categories": [], "categories_nodes": [], "categories_segments": [],
        "categories_sizes": [],
        "default_left": np.where(leaf, 0, missing_left).astype(int).tolist(),
        "id": tree_id,
        "left_children": left.tolist(),
        "loss_changes": [0.0] * n,
        "parents": parents.tolist(),
        "right_children": right.tolist(),
        "split_conditions": cond.astype(np.float32).tolist(),
        "split_indices": split_index.tolist(),
        "split_type": [0] * n,
        "sum_hessian": t.weighted_n_node_samples[old].astype(float).tolist(),
        "tree_param": {"num_deleted": "0", "num_feature": str(n_features),
                       "num_nodes": str(n), "size_leaf_vector": "1"},
    }


def compile_forest(forest: IsolationForest, feature_names: Sequence[str],
                   columns: Sequence[int] | None = None) -> xgb.Booster:
    """An XGBoost booster whose margin is the forest's summed path length.

    The booster reads all of ``feature_names``; the forest was fitted on ``columns`` of them
    (default: all), so the other features simply never appear in a split.
    """
    names = list(feature_names)
    n_features = len(names)
    cols = np.arange(n_features) if columns is None else np.asarray(columns)
    # a skeleton from a real (one-round) training run keeps every other field valid
    rng = np.random.default_rng(0)
    skeleton = xgb.train({"objective": "reg:squarederror", "base_score": 0.0, "max_depth": 1,
                          "nthread": 1},
                         xgb.DMatrix(rng.normal(size=(8, n_features)), rng.normal(size=8),
                                     feature_names=names), num_boost_round=1)
    model = json.loads(skeleton.save_raw("json"))
    # trees see the columns in their own subset only when features were subsampled
    subsampled = forest._max_features != len(cols)
    trees = [_tree_json(est, cols[np.asarray(feats)] if subsampled else cols, n_features, i)
             for i, (est, feats) in
             enumerate(zip(forest.estimators_, forest.estimators_features_, strict=True))]
    gbm = model["learner"]["gradient_booster"]["model"]
    gbm["trees"] = trees
    gbm["tree_info"] = [0] * len(trees)
    gbm["iteration_indptr"] = list(range(len(trees) + 1))
    gbm["gbtree_model_param"]["num_trees"] = str(len(trees))
    booster = xgb.Booster()
    booster.load_model(bytearray(json.dumps(model).encode()))
    booster.set_param({"nthread": 1})
    return booster


#: What the forest looks at by default: behaviour an account's own history makes unusual
#: (amount vs its past, new device/country/merchant, bursts, night activity) and the AML network
#: signals — not raw volumes, whose heavy tails mostly isolate big merchants and busy accounts.
ANOMALY_FEATURES = (
    "amount_log10", "card_not_present", "acct_amount_zscore", "acct_amount_ratio_to_mean",
    "acct_seconds_since_prev", "acct_new_merchant", "acct_new_device", "acct_new_country",
    "acct_local_night", "acct_count_1h", "acct_sum_1h", "acct_count_24h", "card_count_1h",
    "device_distinct_accounts_24h", "acct_distinct_cp_out_24h", "acct_structuring_count_24h",
    "acct_distinct_cp_in_24h", "acct_pass_through_24h", "cp_distinct_senders_24h",
    "cp_pass_through_24h",
)


class AnomalyModel:
    """IsolationForest anomaly score in (0, 1] over ``feature_names`` (higher = stranger).

    The forest splits on ``columns`` (default :data:`ANOMALY_FEATURES` where present, else all)
    but reads the full feature matrix. Fitted on the training rows not known to be fraud (a
    cleaner picture of "normal"); it never sees a label otherwise.
    """

    def __init__(self, feature_names: Sequence[str], booster: xgb.Booster | None,
                 n_trees: int, max_samples: int) -> None:
        self.feature_names = tuple(feature_names)
        self.booster = booster
        self.n_trees = n_trees
        self.max_samples = max_samples
        self.normaliser = float(n_trees * average_path_length(np.array([max_samples]))[0])
        self.columns = self.feature_names

    @classmethod
    def fit(cls, X: np.ndarray, feature_names: Sequence[str], *, n_estimators: int = 50,
            max_samples: int = 256, seed: int = 0,
            columns: Sequence[str] | None = None) -> AnomalyModel:
        names = list(feature_names)
        use = [c for c in (columns or ANOMALY_FEATURES) if c in names] or names
        idx = [names.index(c) for c in use]
        forest = IsolationForest(n_estimators=n_estimators, max_samples=min(max_samples, len(X)),
                                 random_state=seed, n_jobs=1)
        forest.fit(np.asarray(X, dtype=np.float32)[:, idx])
        model = cls(feature_names, compile_forest(forest, feature_names, idx), n_estimators,
                    int(forest.max_samples_))
        model.columns = tuple(use)
        model.forest_ = forest  # kept for verification; not pickled
        return model

    # -- scoring --------------------------------------------------------------------------
    def _booster(self) -> xgb.Booster:
        if self.booster is None:
            raise RuntimeError("anomaly booster not loaded")
        return self.booster

    def exponent(self, X: np.ndarray) -> np.ndarray:
        """``-mean path length / c(max_samples)`` (≤ 0; the log2 of the anomaly score)."""
        if len(X) == 0:
            return np.zeros(0)
        total = self._booster().inplace_predict(X, predict_type="margin", missing=np.nan)
        return -np.asarray(total, dtype=np.float64) / self.normaliser

    def score_matrix(self, X: np.ndarray) -> np.ndarray:
        return np.exp2(self.exponent(X))

    def score(self, X: object) -> np.ndarray:
        return self.score_matrix(as_matrix(X, self.feature_names))  # type: ignore[arg-type]

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature contributions to :meth:`exponent` (sum + bias = exponent), shape (n, F).

        Positive = the feature made the row easier to isolate (more anomalous). Saabas path
        attributions (``approx_contribs``: each split credits its feature with the change in
        the expected path length, ~100× faster than exact TreeSHAP on depth-8 trees).
        """
        if len(X) == 0:
            return np.zeros((0, len(self.feature_names)))
        dm = xgb.DMatrix(X, missing=np.nan, nthread=1)  # columns are in order: no names
        contribs = self._booster().predict(dm, pred_contribs=True, approx_contribs=True,
                                           validate_features=False)
        return -np.asarray(contribs[:, :-1], dtype=np.float64) / self.normaliser

    # -- pickling: the booster travels as its own raw format -------------------------------
    def __getstate__(self) -> dict:
        return booster_state(self, ("forest_",))

    def __setstate__(self, state: dict) -> None:
        restore_booster(self, state)
