"""How long the simulated online tests take: the `online:` section of
`experiments/trec-dl-online.yaml` (TREC DL 2019 + 2020, six reference runs each, 15 pairs per
year, team-draft interleaving under PBM informational, 10,000 impressions per pair, plus the A/B
arms), and the same pairs under every method and click-model preset the harness has.

No peer tool simulates interleaving or A/B tests from runs and judgments (PyTerrier, Pyserini,
BEIR, MTEB and ranx score offline only), so there is no ratio: the issue's goal is the section
above in under a minute on 2 cores. The runs are read and scored once, outside the clock; the
clock covers what `harness run` adds for `online:` (simulate_dataset per dataset). The whole
`harness run` of the spec is timed too, in a subprocess. Prints one JSON line.

    python benchmarks/online_speed.py [--data-root DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SYSTEMS = ("bm25", "bm25-rm3", "tas-b", "splade-pp-ed", "openai-ada2", "repllama")


def inputs(root: Path, year: str) -> Any:
    from harness.data.ref import DatasetRef
    from harness.data.resolve import load_dataset
    from harness.data.trec import read_run
    from harness.evaluation.measures import evaluate, parse_measure
    from harness.online.simulate import OnlineInputs

    ds = load_dataset(DatasetRef.model_validate({"id": f"msmarco/trec-dl/{year}-full", "name": year}), root)
    runs = {s: read_run(root / f"msmarco/trec-dl/runs/{s}-{year}.trec") for s in SYSTEMS}
    scored = {s: evaluate(ds.qrels, r, [parse_measure("nDCG@10")]) for s, r in runs.items()}
    return OnlineInputs(
        dataset=year,
        queries=list(ds.queries),
        qrels=ds.qrels,
        rankings={s: {q: [d.doc_id for d in docs] for q, docs in r.items()} for s, r in runs.items()},
        per_query={s: dict(e.per_query["nDCG@10"]) for s, e in scored.items()},
        aggregate={s: e.aggregate["nDCG@10"] for s, e in scored.items()},
    )


def timed(config: dict[str, Any], data: list[Any]) -> tuple[float, list[Any]]:
    from harness.online.simulate import simulate_dataset
    from harness.sections import OnlineConfig

    online = OnlineConfig.model_validate(config)
    pairs = list(itertools.combinations(SYSTEMS, 2))
    start = time.perf_counter()
    out = [simulate_dataset(online, d, pairs, {}) for d in data]
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-root", type=Path, default=Path(os.environ.get("HARNESS_DATA_ROOT", REPO.parent / "shared" / "data"))
    )
    args = parser.parse_args()
    data = [inputs(args.data_root, y) for y in ("dl19", "dl20")]
    section = {
        "pairs": "all",
        "click_models": ["pbm-informational"],
        "interleaving": ["team-draft"],
        "impressions": 10_000,
    }
    seconds, results = timed(section, data)
    grid = {
        **section,
        "interleaving": ["team-draft", "balanced", "probabilistic"],
        "click_models": [
            f"{t}-{p}" for t in ("pbm", "cascade", "dbn") for p in ("perfect", "navigational", "informational")
        ],
    }
    grid_seconds, _ = timed(grid, data)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HARNESS_DATA_ROOT": str(args.data_root)}
        cmd = [
            sys.executable,
            "-m",
            "harness",
            "run",
            str(REPO / "experiments" / "trec-dl-online.yaml"),
            "-o",
            tmp,
            "-q",
            "--no-report",
        ]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        run_seconds = time.perf_counter() - start
    agreement = {d.dataset: r.agreement[0].model_dump() for d, r in zip(data, results, strict=True)}
    print(
        json.dumps(
            {
                "benchmark": "online_speed",
                "cpus": os.cpu_count(),
                "online_section_s": round(seconds, 2),
                "goal_s": 60,
                "meets_goal": seconds < 60,
                "pairs": 30,
                "impressions_per_pair": 10_000,
                "grid_s": round(grid_seconds, 2),
                "grid": "3 interleaving methods x 9 click-model presets x 30 pairs, and the A/B arms",
                "harness_run_s": round(run_seconds, 2),
                "agreement": agreement,
            }
        )
    )


if __name__ == "__main__":
    main()
