"""A search response as text for a person at a terminal (`korea-qa ask`).

It reads the API's response shape, so what the command prints and what `--json` prints are
the same answer. The answer sentence is marked with » «, and the answer inside it, where the
reader points at one, with ⟦ ⟧ and repeated on its own line.
"""

from __future__ import annotations

import textwrap
from typing import Any

SENTENCE_MARKS = ("»", "«")
SPAN_MARKS = ("⟦", "⟧")


def render_text(response: Any) -> str:
    """Readable passages with citations, each with its marked answer and why it was chosen."""
    lines = [f"Q: {response.query}"]
    if not response.answerable:
        lines.append("Nothing in these articles seems to answer this — closest passages:")
    missing = getattr(response, "missing_terms", None)
    if missing:
        lines.append(f"Not mentioned in any article: {', '.join(missing)}")
    confidence = getattr(response, "confidence", None)
    if confidence is not None:
        lines.append(f"Probability that the articles answer: {100 * confidence:.0f}%")
    for r in response.results:
        c = r.citation
        by = f", {c.author}" if c.author else ""
        date = f", {c.published}" if c.published else ""
        lines.append("")
        page = f"page {c.page}, " if c.page else ""
        lines.append(f"[{r.rank}] {c.title}{by}{date} — {page}paragraph {c.paragraph}, "
                     f"chars {c.start}–{c.end} of {c.doc_id} (score {r.score:.3f})")
        lines.extend(textwrap.wrap(marked(r.text, r.answer), width=100, initial_indent="    ",
                                   subsequent_indent="    "))
        span = getattr(r.answer, "span", None)
        if span is not None:
            lines.append(f"    answer: {span.text}")
        if getattr(r, "explain", None) is not None:
            lines.append("    " + explain_line(r.explain))
    return "\n".join(lines)


def marked(text: str, answer: Any) -> str:
    """The passage with the answer sentence in » «, and the span in ⟦ ⟧ inside it (a span
    outside the sentence, which the search never gives, is left unmarked)."""
    start, end = answer.start, answer.end
    inner = text[start:end]
    span = getattr(answer, "span", None)
    if span is not None and start <= span.start < span.end <= end:
        a, b = span.start - start, span.end - start
        inner = inner[:a] + SPAN_MARKS[0] + inner[a:b] + SPAN_MARKS[1] + inner[b:]
    return text[:start] + SENTENCE_MARKS[0] + inner + SENTENCE_MARKS[1] + text[end:]


def explain_line(why: Any) -> str:
    """"why: cosine 0.61 (dense rank 1) · BM25 3.20 (rank 2) · matched: workers, North Korean"."""
    dense = f"cosine {why.cosine:.3f}" + (f" (dense rank {why.dense_rank})"
                                          if why.dense_rank is not None else "")
    bm25 = (f"BM25 {why.bm25:.2f} (rank {why.bm25_rank})" if why.bm25_rank is not None
            else "BM25 0 (no word of the question)")
    words = list(dict.fromkeys(m.text for m in why.matches))
    matched = f"matched: {', '.join(words)}" if words else "no word of the question matched"
    return f"why: {dense} · {bm25} · {matched}"
