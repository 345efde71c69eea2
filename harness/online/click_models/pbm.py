"""The position-based model (PBM): rank r is examined with P(E_r), independently of the rest,
and an examined document is clicked with its grade's attractiveness (Craswell et al., WSDM 2008;
Chuklin, Markov and de Rijke, "Click Models for Web Search", 2015, section 3.4).

Preset examination is (1/r)^eta, the propensity model of Joachims, Swaminathan and Schnabel,
"Unbiased learning-to-rank with biased feedback", WSDM 2017 (eta = 1 by default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import SpecError
from harness.online.click_models import CLICK_MODELS, ClickModel, ClickModelType, per_grade
from harness.online.click_presets import preset_tables
from harness.online.online_records import ClickModelInfo

if TYPE_CHECKING:
    import numpy as np

    from harness.online.click_models import Clicks, Grades
    from harness.online.fitted import FittedModel
    from harness.sections import ClickModelConfig


class PositionBased(ClickModel):
    def clicks(self, grades: Grades, rng: np.random.Generator) -> Clicks:
        import numpy as np

        depth = grades.shape[1]
        exam = np.asarray(self.info.examination or [], dtype=np.float64)[:depth]
        p = exam[None, :] * self.probabilities(self.info.attractiveness)[grades]
        clicked: Clicks = rng.random(grades.shape) < p
        return clicked


def fitted_attractiveness(fitted: FittedModel, name: str) -> list[float]:
    if fitted.attractiveness_by_grade is None:
        raise SpecError(
            f"click model '{name}': the fitted model has no attractiveness per grade",
            hint="fit it with the judgments: `harness clicks fit LOG --qrels QRELS -o FILE`",
        )
    return fitted.attractiveness_by_grade


@CLICK_MODELS.register("pbm")
class PbmType(ClickModelType):
    def build(self, config: ClickModelConfig, top_grade: int, depth: int, fitted: FittedModel | None) -> ClickModel:
        name = config.label()
        if fitted is not None:
            attractiveness, source = fitted_attractiveness(fitted, name), fitted.source
            examination = config.examination or fitted.examination
        else:
            preset = preset_tables(config.preset, top_grade) if config.preset else None
            attractiveness = config.attractiveness or list(preset.attractiveness if preset else [])
            source = preset.source if preset and not config.attractiveness else "given in the spec"
            examination = config.examination
        if examination is None:
            examination = [round((1.0 / r) ** config.eta, 10) for r in range(1, depth + 1)]
            source += f"; examination (1/rank)^{config.eta:g} (Joachims et al., WSDM 2017)"
        shown = list(examination[:depth])
        if len(shown) < depth or None in shown:
            covered = shown.index(None) if None in shown else len(shown)
            raise SpecError(
                f"click model '{name}': examination covers {covered} ranks, depth is {depth}",
                hint="lower online.depth or give examination for every rank shown (a fitted model knows the "
                "ranks its log shows)",
            )
        return PositionBased(
            ClickModelInfo(
                name=name,
                type="pbm",
                attractiveness=per_grade(attractiveness, top_grade, name, "attractiveness"),
                examination=[float(x) for x in shown if x is not None],
                source=source,
            )
        )
