"""Index stage: build the index folder, swap it in atomically, load and verify it.

Layout of `index_dir`:

    current -> versions/20261125T170000Z-1234   (symlink, replaced atomically)
    versions/<name>/manifest.json               (written last; checksums of every file)
    versions/<name>/articles.jsonl, passages.jsonl, vectors.npy, sentence_vectors.npy,
    versions/<name>/lexical/...                 (bm25s arrays and vocabulary)

A build writes into `versions/.tmp-*`, fsyncs every file, verifies the folder, renames it,
then repoints `current`. A build killed at any moment leaves `current` as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from korea_qa import __version__
from korea_qa.answer import sentence_terms
from korea_qa.chunk import chunk_corpus
from korea_qa.corpus import corpus_hash, load_corpus
from korea_qa.embed import Embedder
from korea_qa.errors import IndexNotReady, KoreaQAError
from korea_qa.lexical import LexicalIndex
from korea_qa.records import Article, Passage
from korea_qa.settings import Settings
from korea_qa.vector import VectorIndex

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class LoadedIndex:
    path: Path
    manifest: dict[str, Any]
    articles: dict[str, Article]
    passages: list[Passage]
    vectors: VectorIndex
    sentence_vectors: np.ndarray
    sentence_offsets: np.ndarray  # passage i's sentences are rows [off[i], off[i+1])
    sentence_terms: list[list[frozenset[str]]]  # per passage, each sentence's stems
    lexical: LexicalIndex

    def passage_count(self, doc_id: str) -> int:
        return sum(1 for p in self.passages if p.doc_id == doc_id)


# ---------------------------------------------------------------- build


def build_index(
    settings: Settings, embedder: Embedder, *, progress: bool = True
) -> Path:
    """Build from `settings.corpus_dir` and make it the current index. Returns its folder."""
    started = time.perf_counter()
    articles = load_corpus(settings.corpus_dir)
    passages = chunk_corpus(
        articles,
        min_words=settings.chunk_min_words,
        max_words=settings.chunk_max_words,
        overlap_sentences=settings.chunk_overlap_sentences,
    )
    versions = settings.index_dir / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    with _build_lock(settings.index_dir):
        _remove_abandoned(versions)
        name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{os.getpid()}"
        tmp = versions / f".tmp-{name}"
        tmp.mkdir()
        try:
            _write_index(tmp, settings, embedder, articles, passages, progress=progress,
                         started=started)
            verify_folder(tmp)
            final = versions / name
            os.rename(tmp, final)
            _fsync_dir(versions)
            _point_current(settings.index_dir, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _prune(versions, keep={final.name, *_current_names(settings.index_dir)})
    return final


def _write_index(
    folder: Path,
    settings: Settings,
    embedder: Embedder,
    articles: Sequence[Article],
    passages: Sequence[Passage],
    *,
    progress: bool,
    started: float,
) -> None:
    texts = [p.text for p in passages]
    sentences = [p.text[s:e] for p in passages for s, e in p.sentences]
    vectors = embedder.encode(texts, batch_size=settings.embed_batch_size, progress=progress)
    sentence_vectors = embedder.encode(
        sentences, batch_size=settings.embed_batch_size, progress=progress
    )
    _write_jsonl(folder / "articles.jsonl",
                 ({**a.metadata(), "references": list(a.references), "text": a.text}
                  for a in articles))
    _write_jsonl(folder / "passages.jsonl", (asdict(p) for p in passages))
    _write_npy(folder / "vectors.npy", vectors)
    _write_npy(folder / "sentence_vectors.npy", sentence_vectors)
    LexicalIndex.build(texts).save(folder / "lexical")
    for path in (folder / "lexical").iterdir():
        _fsync_file(path)
    _fsync_dir(folder / "lexical")
    manifest = {
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 3),
        "model": embedder.model_id,
        "dim": int(vectors.shape[1]) if len(vectors) else embedder.dim,
        "settings": settings.index_fingerprint(),
        "fingerprint": settings.fingerprint_hash(),
        "corpus_hash": corpus_hash(settings.corpus_dir),
        "counts": {"articles": len(articles), "passages": len(passages),
                   "sentences": len(sentences)},
        "files": {rel: _file_entry(folder / rel) for rel in _data_files(folder)},
    }
    _write_bytes(folder / MANIFEST, json.dumps(manifest, indent=2).encode())
    _fsync_dir(folder)


# ---------------------------------------------------------------- status and load


def current_path(index_dir: Path) -> Path | None:
    link = index_dir / "current"
    if not link.exists():
        return None
    return link.resolve()


def staleness(settings: Settings) -> str | None:
    """Why the current index must be rebuilt, or None when it is up to date."""
    path = current_path(settings.index_dir)
    if path is None:
        return f"no index in {settings.index_dir}"
    try:
        manifest = read_manifest(path)
        verify_folder(path)
    except IndexNotReady as exc:
        return str(exc.args[0]) if exc.args else exc.problem
    if manifest.get("fingerprint") != settings.fingerprint_hash():
        return "index settings or model changed since the index was built"
    if manifest.get("corpus_hash") != corpus_hash(settings.corpus_dir):
        return "corpus changed since the index was built"
    return None


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise IndexNotReady("missing", file=str(path)) from None
    except (OSError, ValueError) as exc:
        raise IndexNotReady(f"unreadable manifest ({exc.__class__.__name__})",
                            file=str(path)) from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexNotReady(f"not an index manifest of format {FORMAT_VERSION}", file=str(path))
    return manifest


def verify_folder(folder: Path) -> dict[str, Any]:
    """Check every file the manifest lists: present, same size, same sha256."""
    manifest = read_manifest(folder)
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise IndexNotReady("manifest lists no files", file=str(folder / MANIFEST))
    for rel, entry in files.items():
        path = folder / rel
        if not path.is_file():
            raise IndexNotReady("missing", file=str(path))
        size = path.stat().st_size
        if size != entry.get("bytes"):
            raise IndexNotReady(f"truncated or changed: {size} bytes, manifest says "
                                f"{entry.get('bytes')}", file=str(path))
        if _sha256(path) != entry.get("sha256"):
            raise IndexNotReady("corrupted: checksum does not match the manifest",
                                file=str(path))
    return manifest


def load_index(settings: Settings, *, expect_model: str | None = None,
               expect_dim: int | None = None) -> LoadedIndex:
    folder = current_path(settings.index_dir)
    if folder is None:
        raise IndexNotReady(f"no index in {settings.index_dir}")
    manifest = verify_folder(folder)
    model = expect_model or settings.model_id()
    if manifest.get("model") != model:
        raise IndexNotReady(
            f"built with model {manifest.get('model')!r}, but the service uses {model!r}",
            file=str(folder / MANIFEST))
    if expect_dim is not None and manifest.get("dim") != expect_dim:
        raise IndexNotReady(
            f"vectors have dimension {manifest.get('dim')}, the model gives {expect_dim}",
            file=str(folder / MANIFEST))
    try:
        return _read_folder(folder, manifest)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexNotReady(f"cannot be read ({exc.__class__.__name__}: {exc})",
                            file=str(folder)) from None


def _read_folder(folder: Path, manifest: dict[str, Any]) -> LoadedIndex:
    articles = {}
    for row in _read_jsonl(folder / "articles.jsonl"):
        row.pop("references", None)
        articles[row["doc_id"]] = Article(**{k: v for k, v in row.items()})
    passages = []
    for row in _read_jsonl(folder / "passages.jsonl"):
        row["sentences"] = tuple(tuple(s) for s in row["sentences"])
        passages.append(Passage(**row))
    vectors = np.load(folder / "vectors.npy", allow_pickle=False)
    sentence_vectors = np.load(folder / "sentence_vectors.npy", allow_pickle=False)
    offsets = np.concatenate([[0], np.cumsum([len(p.sentences) for p in passages])])
    dim = manifest["dim"]
    if vectors.shape != (len(passages), dim) or sentence_vectors.shape != (int(offsets[-1]), dim):
        raise ValueError("array shapes do not match the passages and the manifest")
    return LoadedIndex(
        path=folder,
        manifest=manifest,
        articles=articles,
        passages=passages,
        vectors=VectorIndex(vectors),
        sentence_vectors=sentence_vectors,
        sentence_offsets=offsets.astype(np.int64),
        sentence_terms=[sentence_terms(p) for p in passages],
        lexical=LexicalIndex.load(folder / "lexical", len(passages)),
    )


# ---------------------------------------------------------------- files


def _data_files(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST
    )


def _file_entry(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_bytes(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]] | Any) -> None:
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    _write_bytes(path, lines.encode("utf-8"))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _write_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as handle:
        np.save(handle, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    _fsync_file(path)


def _point_current(index_dir: Path, target: Path) -> None:
    link = index_dir / "current"
    tmp = index_dir / f".current-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(os.path.relpath(target, index_dir), tmp)
    os.replace(tmp, link)  # atomic: readers see the old index or the new, never neither
    _fsync_dir(index_dir)


def _current_names(index_dir: Path) -> set[str]:
    path = current_path(index_dir)
    return {path.name} if path else set()


def _prune(versions: Path, keep: set[str], spare: int = 1) -> None:
    """Delete old versions, keeping `keep` and the `spare` newest others (for rollback)."""
    old = sorted((p for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and p.name not in keep), reverse=True)
    for path in old[spare:]:
        shutil.rmtree(path, ignore_errors=True)


def _remove_abandoned(versions: Path) -> None:
    # Only called under the build lock, so no other build owns these.
    for path in versions.glob(".tmp-*"):
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".build.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KoreaQAError(f"another build is running in {index_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
