"""The BM25 index as a cached artefact: bm25s's own files, with the tokenizer's vocabulary and the
indexed document ids, packed into one entry of the artefact store.

bm25s bakes k1, b, the method and delta into the score matrix it indexes, so the key holds them
with everything that changes the tokens (fields, lowercasing, stemmer, stopwords), the corpus
fingerprint and the bm25s version (its file format). Only bm25s's public `save`/`load` and
`save_vocab`/`load_vocab` touch the files, through a temporary folder. A private module: the
stage registry does not load modules whose name starts with `_`.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

FORMAT = 1
DOC_IDS = "doc_ids.json"
VOCAB = "vocab.tokenizer.json"


def pack(retriever: Any, tokenizer: Any, doc_ids: list[str]) -> bytes:
    """One blob (an .npz of the files' bytes) holding everything `unpack` needs."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="harness-bm25-") as tmp:
        folder = Path(tmp)
        if doc_ids:  # a corpus without a single term has no index to save (nothing is retrieved)
            retriever.save(str(folder), show_progress=False)
        tokenizer.save_vocab(str(folder), vocab_name=VOCAB)
        (folder / DOC_IDS).write_text(json.dumps(doc_ids, ensure_ascii=False), encoding="utf-8")
        files = {p.name: np.frombuffer(p.read_bytes(), dtype=np.uint8) for p in sorted(folder.iterdir())}
    out = io.BytesIO()
    savez: Any = np.savez  # numpy's stubs type the keyword arrays as its own flags
    savez(out, **files)
    return out.getvalue()


def unpack(blob: bytes, tokenizer: Any) -> tuple[Any | None, list[str]]:
    """(the bm25s retriever, None when no document was indexed; the indexed document ids);
    `tokenizer` gets the stored vocabulary."""
    import bm25s
    import numpy as np

    with np.load(io.BytesIO(blob), allow_pickle=False) as files, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in files.files:
            if Path(name).name != name or name.startswith("."):  # names are bm25s's own
                raise ValueError(f"unexpected file name {name!r} in a cached BM25 index")
            (folder / name).write_bytes(files[name].tobytes())
        doc_ids = json.loads((folder / DOC_IDS).read_text(encoding="utf-8"))
        retriever = bm25s.BM25.load(str(folder), mmap=False, show_progress=False, verbosity=0) if doc_ids else None
        tokenizer.load_vocab(str(folder), vocab_name=VOCAB)
    return retriever, doc_ids
