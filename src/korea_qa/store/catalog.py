"""The catalog: one SQLite database that says what the index holds, and the commit point.

It keeps the articles (metadata, text, where their passages sit in which segment), the list
of live segments with their live row counts, the row ranges of each segment that no article
holds any more (`dead`: a reader's deletion marks, as few as the removals, so opening a view
never reads every placement), the vocabulary with each term's document frequency over live
passages, and the collection totals BM25 needs. A write is one SQLite transaction: segment files are
written and fsynced first, then the transaction that names them commits, so a crash leaves
the index as it was before or after the write, never between (unnamed segment folders are
swept by the next writer). In WAL mode readers keep the snapshot they began with while a
writer commits, in this process or another one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from korea_qa.records import Article, Filters

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    name TEXT PRIMARY KEY, rows INTEGER NOT NULL, live INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead (
    segment TEXT NOT NULL, first_row INTEGER NOT NULL, rows INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dead_segment ON dead (segment);
CREATE TABLE IF NOT EXISTS articles (
    ord INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    title_is_descriptive INTEGER NOT NULL,
    author TEXT, published TEXT, source TEXT, url TEXT,
    format TEXT NOT NULL,
    original TEXT,
    page_starts TEXT NOT NULL,
    refs TEXT NOT NULL,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    meta_hash TEXT NOT NULL,
    segment TEXT NOT NULL,
    first_row INTEGER NOT NULL,
    passages INTEGER NOT NULL,
    file TEXT, file_size INTEGER, file_mtime_ns INTEGER
);
CREATE INDEX IF NOT EXISTS articles_segment ON articles (segment);
CREATE INDEX IF NOT EXISTS articles_source ON articles (source COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS articles_author ON articles (author COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS articles_published ON articles (published);
CREATE TABLE IF NOT EXISTS vocab (
    id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE, df INTEGER NOT NULL);
"""

ARTICLE_COLUMNS = ("doc_id", "title", "title_is_descriptive", "author", "published", "source",
                   "url", "format", "original", "page_starts", "refs")


class Catalog:
    """One connection to the catalog. Thread-safe: calls are serialised by a lock."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path
        if not create and not path.exists():
            raise FileNotFoundError(path)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=60.0)
        # Closed with this object, not when the garbage collector reaches the connection (it
        # sits in a reference cycle of its statement cache): a server opens a view, so a
        # connection, per write, and unclosed ones held two descriptors each for minutes.
        self._closer = weakref.finalize(self, self._db.close)
        self._lock = threading.RLock()
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before the write is acknowledged.
            self._db.execute("PRAGMA synchronous=FULL")
            if create:
                self._db.executescript(SCHEMA)
        except BaseException:
            self._closer()
            raise

    def check(self) -> None:
        """SQLite's own consistency check of every page (raises sqlite3.DatabaseError)."""
        with self._lock:
            rows = self._db.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            first = " ".join(str(rows[0][0]).split())  # one line: SQLite's report has several
            raise sqlite3.DatabaseError(f"{first[:200]} ({len(rows)} problems)")

    def close(self) -> None:
        with self._lock:
            self._closer()

    # -- transactions

    @contextmanager
    def transaction(self) -> Iterator[Catalog]:
        """A write transaction (IMMEDIATE: the write lock is taken at once)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self
                self._db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (disk full) leaves the transaction open: end it, or the
                # connection's next BEGIN fails too.
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):  # the first error is the one to report
                        self._db.execute("ROLLBACK")
                raise

    def begin_snapshot(self) -> None:
        """Start a read transaction that this connection keeps: every later read sees the
        catalog as it is now, whatever other connections commit."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("SELECT 1 FROM meta LIMIT 1").fetchall()

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _run(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    # -- meta

    def meta(self) -> dict[str, Any]:
        return {key: json.loads(value) for key, value in self._all("SELECT key, value FROM meta")}

    def set_meta(self, **values: Any) -> None:
        for key, value in values.items():
            self._run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                      (key, json.dumps(value)))

    def generation(self) -> int:
        rows = self._all("SELECT value FROM meta WHERE key = 'generation'")
        return int(json.loads(rows[0][0])) if rows else 0

    # -- segments

    def segments(self) -> dict[str, int]:
        """name -> rows, of every segment the index names, by name (that is, by age)."""
        return dict(self._all("SELECT name, rows FROM segments ORDER BY name"))

    def segment_live(self) -> dict[str, tuple[int, int]]:
        """name -> (rows, live rows)."""
        return {n: (r, v) for n, r, v in self._all("SELECT name, rows, live FROM segments")}

    def add_segment(self, name: str, rows: int, live: int | None = None) -> None:
        self._run("INSERT INTO segments (name, rows, live) VALUES (?, ?, ?)",
                  (name, rows, rows if live is None else live))

    def drop_segment(self, name: str) -> None:
        self._run("DELETE FROM segments WHERE name = ?", (name,))
        self._run("DELETE FROM dead WHERE segment = ?", (name,))

    def mark_dead(self, segment: str, first_row: int, rows: int) -> None:
        """Rows [first_row, first_row + rows) of `segment` no longer belong to an article."""
        self._run("INSERT INTO dead (segment, first_row, rows) VALUES (?, ?, ?)",
                  (segment, first_row, rows))
        self._run("UPDATE segments SET live = live - ? WHERE name = ?", (rows, segment))

    def dead_ranges(self) -> dict[str, np.ndarray]:
        """segment -> its dead row ranges (first row, rows), for the segments that have any."""
        out: dict[str, list[tuple[int, int]]] = {}
        for name, first, rows in self._all("SELECT segment, first_row, rows FROM dead"):
            out.setdefault(name, []).append((first, rows))
        return {n: np.array(r, dtype=np.int64).reshape(-1, 2) for n, r in out.items()}

    # -- articles

    def article(self, doc_id: str) -> dict[str, Any] | None:
        rows = self._query_articles("WHERE doc_id = ?", (doc_id,))
        return rows[0] if rows else None

    def article_page(self, *, limit: int, after: str | None = None,
                     filters: Filters | None = None) -> list[dict[str, Any]]:
        """Articles ordered by doc_id, `limit` of them after the id `after` (keyset paging:
        as fast on the thousandth page as on the first)."""
        where, args = _filter_sql(filters or Filters())
        if after is not None:
            where.append("doc_id > ?")
            args.append(after)
        sql = ("WHERE " + " AND ".join(where) if where else "") + " ORDER BY doc_id LIMIT ?"
        return self._query_articles(sql, [*args, limit], text=False)

    def count_articles(self, filters: Filters | None = None) -> int:
        where, args = _filter_sql(filters or Filters())
        sql = "SELECT COUNT(*) FROM articles" + (" WHERE " + " AND ".join(where) if where else "")
        return int(self._all(sql, args)[0][0])

    def ords_matching(self, filters: Filters) -> np.ndarray:
        where, args = _filter_sql(filters)
        sql = "SELECT ord FROM articles" + (" WHERE " + " AND ".join(where) if where else "")
        return np.array([r[0] for r in self._all(sql, args)], dtype=np.int64)

    def placements_matching(self, filters: Filters, limit: int) -> list[tuple[str, int, int]]:
        """(segment, first row, passages) of the articles inside `filters`, if there are at
        most `limit` of them; otherwise the first `limit + 1`."""
        where, args = _filter_sql(filters)
        sql = ("SELECT segment, first_row, passages FROM articles"
               + (" WHERE " + " AND ".join(where) if where else "") + " LIMIT ?")
        return [(str(a), int(b), int(c)) for a, b, c in self._all(sql, [*args, limit + 1])]

    def max_ord(self) -> int:
        """The highest article number ever given (rows of removed articles keep theirs)."""
        rows = self._all("SELECT seq FROM sqlite_sequence WHERE name = 'articles'")
        return int(rows[0][0]) if rows else 0

    def doc_ids_by_ord(self, ords: Iterable[int]) -> dict[int, str]:
        """ord -> doc_id: what naming a passage needs (not the row, whose text is long)."""
        ords = sorted({int(o) for o in ords})
        out: dict[int, str] = {}
        for chunk in _chunks(ords, 500):
            marks = ",".join("?" * len(chunk))
            out.update(self._all(f"SELECT ord, doc_id FROM articles WHERE ord IN ({marks})",
                                 chunk))
        return out

    def passage_texts(self, spans: Sequence[tuple[int, int, int]]) -> list[tuple[str, str]]:
        """(doc_id, text) of each (ord, start, end) span of an article's text, in one query
        per 300 spans (a search reads a dozen passages; a query each cost ~35 us apiece)."""
        out: list[tuple[str, str]] = []
        for chunk in _chunks(list(spans), 300):
            values = ",".join(["(?, ?, ?, ?)"] * len(chunk))
            args = [x for i, (o, a, b) in enumerate(chunk) for x in (i, o, a + 1, b - a)]
            got = {i: (d, t) for i, d, t in self._all(
                f"WITH want(i, ord, at, len) AS (VALUES {values}) SELECT want.i, a.doc_id, "
                "substr(a.text, want.at, want.len) FROM want JOIN articles a ON a.ord = want.ord",
                args)}
            out.extend(got.get(i, ("", "")) for i in range(len(chunk)))
        return out

    def text(self, doc_id: str) -> str | None:
        rows = self._all("SELECT text FROM articles WHERE doc_id = ?", (doc_id,))
        return str(rows[0][0]) if rows else None

    def file_states(self, doc_id: str | None = None) -> dict[str, tuple[Any, ...]]:
        """doc_id -> (file, size, mtime_ns, content hash, meta hash, passages): what a writer
        compares (of one article, or of all)."""
        sql = ("SELECT doc_id, file, file_size, file_mtime_ns, content_hash, meta_hash, passages "
               "FROM articles")
        rows = self._all(sql + " WHERE doc_id = ?", (doc_id,)) if doc_id else self._all(sql)
        return {r[0]: tuple(r[1:]) for r in rows}

    def insert_article(self, article: Article, *, segment: str, first_row: int, passages: int,
                       file: tuple[str, int, int] | None = None) -> int:
        values = _article_values(article)
        stat = file or (None, None, None)
        cursor = self._run(
            f"INSERT INTO articles ({', '.join(ARTICLE_COLUMNS)}, text, content_hash, "
            "meta_hash, segment, first_row, passages, file, file_size, file_mtime_ns) VALUES "
            f"({', '.join('?' * (len(ARTICLE_COLUMNS) + 9))})",
            (*values, article.text, article.content_hash(), article.meta_hash(), segment,
             first_row, passages, *stat))
        return int(cursor.lastrowid or 0)

    def update_metadata(self, article: Article, file: tuple[str, int, int] | None) -> None:
        sets = ", ".join(f"{c} = ?" for c in ARTICLE_COLUMNS[1:])
        stat = file or (None, None, None)
        self._run(f"UPDATE articles SET {sets}, meta_hash = ?, file = ?, file_size = ?, "
                  "file_mtime_ns = ? WHERE doc_id = ?",
                  (*_article_values(article)[1:], article.meta_hash(), *stat, article.doc_id))

    def update_file_state(self, doc_id: str, file: tuple[str, int, int]) -> None:
        self._run("UPDATE articles SET file = ?, file_size = ?, file_mtime_ns = ? "
                  "WHERE doc_id = ?", (*file, doc_id))

    def delete_article(self, doc_id: str) -> None:
        self._run("DELETE FROM articles WHERE doc_id = ?", (doc_id,))

    def move_article(self, ord_: int, segment: str, first_row: int, *, was: tuple[str, int]
                     ) -> bool:
        """Move an article's placement, if it is still where it `was` (segment, first row);
        returns whether it was (a merge that ran without the write lock checks so)."""
        cursor = self._run("UPDATE articles SET segment = ?, first_row = ? "
                           "WHERE ord = ? AND segment = ? AND first_row = ?",
                           (segment, first_row, ord_, *was))
        return cursor.rowcount == 1

    def articles_in(self, segment: str) -> list[tuple[int, int, int]]:
        """(ord, first_row, passages) of the live articles of one segment, by first row."""
        return [tuple(r) for r in self._all(
            "SELECT ord, first_row, passages FROM articles WHERE segment = ? ORDER BY first_row",
            (segment,))]

    def _query_articles(self, where: str, args: Sequence[Any],
                        text: bool = True) -> list[dict[str, Any]]:
        columns = ["ord", *ARTICLE_COLUMNS, "content_hash", "meta_hash", "segment", "first_row",
                   "passages", "length(text)"] + (["text"] if text else [])
        rows = self._all(f"SELECT {', '.join(columns)} FROM articles {where}", args)
        out = []
        for row in rows:
            record = dict(zip(columns, row, strict=True))
            record["characters"] = record.pop("length(text)")
            record["title_is_descriptive"] = bool(record["title_is_descriptive"])
            record["page_starts"] = tuple(json.loads(record["page_starts"]))
            record["references"] = tuple(json.loads(record.pop("refs")))
            out.append(record)
        return out

    # -- vocabulary

    def term_ids(self, terms: Sequence[str]) -> dict[str, tuple[int, int]]:
        """term -> (id, df) for the terms the vocabulary knows."""
        out: dict[str, tuple[int, int]] = {}
        for chunk in _chunks(sorted(set(terms)), 500):
            marks = ",".join("?" * len(chunk))
            for term, id_, df in self._all(
                    f"SELECT term, id, df FROM vocab WHERE term IN ({marks})", chunk):
                out[term] = (int(id_), int(df))
        return out

    def ensure_terms(self, terms: Iterable[str]) -> dict[str, int]:
        """Ids for `terms`, adding the new ones (df 0); call inside a transaction."""
        wanted = sorted(set(terms))
        known = {t: i for t, (i, _) in self.term_ids(wanted).items()}
        with self._lock:
            self._db.executemany("INSERT INTO vocab (term, df) VALUES (?, 0)",
                                 [(t,) for t in wanted if t not in known])
        known.update({t: i for t, (i, _) in self.term_ids(
            [t for t in wanted if t not in known]).items()})
        return known

    def add_df(self, term_ids: np.ndarray, sign: int) -> None:
        """Each occurrence of a term id in `term_ids` moves its df by `sign`."""
        ids, counts = np.unique(term_ids, return_counts=True)
        with self._lock:
            self._db.executemany("UPDATE vocab SET df = df + ? WHERE id = ?",
                                 [(int(c) * sign, int(i)) for i, c in zip(ids, counts,
                                                                           strict=True)])

    def df_table(self) -> list[tuple[str, int]]:
        """Every term with a live passage, and its df (for checks and tests)."""
        return [(t, int(d)) for t, d in self._all(
            "SELECT term, df FROM vocab WHERE df > 0 ORDER BY term")]


def _article_values(article: Article) -> tuple[Any, ...]:
    return (article.doc_id, article.title, int(article.title_is_descriptive), article.author,
            article.published, article.source, article.url, article.format, article.original,
            json.dumps(list(article.page_starts)),
            json.dumps(list(article.references), ensure_ascii=False))


def row_to_article(row: dict[str, Any], text: str) -> Article:
    return Article(doc_id=row["doc_id"], title=row["title"], text=text,
                   title_is_descriptive=row["title_is_descriptive"], author=row["author"],
                   published=row["published"], source=row["source"], url=row["url"],
                   references=row["references"], format=row["format"],
                   page_starts=row["page_starts"], original=row["original"])


def _filter_sql(filters: Filters) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if filters.doc_ids:
        where.append(f"doc_id IN ({','.join('?' * len(filters.doc_ids))})")
        args.extend(filters.doc_ids)
    # ISO dates compare as strings; an article without a date has none to compare.
    for clause, value in (("source = ? COLLATE NOCASE", filters.source),
                          ("author = ? COLLATE NOCASE", filters.author),
                          ("published >= ?", filters.published_from),
                          ("published <= ?", filters.published_to)):
        if value:
            where.append(clause)
            args.append(value)
    return where, args


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
