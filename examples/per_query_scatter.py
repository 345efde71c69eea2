"""Per-query scatter of two systems, from a results folder (notebook-style: the `# %%` cells run
one by one in VS Code or Jupyter, or the whole file from the shell).

    python examples/per_query_scatter.py reports/trec-dl-replay bm25 tas-b --measure nDCG@10 -o scatter.png

Each point is a query: its value under system A (x) and system B (y). Points above the diagonal
are queries B does better on.
"""

# %%
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import harness

ap = argparse.ArgumentParser(description="per-query scatter of two systems")
ap.add_argument("results", type=Path, help="results folder (holds results.json)")
ap.add_argument("a", help="system on the x axis")
ap.add_argument("b", help="system on the y axis")
ap.add_argument("--measure", default="nDCG@10")
ap.add_argument("-o", "--output", type=Path, default=Path("scatter.png"))
args = ap.parse_args()

# %% One row per dataset x system x measure x query; pivot to one column per system.
results = harness.load_results(args.results)
per_query = results.per_query()
for kind, wanted, known in (
    ("system", [args.a, args.b], set(per_query.system)),
    ("measure", [args.measure], set(per_query.measure)),
):
    missing = [w for w in wanted if w not in known]
    if missing:
        raise SystemExit(f"no {kind} {missing[0]!r} in {args.results}; these are: {', '.join(sorted(known))}")
chosen = per_query[(per_query.measure == args.measure) & per_query.system.isin([args.a, args.b])]
wide = chosen.pivot_table(index=["dataset", "query_id"], columns="system", values="value", observed=True)
better = int((wide[args.b] > wide[args.a]).sum())
worse = int((wide[args.b] < wide[args.a]).sum())

# %% The scatter.
fig, ax = plt.subplots(figsize=(5, 5))
ax.scatter(wide[args.a], wide[args.b], s=14, alpha=0.6)
ax.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle="--")
ax.set_xlabel(f"{args.a} {args.measure}")
ax.set_ylabel(f"{args.b} {args.measure}")
ax.set_title(f"{len(wide)} queries: {args.b} better on {better}, worse on {worse}")
fig.tight_layout()
fig.savefig(args.output, dpi=120)
print(f"{args.output}: {len(wide)} queries, {args.b} better on {better}, worse on {worse}")
