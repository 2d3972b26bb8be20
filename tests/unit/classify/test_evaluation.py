"""The hierarchy-aware scoring rules of the routing labels."""

from __future__ import annotations

from feedback_classify.evaluation import scorecard


def test_a_prediction_below_a_must_label_hits_it_and_agrees() -> None:
    result = scorecard([("a", ["5.2.1"], ["5.2"], [])])
    assert (result.precision, result.recall) == (1.0, 1.0)


def test_a_coarser_prediction_earns_precision_but_not_recall() -> None:
    result = scorecard([("a", ["5.3"], ["5.3.1.6"], [])])
    assert (result.precision, result.recall) == (1.0, 0.0)
    assert result.misses == [("a", "5.3.1.6")]


def test_a_top_level_chapter_above_the_gold_is_not_agreement() -> None:
    result = scorecard([("a", ["5"], ["5.3.1.6"], [])])
    assert result.precision == 0.0 and result.wrong == [("a", "5")]


def test_may_labels_earn_precision_and_cost_no_recall() -> None:
    result = scorecard([("a", ["5.3.1.2", "2.4"], [], ["2.4", "5.3.1.2"])])
    assert (result.precision, result.recall, result.must) == (1.0, 1.0, 0)


def test_f1_is_micro_averaged_over_paragraphs() -> None:
    result = scorecard([("a", ["5.1", "7"], ["5.1"], []), ("b", [], ["5.2", "5.3"], [])])
    assert result.precision == 0.5 and result.recall == 1 / 3
    assert round(result.f1, 4) == 0.4
    assert result.sections["5.1"].precision == 1.0 and result.sections["5.2"].recall == 0.0
