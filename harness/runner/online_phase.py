"""The spec's `online:` section, run after a dataset's cells: the cells' runs and per-query
measures, with the dataset's judgments, go to harness.online.simulate."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from harness.data.dataset import Dataset
from harness.online.fitted import FittedModel, read_fitted
from harness.online.online_records import OnlineDataset
from harness.online.simulate import OnlineInputs, pairs_of, simulate_dataset
from harness.plan import Plan
from harness.records import Run
from harness.results import Cell


def simulate_online(
    plan: Plan, dataset: Dataset, cells: Sequence[Cell], runs: Mapping[str, Run], progress: bool
) -> OnlineDataset:
    from tqdm import tqdm

    config = plan.settings.online
    if config is None:
        raise ValueError("the plan has no online section")
    systems = [v.name for v in plan.systems]
    pairs = pairs_of(config, systems, plan.settings.compare.baseline)
    fitted: dict[str, FittedModel] = {
        m.label(): read_fitted(plan.base_dir / m.from_) for m in config.click_models if m.from_ is not None
    }
    by_system = {c.system: c for c in cells}
    wanted = sorted({s for pair in pairs for s in pair})
    inputs = OnlineInputs(
        dataset=dataset.name,
        queries=list(dataset.queries),
        qrels=dataset.qrels,
        rankings={s: {q: [d.doc_id for d in docs] for q, docs in runs[s].items()} for s in wanted},
        per_query={s: by_system[s].per_query.get(config.measure, {}) for s in wanted},
        aggregate={s: by_system[s].aggregate[config.measure] for s in wanted},
    )
    with tqdm(
        total=len(pairs), desc=f"online {dataset.name}", unit="pair", disable=not progress, file=sys.stderr, leave=False
    ) as bar:
        return simulate_dataset(config, inputs, pairs, fitted, tick=lambda: bar.update(1))
