"""Click models: the preset tables as published and scaled to a judgment scale, click rates
that match the model's probabilities, and the stopping rules of cascade and DBN."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import SpecError
from harness.online.click_models import build_click_model
from harness.online.click_presets import preset_tables
from harness.sections import ClickModelConfig


def _model(word_or_dict: object, top: int = 3, depth: int = 10):  # type: ignore[no-untyped-def]
    return build_click_model(ClickModelConfig.model_validate(word_or_dict), top, depth)


def test_presets_are_the_published_tables() -> None:
    assert preset_tables("informational", 4).attractiveness == (0.4, 0.6, 0.7, 0.8, 0.9)
    assert preset_tables("navigational", 4).stop == (0.2, 0.3, 0.5, 0.7, 0.9)
    assert preset_tables("perfect", 2).attractiveness == (0.0, 0.5, 1.0)
    assert preset_tables("informational", 1).stop == (0.1, 0.5)
    # 0-3 (TREC DL) reads the 5-grade table at 0, 4/3, 8/3 and 4.
    scaled = preset_tables("informational", 3)
    assert scaled.attractiveness == pytest.approx((0.4, 0.6 + 0.1 / 3, 0.7 + 0.2 / 3, 0.9))
    assert "interpolated" in scaled.source


def test_pbm_click_rates_match_its_probabilities() -> None:
    model = _model({"type": "pbm", "attractiveness": [0.1, 0.5, 0.7, 0.9], "examination": [1.0, 0.6, 0.3]}, depth=3)
    grades = np.tile(np.asarray([[3, 1, 2]]), (200_000, 1))
    rate = model.clicks(grades, np.random.default_rng(0)).mean(axis=0)
    assert rate == pytest.approx([0.9, 0.6 * 0.5, 0.3 * 0.7], abs=0.005)
    # (1/rank)^eta by default.
    assert _model("pbm-perfect").info.examination[:3] == pytest.approx([1.0, 0.5, 1 / 3])


def test_empty_slots_are_never_clicked() -> None:
    model = _model({"type": "pbm", "attractiveness": [1.0, 1.0], "examination": [1.0, 1.0]}, top=1, depth=2)
    clicks = model.clicks(np.asarray([[1, -1]] * 100), np.random.default_rng(0))
    assert clicks[:, 0].all()
    assert not clicks[:, 1].any()


def test_cascade_stops_and_perfect_reads_on() -> None:
    grades = np.tile(np.asarray([[3, 3, 0, 3, 2]]), (20_000, 1))
    one_click = _model({"type": "cascade", "attractiveness": [0.2, 0.5, 0.6, 0.9], "stop": [1.0] * 4}, depth=5)
    clicks = one_click.clicks(grades, np.random.default_rng(1))
    assert clicks.sum(axis=1).max() == 1
    assert clicks[:, 0].mean() == pytest.approx(0.9, abs=0.01)
    assert clicks[:, 1].mean() == pytest.approx(0.1 * 0.9, abs=0.01)
    # perfect: never stops, clicks every grade-3 document, never a grade-0 one.
    perfect = _model("cascade-perfect", depth=5).clicks(grades, np.random.default_rng(1))
    assert perfect[:, [0, 1, 3]].all()
    assert not perfect[:, 2].any()


def test_dbn_continuation() -> None:
    grades = np.tile(np.asarray([[0, 3, 3]]), (20_000, 1))
    stuck = _model({"type": "dbn", "preset": "perfect", "continuation": 0.0}, depth=3)
    assert not stuck.clicks(grades, np.random.default_rng(2))[:, 1:].any()
    patient = _model({"type": "dbn", "preset": "perfect", "continuation": 1.0}, depth=3)
    assert patient.clicks(grades, np.random.default_rng(2))[:, 1:].all()


def test_parameters_that_do_not_fit_the_judgments_are_refused() -> None:
    with pytest.raises(SpecError, match="attractiveness lists 2 grades, the judgments have 4"):
        _model({"type": "pbm", "attractiveness": [0.1, 0.9]})
    with pytest.raises(SpecError, match="examination covers 3 ranks, depth is 10"):
        _model({"type": "pbm", "preset": "perfect", "examination": [1.0, 0.5, 0.2]})
