import json
from pathlib import Path

import pytest

from korea_qa import __version__
from korea_qa.embed import HashEmbedder
from korea_qa.errors import IndexNotReady
from korea_qa.index import build_index, current_path, load_index, read_manifest, staleness
from korea_qa.settings import Settings


def test_manifest_records_what_the_index_was_built_from(built: Settings) -> None:
    manifest = read_manifest(current_path(built.index_dir))
    assert manifest["model"] == "hash:64"
    assert manifest["dim"] == 64
    assert manifest["package_version"] == __version__
    assert manifest["settings"]["chunk_max_words"] == built.chunk_max_words
    assert manifest["counts"]["articles"] == 2
    assert manifest["counts"]["passages"] > 30
    assert set(manifest["files"]) >= {"articles.jsonl", "passages.jsonl", "vectors.npy",
                                      "sentence_vectors.npy"}
    assert any(f.startswith("lexical/") for f in manifest["files"])
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"].values())
    assert manifest["built_at"].endswith("+00:00")


def test_loaded_index_round_trips_passages_and_articles(built: Settings) -> None:
    index = load_index(built)
    assert len(index.passages) == index.vectors.size
    assert index.sentence_vectors.shape[0] == index.sentence_offsets[-1]
    for p in index.passages:
        assert index.articles[p.doc_id].text[p.start:p.end] == p.text


def test_staleness_follows_corpus_and_settings(settings: Settings) -> None:
    assert "no index" in (staleness(settings) or "")
    build_index(settings, HashEmbedder(64), progress=False)
    assert staleness(settings) is None
    article = settings.corpus_dir / "russia-dprk-thaw.md"
    article.write_text(article.read_text() + "\nA new closing sentence.\n")
    assert staleness(settings) == "corpus changed since the index was built"
    build_index(settings, HashEmbedder(64), progress=False)
    assert staleness(settings) is None
    changed = settings.model_copy(update={"chunk_max_words": 90})
    assert "settings or model changed" in (staleness(changed) or "")


def test_an_added_article_is_searchable_after_rebuild(settings: Settings) -> None:
    (settings.corpus_dir / "extra.txt").write_text(
        "---\ntitle: Extra\n---\nThe Tumen River bridge carries trains between the two "
        "countries across the river.\n")
    build_index(settings, HashEmbedder(64), progress=False)
    index = load_index(settings)
    assert "extra" in index.articles
    assert any(p.doc_id == "extra" for p in index.passages)


def test_model_mismatch_is_refused(built: Settings) -> None:
    with pytest.raises(IndexNotReady, match="built with model 'hash:64'"):
        load_index(built, expect_model="other-model")
    with pytest.raises(IndexNotReady, match="dimension 64"):
        load_index(built, expect_dim=384)


def test_rebuild_keeps_one_previous_version_and_swaps_current(built: Settings) -> None:
    first = current_path(built.index_dir)
    second = build_index(built, HashEmbedder(64), progress=False)
    third = build_index(built, HashEmbedder(64), progress=False)
    versions = sorted(p.name for p in (built.index_dir / "versions").iterdir())
    assert current_path(built.index_dir) == third
    assert versions == sorted([second.name, third.name])
    assert first is not None and not first.exists()
    assert json.loads((third / "manifest.json").read_text())["fingerprint"] == \
        built.fingerprint_hash()


def test_missing_index_is_not_ready(tmp_path: Path) -> None:
    with pytest.raises(IndexNotReady, match="no index"):
        load_index(Settings(index_dir=tmp_path / "nothing", model="hash:64"))
