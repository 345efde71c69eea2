"""Click models: simulated users who examine a result list and click, from graded judgments.

One file per model type, registered with `@CLICK_MODELS.register`; each turns a spec entry
(harness.sections.ClickModelConfig) into a `ClickModel` whose `clicks` draws every impression's
clicks at once (numpy, one pass over the ranks).

Grades arrive as an (impressions x depth) integer matrix: a document's relevance grade clipped
to 0 .. top grade, with -1 where the list ran out (nothing shown: never clicked).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from harness.errors import SpecError
from harness.online.online_records import ClickModelInfo
from harness.plugins import Registry

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from harness.online.fitted import FittedModel
    from harness.sections import ClickModelConfig

    Grades = npt.NDArray[np.int64]
    Clicks = npt.NDArray[np.bool_]


class ClickModel(ABC):
    """A simulated user; `attractiveness[g]` is P(click | examined) at grade g."""

    def __init__(self, info: ClickModelInfo) -> None:
        self.info = info
        self.name = info.name

    def probabilities(self, values: list[float] | None) -> Any:
        """`values` by grade with a 0 appended, so that grade -1 (an empty slot) reads 0."""
        import numpy as np

        return np.asarray([*(values or []), 0.0], dtype=np.float64)

    @abstractmethod
    def clicks(self, grades: Grades, rng: np.random.Generator) -> Clicks:
        """Clicks (same shape as `grades`) of one simulated user per row."""


class ClickModelType(ABC):
    """Builds a ClickModel of one type from its spec entry."""

    @abstractmethod
    def build(self, config: ClickModelConfig, top_grade: int, depth: int, fitted: FittedModel | None) -> ClickModel: ...


CLICK_MODELS: Registry[type[ClickModelType]] = Registry("click model type", "harness.online.click_models", SpecError)


def per_grade(values: list[float] | tuple[float, ...], top_grade: int, name: str, what: str) -> list[float]:
    """`values` checked to hold one probability per grade 0 .. top_grade."""
    if len(values) != top_grade + 1:
        raise SpecError(
            f"click model '{name}': {what} lists {len(values)} grades, the judgments have {top_grade + 1} "
            f"(0 .. {top_grade})",
            hint="give one value per grade, or set online.top_grade to the judgments' scale",
        )
    return [float(v) for v in values]


def build_click_model(
    config: ClickModelConfig, top_grade: int, depth: int, fitted: FittedModel | None = None
) -> ClickModel:
    """The click model a spec entry describes (`fitted`: the model its `from` file holds)."""
    kind = config.type or (fitted.type if fitted is not None else None)
    if kind is None:  # the section's validator requires one of them
        raise SpecError(f"click model '{config.label()}' has no type")
    return CLICK_MODELS.get(kind)().build(config, top_grade, depth, fitted)
