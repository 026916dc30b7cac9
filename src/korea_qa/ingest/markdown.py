"""Markdown to plain paragraphs: the words a reader sees, without the markup.

markdown-it-py (CommonMark, plus tables) parses; each paragraph, heading, list item, table
row and code block becomes one block, blocks separated by a blank line. Links keep their
text, images and raw HTML are dropped, emphasis and code marks go.
"""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

_PARSER = MarkdownIt("commonmark").enable("table").enable("strikethrough")
_BLOCK_ENDS = {"paragraph_close", "heading_close", "tr_close"}


@dataclass(frozen=True, slots=True)
class Blocks:
    text: str  # blocks separated by "\n\n"; a block's own line breaks are kept
    heading: str | None  # the document's title heading: its first level-1 heading, if any


def markdown_to_blocks(source: str) -> Blocks:
    blocks: list[str] = []
    current: list[str] = []
    heading: str | None = None
    in_h1 = False
    for token in _PARSER.parse(source):
        if token.type == "inline":
            line = _inline_text(token)
            if in_h1 and heading is None and line.strip():
                heading = " ".join(line.split())
            current.append(line)
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content.strip("\n"))
        elif token.type == "heading_open":
            in_h1 = token.tag == "h1"
        if token.type in _BLOCK_ENDS:
            in_h1 = False
            blocks.append(" ".join(current))
            current = []
    return Blocks(text="\n\n".join(b for b in blocks if b.strip()), heading=heading)


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)
