"""trec_eval's common measures computed from a `RunTable`, without building a Python object per
scored document.

Every measure here depends only on the judged documents a query retrieved (their ranks and
labels), on how many documents it retrieved, and on the qrels; so the run is joined with the
qrels once (a few thousand rows out of millions) and each measure is a handful of array sums.
The formulas are trec_eval's (as the trec_eval 9 inside pytrec_eval computes them), checked
against pytrec_eval to 1e-9 by tests/unit/test_run_fast.py:

- documents are ranked by score descending, ties by doc id descending; `judged_only` ranks only
  the documents with a label >= 0 (a negative label counts as unjudged, as trec_eval reads it);
- a document is relevant at labels >= `rel`; nDCG's gain is the label itself where it is > 0,
  discounted by log2(rank + 1), over the ideal ordering of the query's positive labels;
- AP and R@k divide by the number of relevant documents in the qrels (0 when there are none).

Families outside this set (Rprec, Bpref, infAP, the Set measures) and relevance levels below 1
are computed by pytrec_eval itself (`harness.evaluation.measures`).

Why not pytrec_eval for these too (measured by benchmarks/eval_speed.py on a 6,980 x 1,000 run,
2026-12-06): pytrec_eval needs the run as a dict of dicts, so a Python object per scored
document. The plain recipe took 7.3-7.8 s; `harness eval` on this path takes 2.2 s, of which the
measures here (with the trec order and the join) take about 0.4 s. Values are identical
(largest difference 0.0).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.evaluation.run_table import RunTable, pad_blob, pair_key, token_hash

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    I64 = npt.NDArray[np.int64]
    F64 = npt.NDArray[np.float64]

_NATIVE = re.compile(r"(P|recall|success|ndcg_cut|map_cut)_[0-9]+|ndcg|map|recip_rank|num_ret|num_rel|num_rel_ret")
_FILTER_BITS = 22


def native(trec_name: str, rel: int) -> bool:
    """True when this module computes the trec_eval measure `trec_name` at relevance `rel`."""
    return rel >= 1 and _NATIVE.fullmatch(trec_name) is not None


@dataclass(frozen=True)
class Joined:
    """The judged documents each judged query retrieved, in (query, rank) order."""

    query: I64  # index into the judged query list
    position: I64  # position in the table's trec order
    rank: I64  # 0-based rank in trec order
    label: I64
    num_ret: I64  # documents retrieved, per judged query


def join(
    table: RunTable, order: I64, bounds: I64, judged: Sequence[str], qrels: Mapping[str, Mapping[str, int]]
) -> Joined:
    """Find the judged rows of the run. A bit filter on the (query, doc) keys picks a few
    candidate rows out of millions; each candidate is confirmed on its bytes."""
    import numpy as np

    index = {q: i for i, q in enumerate(table.query_ids)}
    expect: dict[int, list[tuple[int, int, bytes, int]]] = {}  # key -> (table query, judged query, doc, label)
    present = [(j, q, index[q]) for j, q in enumerate(judged) if q in index]
    docs = [(j, t, d.encode(), int(lab)) for j, q, t in present for d, lab in qrels[q].items()]
    if docs:
        blob = b"\n".join(d for _, _, d, _ in docs)
        lens = np.array([len(d) for _, _, d, _ in docs], dtype=np.int64)
        starts = np.cumsum(lens + 1) - (lens + 1)
        padded = pad_blob(blob)
        tq = np.array([t for _, t, _, _ in docs], dtype=np.int64)
        for key, (j, t, d, lab) in zip(pair_key(token_hash(padded, starts, lens), tq).tolist(), docs, strict=True):
            expect.setdefault(key, []).append((t, j, d, lab))
    keys = table.pair_keys()
    mask = np.uint64((1 << _FILTER_BITS) - 1)
    bits = np.zeros(1 << _FILTER_BITS, dtype=bool)
    bits[(np.array(list(expect), dtype=np.uint64) & mask).astype(np.int64)] = True
    step = 1 << 20  # 8 MB temporaries, reused, where whole-run ones cost a page fault per 4 KB
    candidates = np.concatenate(
        [np.flatnonzero(bits[(keys[a : a + step] & mask).view(np.int64)]) + a for a in range(0, len(keys), step)]
        or [np.empty(0, dtype=np.int64)]
    )
    found: list[tuple[int, int, int]] = []  # (row, judged query, label)
    for row, key in zip(candidates.tolist(), keys[candidates].tolist(), strict=True):
        for t, j, d, lab in expect.get(key, ()):
            if int(table.query[row]) == t and table.doc_bytes(row) == d:
                found.append((row, j, lab))
    rows = np.array([f[0] for f in found], dtype=np.int64)
    jq = np.array([f[1] for f in found], dtype=np.int64)
    if bool(np.all(order[1:] > order[:-1])):  # the file was in trec order already
        pos = rows
    else:
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.arange(len(order), dtype=np.int64)
        pos = inverse[rows]
    rank = pos - bounds[table.query[rows]]  # trec order lists query t's rows from bounds[t]
    by_pos = np.lexsort((pos, jq))  # by judged query, then rank: sums run in rank order
    num_ret = np.zeros(len(judged), dtype=np.int64)
    for j, _, t in present:
        num_ret[j] = bounds[t + 1] - bounds[t]
    return Joined(
        query=jq[by_pos],
        position=pos[by_pos],
        rank=rank[by_pos],
        label=np.array([f[2] for f in found], dtype=np.int64)[by_pos],
        num_ret=num_ret,
    )


def _restricted(joined: Joined, judged_only: bool, depth: int | None) -> Joined:
    """The run cut to `depth` (before unjudged documents are dropped, as the harness cuts the
    run it hands trec_eval), then, for `judged_only`, ranks among judged documents only."""
    import numpy as np

    j = joined
    if depth is not None:
        keep = j.rank < depth
        j = Joined(j.query[keep], j.position[keep], j.rank[keep], j.label[keep], np.minimum(j.num_ret, depth))
    if judged_only:
        keep = j.label >= 0
        query = j.query[keep]
        first = np.searchsorted(query, query, side="left")
        rank = np.arange(len(query), dtype=np.int64) - first
        j = Joined(query, j.position[keep], rank, j.label[keep], np.bincount(query, minlength=len(j.num_ret)))
    return j


def _ideal(qrels: Mapping[str, Mapping[str, int]], judged: Sequence[str], cutoff: int | None) -> F64:
    import math

    import numpy as np

    out = np.zeros(len(judged), dtype=np.float64)
    for i, q in enumerate(judged):
        gains = sorted((g for g in qrels[q].values() if g > 0), reverse=True)[:cutoff]
        out[i] = sum(g / math.log2(r + 2) for r, g in enumerate(gains))
    return out


def compute(
    joined: Joined,
    qrels: Mapping[str, Mapping[str, int]],
    judged: Sequence[str],
    trec_names: Sequence[str],
    rel: int,
    judged_only: bool,
    depth: int | None,
) -> dict[str, F64]:
    """trec_name -> value per judged query (in `judged` order) for one parameter group."""
    import numpy as np

    j = _restricted(joined, judged_only, depth)
    n = len(judged)
    num_rel = np.array([sum(1 for v in qrels[q].values() if v >= rel) for q in judged], dtype=np.float64)
    relevant = j.label >= rel

    def per_query(mask: npt.NDArray[np.bool_], weights: F64 | None = None) -> F64:
        w = None if weights is None else weights[mask]
        return np.bincount(j.query[mask], weights=w, minlength=n).astype(np.float64)

    def over_rel(values: F64) -> F64:
        return np.divide(values, num_rel, out=np.zeros(n), where=num_rel > 0)

    out: dict[str, F64] = {}
    for name in trec_names:
        base, _, cut = name.rpartition("_") if name[-1].isdigit() else (name, "", "")
        k = int(cut) if cut else None
        top = relevant if k is None else relevant & (j.rank < k)
        if base == "P":
            out[name] = per_query(top) / (k or 1)
        elif base == "recall":
            out[name] = over_rel(per_query(top))
        elif base == "success":
            out[name] = (per_query(top) > 0).astype(np.float64)
        elif base in ("map", "map_cut"):
            out[name] = over_rel(per_query(top, _precision_at_relevant(j, top)))
        elif name == "recip_rank":
            first = np.full(n, np.inf)
            np.minimum.at(first, j.query[relevant], j.rank[relevant].astype(np.float64))
            out[name] = np.where(np.isfinite(first), 1.0 / (first + 1.0), 0.0)
        elif base in ("ndcg", "ndcg_cut"):
            gain = j.label > 0 if k is None else (j.label > 0) & (j.rank < k)
            dcg = per_query(gain, j.label / np.log2(j.rank + 2.0))
            ideal = _ideal(qrels, judged, k)
            out[name] = np.divide(dcg, ideal, out=np.zeros(n), where=ideal > 0)
        elif name == "num_ret":
            out[name] = j.num_ret.astype(np.float64)
        elif name == "num_rel":
            out[name] = num_rel
        elif name == "num_rel_ret":
            out[name] = per_query(relevant)
    return out


def _precision_at_relevant(j: Joined, mask: npt.NDArray[np.bool_]) -> F64:
    """For each row in `mask`: (relevant rows of its query up to and including it) / (rank + 1)."""
    import numpy as np

    count = np.zeros(len(j.query), dtype=np.float64)
    query = j.query[mask]
    first = np.searchsorted(query, query, side="left")
    count[mask] = np.arange(1, len(query) + 1) - first
    return count / (j.rank + 1.0)
