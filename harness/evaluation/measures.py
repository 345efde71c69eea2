"""Measures named as ir_measures names them, computed by pytrec_eval as trec_eval computes them.

ir_measures gives one canonical spelling (`nDCG@10`, `R(rel=2)@100`); pytrec_eval runs
trec_eval's own code, so ties, rank handling and per-measure details are trec_eval's. What
pytrec_eval alone does not do is trec_eval's `-c`: we add every judged query the run did not
answer as an empty ranking, so it is scored (0 for most measures) and counted in the mean.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import EvalError
from harness.evaluation.run_table import RunTable
from harness.names import did_you_mean
from harness.records import Qrels, Run


@dataclass(frozen=True)
class Measure:
    """One measure: its canonical name and how pytrec_eval computes it."""

    name: str
    trec_name: str
    rel: int = 1
    judged_only: bool = False
    depth: int | None = None  # evaluate on the run cut at this depth (RR@k)
    summed: bool = False  # trec_eval's "all" line sums counts (num_ret, num_rel) rather than averaging

    @property
    def group(self) -> tuple[int, bool, int | None]:
        return (self.rel, self.judged_only, self.depth)


def _cutoff(p: Mapping[str, Any]) -> int | None:
    c = p.get("cutoff")
    return int(c) if c is not None else None


def _need_cutoff(name: str) -> Callable[[Mapping[str, Any]], str]:
    def build(p: Mapping[str, Any]) -> str:
        c = _cutoff(p)
        if c is None:
            raise EvalError(f"measure family needs a cutoff, e.g. '{name}@10'")
        return f"{ {'P': 'P', 'R': 'recall', 'Success': 'success'}[name] }_{c}".replace(" ", "")

    return build


# ir_measures family -> trec_eval measure name. Families missing here are not exposed.
# IPrec (iprec_at_recall_*) is deliberately absent: the trec_eval 9.0.8 inside pytrec_eval
# disagrees with trec_eval 10.0 at several recall points (0.10, 0.60, and 0.90 under -l2 in
# trec_eval's own test suite), and we do not expose a measure we cannot compute as trec_eval does.
_FAMILIES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "P": _need_cutoff("P"),
    "R": _need_cutoff("R"),
    "Success": _need_cutoff("Success"),
    "nDCG": lambda p: f"ndcg_cut_{_cutoff(p)}" if _cutoff(p) else "ndcg",
    "AP": lambda p: f"map_cut_{_cutoff(p)}" if _cutoff(p) else "map",
    "RR": lambda p: "recip_rank",
    "Rprec": lambda p: "Rprec",
    "Bpref": lambda p: "bpref",
    "infAP": lambda p: "infAP",
    "NumRet": lambda p: "num_rel_ret" if "rel" in p else "num_ret",
    "NumRel": lambda p: "num_rel",
    "SetP": lambda p: "set_P",
    "SetR": lambda p: "set_recall",
    "SetF": lambda p: "set_F",
    "SetAP": lambda p: "set_map",
}
_COUNTS = {"NumRet", "NumRel"}

# The parameters each exposed family takes: those of the family's ir_measures definition
# (SUPPORTED_PARAMS) that this harness passes on to pytrec_eval: `rel` (relevance_level),
# `judged_only` (judged_docs_only_flag) and `cutoff` (the trec_eval measure's suffix; for RR the
# run's cut). A parameter missing below is either missing from the ir_measures definition (nDCG
# has no `rel`; Bpref, infAP, NumRet, NumRel and SetR have no `judged_only`) or has no trec_eval
# equivalent here (nDCG's `dcg` and `gains`, SetP's `relative`, SetF's `beta`). NumRel(rel=2) is
# kept: the pinned pytrec_eval applies relevance_level to num_rel, as trec_eval -l2 does.
_PARAMS: dict[str, frozenset[str]] = {
    "P": frozenset({"cutoff", "rel", "judged_only"}),
    "R": frozenset({"cutoff", "rel", "judged_only"}),
    "Success": frozenset({"cutoff", "rel", "judged_only"}),
    "nDCG": frozenset({"cutoff", "judged_only"}),
    "AP": frozenset({"cutoff", "rel", "judged_only"}),
    "RR": frozenset({"cutoff", "rel", "judged_only"}),
    "Rprec": frozenset({"rel", "judged_only"}),
    "Bpref": frozenset({"rel"}),
    "infAP": frozenset({"rel"}),
    "NumRet": frozenset({"rel"}),
    "NumRel": frozenset({"rel"}),
    "SetP": frozenset({"rel", "judged_only"}),
    "SetR": frozenset({"rel"}),
    "SetF": frozenset({"rel", "judged_only"}),
    "SetAP": frozenset({"rel", "judged_only"}),
}


def supported_families() -> list[str]:
    return sorted(_FAMILIES)


def _trec_eval_hint(text: str) -> str:
    """'trec_eval calls it ndcg_cut_10; here it is nDCG@10', or '' for a name trec_eval lacks."""
    import ir_measures

    try:
        names = [str(m) for m in ir_measures.parse_trec_measure(text.strip())]
    except Exception:
        return ""
    if not names:
        return ""
    return f"'{text}' is trec_eval's name; here measures take ir_measures names: -m {' -m '.join(names)}"


def _takes(family: str) -> str:
    accepted = sorted(_PARAMS[family])
    return f"{family} takes {', '.join(accepted)}" if accepted else f"{family} takes no parameters"


def _check_params(text: str, family: str, params: Mapping[str, Any]) -> None:
    """Parameters the family does not take, and values trec_eval cannot use, are errors."""
    extra = sorted(set(params) - _PARAMS[family])
    if extra:
        raise EvalError(
            f"measure '{text}': {family} has no parameter {', '.join(map(repr, extra))}", hint=_takes(family)
        )
    cutoff = params.get("cutoff")
    if cutoff is not None and (isinstance(cutoff, bool) or not isinstance(cutoff, int) or cutoff < 1):
        raise EvalError(
            f"measure '{text}': the cut-off must be a whole number of at least 1 (got {cutoff!r})",
            hint=f"e.g. {family}@10",
        )
    rel = params.get("rel")
    if rel is not None and (isinstance(rel, bool) or not isinstance(rel, int)):
        raise EvalError(
            f"measure '{text}': rel must be a whole relevance grade (got {rel!r})", hint=f"e.g. {family}(rel=2)"
        )
    judged = params.get("judged_only")
    if judged is not None and not isinstance(judged, bool):
        raise EvalError(f"measure '{text}': judged_only must be True or False (got {judged!r})")


def _family_of(text: str) -> str:
    return text.strip().split("(")[0].split("@")[0].strip()


def parse_measure(text: str) -> Measure:
    """Parse an ir_measures name into a Measure, or raise EvalError naming the fix."""
    import ir_measures

    family = _family_of(text)
    if re.search(r"@\s*-", text):  # ir_measures' own message for this is a generic parse error
        raise EvalError(f"measure '{text}': the cut-off must be a whole number of at least 1", hint=f"e.g. {family}@10")
    try:
        m = ir_measures.parse_measure(text.strip())
    except KeyError as exc:  # ir_measures' word for a parameter the family does not define
        if family in _PARAMS:
            raise EvalError(f"measure '{text}': {family} has no parameter {exc}", hint=_takes(family)) from None
        raise EvalError(f"cannot parse measure '{text}' (unknown parameter {exc})") from None
    except (ValueError, NameError, SyntaxError, TypeError, AttributeError) as exc:
        raise EvalError(
            f"cannot parse measure '{text}' ({exc})",
            hint=_trec_eval_hint(text)
            or did_you_mean(family, supported_families())
            + "use ir_measures names such as nDCG@10, RR@10, R@100, AP, P@10",
        ) from None
    family = str(m.NAME)
    if family not in _FAMILIES:
        raise EvalError(
            f"measure '{text}' is not computed by this harness",
            hint=f"{did_you_mean(family, supported_families())}supported: {', '.join(supported_families())}",
        )
    params = dict(m.params)
    _check_params(text, family, params)
    trec = _FAMILIES[family](params)
    depth = _cutoff(params) if family == "RR" else None
    return Measure(
        name=repr(m),
        trec_name=trec,
        rel=int(params.get("rel", 1)),
        judged_only=bool(params.get("judged_only", False)),
        depth=depth,
        summed=family in _COUNTS,
    )


def parse_measures(names: Iterable[str]) -> list[Measure]:
    out: list[Measure] = []
    seen: set[str] = set()
    for n in names:
        m = parse_measure(n)
        if m.name not in seen:
            seen.add(m.name)
            out.append(m)
    if not out:
        raise EvalError("no measures given", hint="e.g. -m nDCG@10")
    return out


@dataclass(frozen=True)
class Evaluation:
    """Per-query values of every measure over every judged query, and their means."""

    per_query: Mapping[str, Mapping[str, float]]  # measure -> qid -> value
    judged: int
    answered: int
    summed: frozenset[str] = frozenset()

    @property
    def aggregate(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for m, v in self.per_query.items():
            total = sum(v.values())
            out[m] = total if m in self.summed else (total / len(v) if v else 0.0)
        return out


def _finite(value: float) -> float:
    v = float(value)
    return v if math.isfinite(v) else 0.0


def _refuse_only_negative(qrels: Qrels, judged: Sequence[str]) -> None:
    """pytrec_eval crashes the process (segmentation fault) on a query whose every label is
    negative; the qrels readers refuse one with its line, and qrels from anywhere else stop here."""
    for q in judged:
        if all(int(r) < 0 for r in qrels[q].values()):
            raise EvalError(
                f"query '{q}' is judged only with negative labels: trec_eval's code (pytrec_eval) crashes on it",
                hint="drop its judgments, or give one of its documents a label of 0 or more",
            )


def evaluate(qrels: Qrels, run: Run | RunTable, measures: Iterable[Measure | str]) -> Evaluation:
    """Score `run` against `qrels` with trec_eval -c semantics.

    Queries in the run but not in the qrels are ignored (as trec_eval does); judged queries
    missing from the run are evaluated as empty rankings and counted in every mean. The common
    families are computed from the run's arrays (`array_measures`), the rest by pytrec_eval.
    """
    import numpy as np

    from harness.evaluation import array_measures
    from harness.evaluation.run_table import query_bounds

    ms = [m if isinstance(m, Measure) else parse_measure(m) for m in measures]
    judged = [q for q in qrels if qrels[q]]
    _refuse_only_negative(qrels, judged)
    qrels_dict = {q: {d: int(r) for d, r in qrels[q].items()} for q in judged}
    table = run if isinstance(run, RunTable) else RunTable.of_run(run)
    order = table.trec_order()
    bounds = query_bounds(table.query, len(table.query_ids))
    retrieved = {q for q, n in zip(table.query_ids, np.diff(bounds).tolist(), strict=True) if n}
    answered = sum(1 for q in judged if q in retrieved)
    joined = None
    groups: dict[tuple[int, bool, int | None], list[Measure]] = {}
    for m in ms:
        groups.setdefault(m.group, []).append(m)
    per_query: dict[str, dict[str, float]] = {}
    for (rel, judged_only, depth), members in groups.items():
        names = {m.trec_name for m in members}
        fast = {t for t in names if array_measures.native(t, rel)}
        scores: dict[str, list[float]] = {}
        if fast:
            if joined is None:
                joined = array_measures.join(table, order, bounds, judged, qrels_dict)
            computed = array_measures.compute(joined, qrels_dict, judged, sorted(fast), rel, judged_only, depth)
            scores = {t: v.tolist() for t, v in computed.items()}
        if names - fast:
            scores.update(_pytrec(table, order, bounds, judged, qrels_dict, names - fast, rel, judged_only, depth))
        for m in members:
            # An empty ranking can yield NaN inside trec_eval's code; `trec_eval -c` prints 0.
            per_query[m.name] = {q: _finite(v) for q, v in zip(judged, scores[m.trec_name], strict=True)}
    summed = frozenset(m.name for m in ms if m.summed)
    return Evaluation(per_query=per_query, judged=len(judged), answered=answered, summed=summed)


def _pytrec(
    table: RunTable,
    order: Any,
    bounds: Any,
    judged: list[str],
    qrels: dict[str, dict[str, int]],
    trec_names: set[str],
    rel: int,
    judged_only: bool,
    depth: int | None,
) -> dict[str, list[float]]:
    """trec_name -> value per judged query, computed by pytrec_eval on the run as nested dicts."""
    import pytrec_eval

    docs = table.as_dicts(order, bounds, depth)
    run_dict = {q: docs.get(q, {}) for q in judged}
    evaluator = pytrec_eval.RelevanceEvaluator(
        qrels, trec_names, relevance_level=rel, judged_docs_only_flag=judged_only
    )
    scores = evaluator.evaluate(run_dict)
    return {t: [float(scores[q][t]) if q in scores else 0.0 for q in judged] for t in trec_names}
