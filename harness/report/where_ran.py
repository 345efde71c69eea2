"""The report's sentences on where the work ran and how latency was measured, from the
results' `manifest.executor` (local, or the Ray cluster with its shards and tasks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _cluster(executor: Mapping[str, Any]) -> str:
    nodes, cpus = executor.get("nodes"), executor.get("cpus")
    size = ", ".join(x for x in (f"{nodes} node(s)" if nodes else "", f"{cpus:g} CPUs" if cpus else "") if x)
    return f"a Ray cluster ({executor.get('address', 'local')}{': ' + size if size else ''})"


def _shards(executor: Mapping[str, Any]) -> list[str]:
    out = []
    for s in executor.get("shards", []):
        hosts = ", ".join(s.get("hosts", [])) or "no worker"
        out.append(
            f"{s['system']} on {s['dataset']}: {s['encoded']} of {s['shards']} shards encoded by "
            f"{s['actors']} actor(s) × {s['cpus_per_actor']} CPU on {hosts} ({s['encode_s']:g} s of worker time)"
        )
    return out


def offline_note(executor: Mapping[str, Any]) -> str:
    """Where indexing and encoding ran, for the offline costs."""
    if executor.get("type") != "ray":
        return "Executor: local. Indexing and encoding ran in this process, one cell after another."
    tasks = executor.get("tasks", [])
    shards = _shards(executor)
    text = f"Executor: {_cluster(executor)}. "
    if shards:
        text += "Corpora encoded in shards across the cluster first: " + "; ".join(shards) + ". "
    text += f"Then {len(tasks)} indexing task(s) built the indexes and embeddings into the shared cache. "
    pairs = [
        f"{p['system']} on {p['dataset']}: {p['queries']} queries in {p['chunks']} chunks by {p['actors']} actor(s) "
        f"× {p['cpus_per_actor']} CPU ({p['worker_s']:g} s of worker time)"
        for p in executor.get("pairs", [])
    ]
    if pairs:
        text += "Then re-rankers’ pair scores were computed across the cluster: " + "; ".join(pairs) + ". "
    text += f"All phases: {executor.get('wall_s', 0):g} s of wall time; a cell’s build seconds add up the time "
    text += "its workers spent, whichever machines they ran on."
    return text


def latency_note(executor: Mapping[str, Any]) -> str:
    """How the latency of the cells was measured, given where the heavy work ran."""
    if executor.get("type") != "ray":
        return "Measured in this process, one cell at a time, after the cell’s own indexing."
    text = (
        "Measured in the driver process, one cell at a time, after every Ray task had finished and "
        "from the artefacts they cached: never beside the cluster’s work, and on the driver’s machine."
    )
    if executor.get("pairs"):
        text += (
            " Re-rankers whose pairs the cluster scored are timed from those scores: each pair counts the "
            "seconds it took on its worker (“replayed”), as a cached re-ranker does in a local re-run."
        )
    return text
