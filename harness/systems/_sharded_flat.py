"""Exact inner-product search over embeddings that stay on disk: the `.npy` file of the cache entry
is memory-mapped and searched a block of rows at a time with FAISS's own exact kernel
(`faiss.knn`, what `IndexFlatIP` runs), the best `k` of each block merged into the answer. After
each block its pages are released from the process (`madvise(MADV_DONTNEED)`: they stay in the
page cache), so the resident embeddings are one block, not the corpus (`memory_limit_mb`).

Also writes that file chunk by chunk, so that encoding holds one chunk of embeddings at a time.
A private module: the stage registry does not load modules whose name starts with `_`.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any, BinaryIO

FILE = "embeddings.npy"


def write_header(out: BinaryIO, rows: int, dim: int) -> None:
    """The `.npy` header of a float32 [rows, dim] array; its rows are then written in order."""
    import numpy as np

    np.lib.format.write_array_header_2_0(out, {"descr": "<f4", "fortran_order": False, "shape": (rows, dim)})


def _layout(path: Path) -> tuple[tuple[int, int], int]:
    """(shape, byte offset of the data) of a float32 C-order `.npy` file."""
    import numpy as np

    with path.open("rb") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_2_0 if version >= (2, 0) else np.lib.format.read_array_header_1_0
        shape, fortran, dtype = read(f)
        if fortran or dtype != np.dtype("<f4") or len(shape) != 2:
            raise ValueError(f"{path}: not a float32 C-order matrix")
        return (int(shape[0]), int(shape[1])), f.tell()


class ShardedFlat:
    """The part of a FAISS flat index's interface the dense stage uses (`ntotal`, `search`,
    `reconstruct_n`), over a memory-mapped `.npy` file, `memory_limit_mb` of rows at a time."""

    def __init__(self, path: Path, memory_limit_mb: float) -> None:
        (self.ntotal, self.d), offset = _layout(path)
        self.rows = max(1, int(memory_limit_mb * 1e6) // (self.d * 4))
        with path.open("rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._offset = offset

    def _block(self, start: int, stop: int) -> Any:
        import numpy as np

        count = (stop - start) * self.d
        return np.frombuffer(self._map, dtype="<f4", count=count, offset=self._offset + start * self.d * 4).reshape(
            stop - start, self.d
        )

    def search(self, q: Any, k: int, params: Any = None) -> tuple[Any, Any]:
        """(scores, ids), [nq, k] each, best first, as `IndexFlatIP.search` returns them."""
        import faiss
        import numpy as np

        best_s = np.empty((len(q), 0), dtype=np.float32)
        best_i = np.empty((len(q), 0), dtype=np.int64)
        for start in range(0, self.ntotal, self.rows):
            stop = min(start + self.rows, self.ntotal)
            scores, ids = faiss.knn(
                q, self._block(start, stop), min(k, stop - start), metric=faiss.METRIC_INNER_PRODUCT
            )
            self._map.madvise(mmap.MADV_DONTNEED)  # the block leaves the resident set
            best_s = np.concatenate([best_s, scores], axis=1)
            best_i = np.concatenate([best_i, ids + start], axis=1)
            # A stable sort keeps the earlier document first among equal scores, as one index does.
            order = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
            best_s = np.take_along_axis(best_s, order, axis=1)
            best_i = np.take_along_axis(best_i, order, axis=1)
        return best_s, best_i

    def reconstruct_n(self, start: int, n: int) -> Any:
        import numpy as np

        return np.array(self._block(start, start + n))
