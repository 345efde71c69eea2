"""The cascade model (Craswell et al., WSDM 2008), with per-grade stopping as the online
learning-to-rank literature simulates it (Hofmann et al., TOIS 2013): the user reads top-down,
clicks an examined document with its grade's attractiveness, and after a click stops with its
grade's stop probability. `stop` all 1 is the original cascade (one click at most); a fitted
cascade model is that original one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.online.click_models import CLICK_MODELS, ClickModel, ClickModelType, per_grade
from harness.online.click_models.pbm import fitted_attractiveness
from harness.online.click_presets import preset_tables
from harness.online.online_records import ClickModelInfo

if TYPE_CHECKING:
    import numpy as np

    from harness.online.click_models import Clicks, Grades
    from harness.online.fitted import FittedModel
    from harness.sections import ClickModelConfig


class Cascade(ClickModel):
    def clicks(self, grades: Grades, rng: np.random.Generator) -> Clicks:
        import numpy as np

        attract = self.probabilities(self.info.attractiveness)
        stop = self.probabilities(self.info.stop)
        n, depth = grades.shape
        draws = rng.random((2, n, depth))
        clicked = np.zeros(grades.shape, dtype=bool)
        reading = np.ones(n, dtype=bool)
        for r in range(depth):
            g = grades[:, r]
            clicked[:, r] = reading & (draws[0, :, r] < attract[g])
            reading &= ~(clicked[:, r] & (draws[1, :, r] < stop[g]))
        return clicked


def sequential_parameters(
    config: ClickModelConfig, top_grade: int, fitted: FittedModel | None
) -> tuple[list[float], list[float], str]:
    """Attractiveness, stop (or satisfaction) per grade and their source, for cascade and DBN."""
    name = config.label()
    if fitted is not None:
        attractiveness = fitted_attractiveness(fitted, name)
        return attractiveness, config.stop or [1.0] * len(attractiveness), fitted.source
    preset = preset_tables(config.preset, top_grade) if config.preset else None
    attractiveness = config.attractiveness or list(preset.attractiveness if preset else [])
    stop = config.stop or (list(preset.stop) if preset else [1.0] * len(attractiveness))
    source = preset.source if preset and not (config.attractiveness and config.stop) else "given in the spec"
    return attractiveness, stop, source


def sequential_info(
    kind: str, config: ClickModelConfig, top_grade: int, fitted: FittedModel | None, continuation: float | None = None
) -> ClickModelInfo:
    """The parameters of a cascade or DBN model, checked against the judgment scale."""
    name = config.label()
    attractiveness, stop, source = sequential_parameters(config, top_grade, fitted)
    return ClickModelInfo(
        name=name,
        type=kind,
        attractiveness=per_grade(attractiveness, top_grade, name, "attractiveness"),
        stop=per_grade(stop, top_grade, name, "stop"),
        continuation=continuation,
        source=source if continuation is None else f"{source}; continuation {continuation:g}",
    )


@CLICK_MODELS.register("cascade")
class CascadeType(ClickModelType):
    def build(self, config: ClickModelConfig, top_grade: int, depth: int, fitted: FittedModel | None) -> ClickModel:
        return Cascade(sequential_info("cascade", config, top_grade, fitted))
