"""The per-query half of a result set, in Parquet next to a lean results.json.

Thousands of queries times dozens of systems make per-query values and latency samples most of
a result set; as JSON they make a file of tens of MB that every reader parses whole. So
`results.json` keeps everything else, and `per_query.parquet` holds, one row per cell and
field, the lists that have one entry per query:

- `cells[i].per_query[measure]`: the query ids and their values;
- `cells[i].timing.query_ids`: the ids the latency samples are aligned with;
- every `..._samples_ms` list inside `cells[i].timing` (the pipeline's, each stage's, each step's).

Each row names its field by its JSON path. `results.json` records the file's sha256
(`tables`), written after the file: a results.json never names a table that is not completely
written, and a table that changed since (or is missing) is refused on load with the fix, never
read silently. Read back, the values are the very floats that were written (float64 both ways).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.fsutil import Destination, atomic_write_bytes

TABLE_FILE = "per_query.parquet"
Path_ = tuple[str | int, ...]


def _sample_lists(node: Any, path: Path_) -> Iterator[Path_]:
    """Paths of the `..._samples_ms` lists inside a timing record."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("samples_ms") and isinstance(value, list):
                yield (*path, key)
            else:
                yield from _sample_lists(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _sample_lists(value, (*path, i))


def _get(node: Any, path: Path_) -> Any:
    for key in path:
        node = node[key]
    return node


def _set(node: Any, path: Path_, value: Any) -> None:
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _row(cell: int, field: list[str | int], ids: list[str] | None, values: list[float] | None) -> dict[str, Any]:
    return {"cell": cell, "field": json.dumps(field), "ids": ids, "values": values}


def split(doc: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the lean document, the table's rows); `doc` (ResultSet.to_dict()) is left as it is."""
    lean = dict(doc)
    lean["cells"] = cells = [dict(c) for c in doc.get("cells", [])]
    rows: list[dict[str, Any]] = []
    for i, cell in enumerate(cells):
        for measure, values in cell.get("per_query", {}).items():
            rows.append(_row(i, ["per_query", measure], list(values), list(values.values())))
        cell["per_query"] = {}
        timing = cell.get("timing")
        if timing is None:
            continue
        cell["timing"] = timing = copy.deepcopy(timing)  # a copy to empty
        rows.append(_row(i, ["timing", "query_ids"], timing["query_ids"], None))
        timing["query_ids"] = []
        for path in list(_sample_lists(timing, ())):
            rows.append(_row(i, ["timing", *path], None, _get(timing, path)))
            _set(timing, path, [])
    return lean, rows


def write_table(folder: Path, rows: list[dict[str, Any]], dest: Destination) -> str:
    """Write the rows as `folder/per_query.parquet` (atomically); its sha256."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("cell", pa.int32()),
            ("field", pa.string()),
            ("ids", pa.list_(pa.string())),
            ("values", pa.list_(pa.float64())),
        ]
    )
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer, compression="zstd")
    data = buffer.getvalue()
    atomic_write_bytes(folder / TABLE_FILE, data, dest)
    return hashlib.sha256(data).hexdigest()


_FIX = "re-run `harness run SPEC` to write the results again (finished cells are reused)"


def merge(doc: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Put the table's lists back into `doc` (a lean results.json, in place); refuses a table
    that is missing or is not the one results.json names."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = doc.get("tables")
    expected = tables.get(TABLE_FILE) if isinstance(tables, dict) else None
    path = folder / TABLE_FILE
    if not isinstance(expected, str):
        raise DataError(
            f"results file names no {TABLE_FILE} in 'tables' (edited by hand?)", path=folder / "results.json", hint=_FIX
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the per-query table: {exc.strerror or exc}", path=path, hint=_FIX) from None
    if hashlib.sha256(data).hexdigest() != expected:
        raise DataError(
            "the per-query table is not the one results.json was written with (changed or replaced since)",
            path=path,
            hint=_FIX,
        )
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"the per-query table cannot be read: {exc}", path=path, hint=_FIX) from None
    cells = doc["cells"]
    rows = zip(
        table.column("cell").to_pylist(),
        table.column("field").to_pylist(),
        table.column("ids").to_pylist(),
        table.column("values").to_pylist(),
        strict=True,
    )
    for row, (i, field, ids, values) in enumerate(rows):
        try:
            _put(cells, i, json.loads(field), ids, values)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            # A table whose sha256 was forged to match: its rows are still checked, never trusted.
            raise DataError(f"the per-query table's row {row} is malformed ({exc})", path=path, hint=_FIX) from None
    return doc


def _put(cells: list[Any], i: int, key: list[Any], ids: list[str] | None, values: list[float] | None) -> None:
    """One row of the table into its cell; ValueError for anything a written table never holds."""
    if not 0 <= i < len(cells):
        raise ValueError(f"cell {i} of {len(cells)}")
    if values is not None and not all(math.isfinite(v) for v in values):
        raise ValueError(f"{key}: a value that is not a finite number")
    if key[0] == "per_query" and len(key) == 2 and ids is not None and values is not None:
        if len(ids) != len(values) or len(set(ids)) != len(ids):
            raise ValueError(f"{key}: {len(ids)} ids ({len(set(ids))} distinct) for {len(values)} values")
        cells[i]["per_query"][key[1]] = dict(zip(ids, values, strict=True))
    elif key == ["timing", "query_ids"] and ids is not None and cells[i].get("timing") is not None:
        cells[i]["timing"]["query_ids"] = ids
    elif key[0] == "timing" and str(key[-1]).endswith("samples_ms") and values is not None:
        _set(cells[i], tuple(key), values)
    else:
        raise ValueError(f"unknown field {key}")
