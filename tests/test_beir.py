"""The BEIR harness on a tiny hand-made folder, and the embedding cache."""

from __future__ import annotations

import argparse
import gzip
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from korea_qa.errors import KoreaQAError
from korea_qa.evaluate.beir import MaxSimVectors, doc_text, doc_windows, load_beir
from korea_qa.evaluate.beir_command import run_beir
from korea_qa.evaluate.cli import add_beir_arguments
from korea_qa.evaluate.embed_cache import CachedEmbedder
from korea_qa.models.embed import HashEmbedder
from korea_qa.settings import Settings

DOCS = [
    {"_id": "d1", "title": "Aspirin and the heart", "text": "Aspirin reduces heart attack risk."},
    {"_id": "d2", "title": "Vitamin D", "text": "Vitamin D improves bone density."},
    {"_id": "d3", "title": "", "text": "Aspirin causes stomach bleeding in elderly patients."},
    {"_id": "d4", "title": "Exercise.", "text": "Exercise lowers blood pressure."},
]
QUERIES = [
    {"_id": "q1", "text": "vitamin bone"},
    {"_id": "q2", "text": "stomach bleeding aspirin"},
    {"_id": "q3", "text": "an unjudged query"},
]
# q2: d1 is the better answer (grade 2) but BM25 puts d3 (grade 1) first.
QRELS = "query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td1\t2\nq2\td3\t1\n"


def make_folder(root: Path, *, gz: bool) -> Path:
    folder = root / ("gz" if gz else "plain")
    (folder / "qrels").mkdir(parents=True)
    corpus = "".join(json.dumps(d) + "\n" for d in DOCS)
    if gz:
        with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
            handle.write(corpus)
    else:
        (folder / "corpus.jsonl").write_text(corpus)
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    (folder / "qrels" / "test.tsv").write_text(QRELS)
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_loader_reads_plain_and_gzipped_corpora(tmp_path: Path, gz: bool) -> None:
    data = load_beir(make_folder(tmp_path, gz=gz), "test")
    assert data.doc_ids == ["d1", "d2", "d3", "d4"]
    assert data.titles[2] == ""
    assert data.texts[1] == "Vitamin D improves bone density."
    # Only judged queries are evaluated; the header line is not a judgement.
    assert data.queries == {"q1": "vitamin bone", "q2": "stomach bleeding aspirin"}
    assert data.qrels == {"q1": {"d2": 1}, "q2": {"d1": 2, "d3": 1}}


def test_missing_split_names_the_splits_there(tmp_path: Path) -> None:
    with pytest.raises(KoreaQAError, match="splits here: test"):
        load_beir(make_folder(tmp_path, gz=False), "train")


def test_qrels_naming_an_unknown_query_is_an_error(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, gz=False)
    (folder / "qrels" / "test.tsv").write_text(QRELS + "q9\td1\t1\n")
    with pytest.raises(KoreaQAError, match=r"missing from queries\.jsonl"):
        load_beir(folder, "test")


def test_doc_text_joins_title_and_abstract() -> None:
    assert doc_text("Vitamin D", "It helps.") == "Vitamin D. It helps."
    assert doc_text("Exercise.", "It helps.") == "Exercise. It helps."
    assert doc_text("", "It helps.") == "It helps."


def test_windows_are_title_led_and_share_a_sentence() -> None:
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    assert doc_windows("T", text, 6) == [
        "T. One two three. Four five six.",
        "T. Four five six. Seven eight nine.",
        "T. Seven eight nine. Ten eleven twelve.",
    ]
    assert doc_windows("T", "Short.", 6) == ["T. Short."]


def test_max_sim_scores_a_document_by_its_best_vector() -> None:
    vectors = np.array([[1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    index = MaxSimVectors(vectors, np.array([0, 1, 0]), size=2)
    query = np.array([0.0, 1.0], dtype=np.float32)
    assert index.all_scores(query) == pytest.approx([0.8, 1.0])
    with pytest.raises(ValueError):
        MaxSimVectors(vectors, np.array([0, 0, 2]), size=3)


def _args(folder: Path, out: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_beir_arguments(parser)
    return parser.parse_args([str(folder), "--split", "test", "--out", str(out), "--quiet",
                              *extra])


def test_run_beir_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_folder(tmp_path, gz=True)
    out = tmp_path / "result.json"
    settings = Settings(model="hash:64", cache_dir=tmp_path / "cache")
    # dense_weight 0: hybrid is BM25 order, with dense-only candidates after, so both
    # lexical and hybrid are hand-checkable.
    args = _args(folder, out, "--fusion", "convex", "--dense-weight", "0", "--window-words", "4")
    assert run_beir(args, settings) == 0
    report = json.loads(out.read_text())
    # q1: d2 first -> 1.0 everywhere. q2: d3 (grade 1) then d1 (grade 2):
    # DCG = 1 + 2/log2(3), ideal = 2 + 1/log2(3); reciprocal rank 1; both found.
    q2_ndcg = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    for mode in ("lexical", "hybrid"):
        assert report["modes"][mode]["ndcg@10"] == pytest.approx((1 + q2_ndcg) / 2)
        assert report["modes"][mode]["mrr@10"] == pytest.approx(1.0)
        assert report["modes"][mode]["recall@100"] == pytest.approx(1.0)
    # Four documents: every one is retrieved densely, so every relevant one is found.
    assert report["modes"]["dense"]["recall@100"] == pytest.approx(1.0)
    assert report["queries"] == 2 and report["documents"] == 4
    assert report["config"]["dense_weight"] == 0.0 and report["config"]["fusion"] == "convex"
    printed = capsys.readouterr().out
    assert "hybrid" in printed and f"{(1 + q2_ndcg) / 2:.4f}" in printed


def test_run_beir_rejects_unknown_modes(tmp_path: Path) -> None:
    args = _args(make_folder(tmp_path, gz=False), tmp_path / "r.json", "--modes", "dense,fuzzy")
    with pytest.raises(KoreaQAError, match="fuzzy"):
        run_beir(args, Settings(model="hash:64", cache_dir=tmp_path / "cache"))


class CountingEmbedder(HashEmbedder):
    def __init__(self, dim: int = 32) -> None:
        super().__init__(dim)
        self.embedded = 0

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        self.embedded += len(texts)
        return super().encode(texts, batch_size=batch_size, progress=progress)


def test_cache_returns_identical_vectors_without_re_embedding(tmp_path: Path) -> None:
    texts = ["alpha beta", "gamma delta", "alpha beta", "epsilon"]
    first = CountingEmbedder()
    vectors = CachedEmbedder(first, tmp_path).encode(texts)
    assert first.embedded == 3  # the repeated text is embedded once
    assert np.array_equal(vectors, HashEmbedder(32).encode(texts))

    # A new process: the cache is read back from disk and the model is not called.
    second = CountingEmbedder()
    again = CachedEmbedder(second, tmp_path).encode(texts)
    assert second.embedded == 0
    assert np.array_equal(again, vectors)

    # Only the new text reaches the model.
    CachedEmbedder(second, tmp_path).encode(["epsilon", "zeta"])
    assert second.embedded == 1


def test_cache_is_per_model(tmp_path: Path) -> None:
    CachedEmbedder(CountingEmbedder(), tmp_path).encode(["alpha"])
    counting = CountingEmbedder(16)
    CachedEmbedder(counting, tmp_path).encode(["alpha"])
    assert counting.embedded == 1


def test_cache_keeps_what_another_process_saved(tmp_path: Path) -> None:
    one = CachedEmbedder(HashEmbedder(32), tmp_path)
    two = CachedEmbedder(HashEmbedder(32), tmp_path)
    one.encode(["alpha"])
    two.encode(["beta"])  # loaded before "alpha" was saved; must not drop it when saving
    third = CountingEmbedder()
    CachedEmbedder(third, tmp_path).encode(["alpha", "beta"])
    assert third.embedded == 0
