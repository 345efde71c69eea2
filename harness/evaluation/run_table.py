"""A run as columns (numpy arrays), the form the evaluator works on: no object per scored document.

`harness.data.run_fast` builds one straight from a file's bytes; `RunTable.of_run` from an
in-memory `Run`. Document ids stay bytes inside one buffer (`blob`, each id at `starts`/`lens`)
and are compared through 64-bit keys: big-endian words of an id order as `strcmp` orders it
(trec_eval's tie-break), and a hash of the words joins the run with the qrels. A key can collide,
so every match a key finds is confirmed on the bytes themselves.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from harness.records import Run

    U64 = npt.NDArray[np.uint64]
    I64 = npt.NDArray[np.int64]
    F64 = npt.NDArray[np.float64]

_M1, _M2, _GOLDEN = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0x9E3779B97F4A7C15


def _mix(z: U64) -> U64:
    """splitmix64's finaliser: a bijection on 64-bit words that spreads every input bit."""
    import numpy as np

    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    out: U64 = z ^ (z >> np.uint64(31))
    return out


def padded_size(n: int) -> int:
    """Bytes to hold n bytes of tokens with the zero padding `words_at` loads past the end."""
    return n + 16 - n % 8


def pad_blob(blob: bytes) -> npt.NDArray[np.uint8]:
    """`blob` in a zero-padded buffer that `words_at` can load from."""
    import numpy as np

    out = np.zeros(padded_size(len(blob)), dtype=np.uint8)
    out[: len(blob)] = np.frombuffer(blob, dtype=np.uint8)
    return out


def words_at(padded: npt.NDArray[np.uint8], starts: I64, lens: I64, j: int) -> U64:
    """Bytes j..j+7 of each token as a big-endian word, zero past the token's end (so words
    compare as strcmp compares the tokens). Two aligned loads per token, no per-byte gather."""
    import numpy as np

    words = len(padded) // 8
    aligned = padded[: 8 * words].view(">u8")
    pos = starts + np.minimum(lens, j)  # past its end a token's word is masked to 0: load inside the buffer
    at, off = pos >> 3, (pos & 7).astype(np.uint64) * np.uint64(8)
    near_end = at + 1 >= words
    if bool(near_end.any()):
        # An unpadded buffer (a memory-mapped file): the few tokens in its last 16 bytes are
        # loaded from a zero-padded copy of the end, the rest from the buffer itself.
        base = 8 * max(0, int(at[near_end].min()) - 1)
        tail = pad_blob(padded[base:].tobytes())
        merged = np.zeros(len(starts), dtype=np.uint64)
        merged[near_end] = words_at(tail, starts[near_end] - base, lens[near_end], j)
        far = ~near_end
        if bool(far.any()):
            merged[far] = words_at(padded, starts[far], lens[far], j)
        return merged
    hi = aligned[at].astype(np.uint64) << off
    lo = (aligned[at + 1].astype(np.uint64) >> np.uint64(1)) >> (np.uint64(63) - off)
    word = hi | lo
    rem = np.clip(lens - j, 0, 8)
    mask = np.uint64(0xFFFFFFFFFFFFFFFF) << (np.uint64(8) * (8 - np.maximum(rem, 1)).astype(np.uint64))
    out: U64 = np.where(rem > 0, word & mask, np.uint64(0))
    return out


def token_hash(padded: npt.NDArray[np.uint8], starts: I64, lens: I64) -> U64:
    """A 64-bit hash of each token that depends on its bytes alone (not on its neighbours)."""
    import numpy as np

    h = np.full(len(starts), _GOLDEN, dtype=np.uint64)
    longest = int(lens.max()) if len(lens) else 0
    for j in range(0, longest, 8):
        h = np.where(lens > j, _mix(h ^ words_at(padded, starts, lens, j)), h)
    return h


def pair_key(doc_hash: U64, query: I64) -> U64:
    import numpy as np

    return _mix(doc_hash ^ (query.astype(np.uint64) * np.uint64(_GOLDEN)))


@dataclass(frozen=True, eq=False)
class RunTable:
    """Rows of a run: query index (into `query_ids`), score, document id bytes, in file order.

    Invariants the readers guarantee: ids are valid (`harness.data.fields.check_id`), scores
    finite, and no document appears twice for one query."""

    query_ids: tuple[str, ...]
    query: I64
    score: F64
    padded: npt.NDArray[np.uint8]  # the buffer the ids live in, zero-padded for word loads
    starts: I64
    lens: I64
    keys: U64 | None = None  # pair_key of each row, when the reader computed them already

    def __len__(self) -> int:
        return len(self.query)

    @classmethod
    def of_run(cls, run: Mapping[str, tuple[object, ...]] | Run) -> RunTable:
        import numpy as np

        query_ids = tuple(run)
        docs = [d for q in query_ids for d in run[q]]
        encoded = [str(d.doc_id).encode() for d in docs]  # type: ignore[attr-defined]
        lens = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        starts = np.cumsum(lens + 1) - (lens + 1)
        counts = np.fromiter((len(run[q]) for q in query_ids), dtype=np.int64, count=len(query_ids))
        return cls(
            query_ids=query_ids,
            query=np.repeat(np.arange(len(query_ids), dtype=np.int64), counts),
            score=np.fromiter((float(d.score) for d in docs), dtype=np.float64, count=len(docs)),  # type: ignore[attr-defined]
            padded=pad_blob(b"\n".join(encoded)),
            starts=starts.astype(np.int64),
            lens=lens,
        )

    def doc_bytes(self, row: int) -> bytes:
        s = int(self.starts[row])
        return self.padded[s : s + int(self.lens[row])].tobytes()

    def pair_keys(self) -> U64:
        """A 64-bit key of each row's (query, document), computed once per table."""
        cached = self.keys if self.keys is not None else self.__dict__.get("_keys")
        if cached is None:
            cached = _pair_keys(self)
            object.__setattr__(self, "_keys", cached)
        out: U64 = cached
        return out

    def trec_order(self) -> I64:
        """Row order trec_eval ranks in: by query, score descending, ties by doc id descending
        (strcmp). Runs are usually written in that order already; that is checked, not sorted."""
        import numpy as np

        q, s = self.query, self.score
        same = q[1:] == q[:-1]
        if bool(np.all((q[1:] >= q[:-1]) & (~same | (s[1:] <= s[:-1])))):
            order = np.arange(len(q), dtype=np.int64)  # and q, s are already in that order
        else:
            order = np.lexsort((-s, q)).astype(np.int64)
            q, s = q[order], s[order]
            same = q[1:] == q[:-1]
        tied = same & (s[1:] == s[:-1])
        if not bool(tied.any()):
            return order
        return _break_ties(self, order, tied)

    def as_dicts(self, order: I64, bounds: I64, depth: int | None) -> dict[str, dict[str, float]]:
        """{query: {doc: score}} as pytrec_eval takes it, each query cut to `depth` rows in trec
        order. The ids are decoded in one call, not one per row."""
        import numpy as np

        keep = order
        if depth is not None:
            rank = np.arange(len(order)) - np.repeat(bounds[:-1], np.diff(bounds))
            keep = order[rank < depth]
        starts, lens = self.starts[keep], self.lens[keep]
        ids = _join_tokens(self.padded, starts, lens).decode("utf-8").split("\n") if len(keep) else []
        scores = self.score[keep].tolist()
        qs = self.query[keep]
        cuts = np.flatnonzero(qs[1:] != qs[:-1]) + 1
        edges = [0, *cuts.tolist(), len(keep)]
        out: dict[str, dict[str, float]] = {}
        for a, b in itertools.pairwise(edges):
            if b > a:
                out[self.query_ids[int(qs[a])]] = dict(zip(ids[a:b], scores[a:b], strict=True))
        return out


def _pair_keys(table: RunTable) -> U64:
    """pair_key of every row, 16k rows at a time: whole-column temporaries of a 7M-row run cost
    more in page faults than the hashing itself. Measured on eval_speed's run (2-core VM): 4k, 16k,
    64k, 256k rows and the whole column took 0.26-0.31, 0.25, 0.41-0.45, 0.55 and 0.8-2.5 s."""
    import numpy as np

    step = 1 << 14
    out = np.empty(len(table), dtype=np.uint64)
    for a in range(0, len(table), step):
        rows = slice(a, a + step)
        out[rows] = pair_key(token_hash(table.padded, table.starts[rows], table.lens[rows]), table.query[rows])
    return out


def _join_tokens(padded: npt.NDArray[np.uint8], starts: I64, lens: I64) -> bytes:
    """The tokens joined by newlines, gathered in one vectorised copy."""
    import numpy as np

    width = lens + 1
    total = int(width.sum())
    out_start = np.cumsum(width) - width
    src = np.arange(total, dtype=np.int64) + np.repeat(starts - out_start, width)
    out = padded[src]
    out[out_start + lens] = 10
    return bytes(out[:-1].tobytes())


def _break_ties(table: RunTable, order: I64, tied: npt.NDArray[np.bool_]) -> I64:
    """Within each run of equal scores of one query, order rows by doc id descending."""
    import numpy as np

    in_run = np.zeros(len(order), dtype=bool)
    in_run[:-1] |= tied
    in_run[1:] |= tied
    pos = np.flatnonzero(in_run)
    follows_tie = np.concatenate(([False], tied))  # position p continues the run before it
    group = np.cumsum(~follows_tie[pos])
    rows = order[pos]
    starts, lens = table.starts[rows], table.lens[rows]
    keys = [~words_at(table.padded, starts, lens, j) for j in range(0, int(lens.max()), 8)]
    sorted_pos = np.lexsort((*reversed(keys), group))
    order = order.copy()
    order[pos] = rows[sorted_pos]
    return order


def query_bounds(query: I64, n_queries: int) -> I64:
    """Query i's rows are order[bounds[i]:bounds[i+1]] of a trec order (`RunTable.trec_order`)."""
    import numpy as np

    counts = np.bincount(query, minlength=n_queries).astype(np.int64)
    return np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
