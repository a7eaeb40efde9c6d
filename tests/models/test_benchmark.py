"""``flowlet bench models``' scoring part: every figure present, the XGBoost reference beside it."""

from flowlet.bench.models import scoring, tables
from models.ensemble import native


def test_scoring_reports_kernel_pyfunc_and_the_xgboost_reference(fitted):
    figures = scoring(fitted.model, fitted.prepared.X[:2_000], batches=(500,),
                      min_seconds=0.01)
    built = native.available()  # False on an install without a C compiler
    assert figures["native_kernel"] == float(built)
    for kind in ("score_frame", "pyfunc_predict", "xgboost_predictor"):
        assert figures[f"{kind}_rows_per_s_batch500_threads1"] > 0
    assert figures["contributions_rows_per_s_batch50_threads1"] > 0
    # the reference run put the kernel back
    assert (fitted.model._native is not None) == built
    figures.update(events=2_000, fit_rows=1_000)
    train, score, contrib = tables(figures)
    assert "native kernel" in str(score.title) and ("NOT" in str(score.title)) != built
    assert score.row_count == 1 and contrib.row_count == 2
