"""Check the questions written over the article-extraction benchmark's news pages
(eval/news_qa/<page>.jsonl): every line well formed, every answer the page's own characters
inside its evidence sentence, the evidence the page's own characters.

    python eval/news_qa/check.py [PAGE ...]     # exit 1 with one line per problem
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PAGES = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / \
    "article-extraction" / "ground-truth.json"
HERE = Path(__file__).resolve().parent
KINDS = ("answerable", "nearby", "number", "entity", "combined")


def problems(path: Path, body: str) -> list[str]:
    out, seen = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path.name}:{n}"
        try:
            q = json.loads(line)
        except json.JSONDecodeError as exc:
            out.append(f"{where}: not JSON ({exc})")
            continue
        if q.get("id") in seen:
            out.append(f"{where}: id {q.get('id')} twice")
        seen.add(q.get("id"))
        if q.get("page") != path.stem or q.get("kind") not in KINDS or \
                not str(q.get("question", "")).strip().endswith("?"):
            out.append(f"{where}: page, kind or question (ending in ?) wrong")
        if q.get("kind") == "answerable":
            answer, evidence = q.get("answer") or "", q.get("evidence") or ""
            if not answer or answer not in evidence:
                out.append(f"{where}: answer not inside its evidence")
            if not evidence or evidence not in body:
                out.append(f"{where}: evidence not the page's own characters")
            if len(answer.split()) > 12:
                out.append(f"{where}: answer over 12 words")
        elif q.get("answer") is not None or not q.get("checked"):
            out.append(f"{where}: unanswerable needs answer null and a 'checked' note")
    return out


def main(argv: list[str]) -> int:
    bodies = {k: v["articleBody"] for k, v in json.loads(PAGES.read_text()).items()}
    files = [HERE / f"{p}.jsonl" for p in argv] if argv else sorted(HERE.glob("*.jsonl"))
    found = [p for f in files for p in problems(f, bodies[f.stem])]
    for line in found:
        print(line)
    for f in files:
        kinds = [json.loads(x)["kind"] for x in f.read_text().splitlines() if x.strip()]
        print(f"{f.stem}: {kinds.count('answerable')} answerable, "
              f"{len(kinds) - kinds.count('answerable')} unanswerable", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
