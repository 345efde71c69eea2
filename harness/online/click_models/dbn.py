"""The dynamic Bayesian network model (Chapelle and Zhang, WWW 2009): the user examines top-down;
an examined document is clicked with its grade's attractiveness; a click satisfies with its
grade's satisfaction (`stop`), which ends the session; otherwise the next result is examined
with probability `continuation` (gamma). The presets' stop table serves as satisfaction and
gamma defaults to 0.9, the harness's choice (the paper fits gamma per search engine).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.online.click_models import CLICK_MODELS, ClickModel, ClickModelType
from harness.online.click_models.cascade import sequential_info

if TYPE_CHECKING:
    import numpy as np

    from harness.online.click_models import Clicks, Grades
    from harness.online.fitted import FittedModel
    from harness.sections import ClickModelConfig


class DynamicBayesian(ClickModel):
    def clicks(self, grades: Grades, rng: np.random.Generator) -> Clicks:
        import numpy as np

        attract = self.probabilities(self.info.attractiveness)
        satisfy = self.probabilities(self.info.stop)
        gamma = float(self.info.continuation if self.info.continuation is not None else 1.0)
        n, depth = grades.shape
        draws = rng.random((3, n, depth))
        clicked = np.zeros(grades.shape, dtype=bool)
        examining = np.ones(n, dtype=bool)
        for r in range(depth):
            g = grades[:, r]
            clicked[:, r] = examining & (draws[0, :, r] < attract[g])
            satisfied = clicked[:, r] & (draws[1, :, r] < satisfy[g])
            examining &= ~satisfied & (draws[2, :, r] < gamma)
        return clicked


@CLICK_MODELS.register("dbn")
class DbnType(ClickModelType):
    def build(self, config: ClickModelConfig, top_grade: int, depth: int, fitted: FittedModel | None) -> ClickModel:
        return DynamicBayesian(sequential_info("dbn", config, top_grade, fitted, config.continuation))
