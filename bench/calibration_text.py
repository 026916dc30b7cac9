"""Write the text the int8 backends are calibrated on, and the probe text the backend choice is
checked on, into the package (`src/korea_qa/data/`). Run once by a developer; the files are
committed, so every machine calibrates on the same text and nothing is fetched at run time.

    .venv/bin/python bench/calibration_text.py

calibration.txt: every paragraph of the project's corpus, the gold questions, and from SciFact
*train* (claims CC BY 4.0, abstracts ODC-By 1.0, allenai/scifact) 150 claims and the first 150
abstracts judged for train claims, cut to 1,500 characters (the model reads 256 tokens).
probe.txt: 24 other train claims and 16 other train abstracts, held out from calibration,
for the quick cosine-to-reference check at backend selection. No SciFact *test* text is in
either: test nDCG@10 is what the bench holds the backends to.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"
OUT = ROOT / "src" / "korea_qa" / "data"
CUT = 1500


def corpus_paragraphs() -> list[str]:
    out = []
    for path in sorted((ROOT / "corpus").glob("*.md")):
        parts = path.read_text(encoding="utf-8").split("---", 2)
        if path.name == "README.md" or len(parts) < 3:
            continue
        out += [" ".join(p.split()) for p in parts[2].split("\n\n") if len(p.split()) >= 8]
    return out


def scifact_train() -> tuple[list[str], list[str]]:
    rows = (SCIFACT / "qrels" / "train.tsv").read_text().splitlines()[1:]
    pairs = [line.split("\t")[:2] for line in rows if line.strip()]
    claims = {}
    for line in (SCIFACT / "queries.jsonl").read_text().splitlines():
        item = json.loads(line)
        claims[str(item["_id"])] = item["text"]
    docs = {}
    with gzip.open(SCIFACT / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            title = item["title"].strip().rstrip(".")
            docs[str(item["_id"])] = f"{title}. {item['text']}"[:CUT]
    train_claims = list(dict.fromkeys(claims[q] for q, _ in pairs))
    train_docs = list(dict.fromkeys(docs[d] for _, d in pairs if d in docs))
    return train_claims, train_docs


def main() -> int:
    gold = [json.loads(line)["question"] for line in
            (ROOT / "eval" / "gold.jsonl").read_text().splitlines() if line.strip()]
    claims, abstracts = scifact_train()
    calibration = corpus_paragraphs() + gold + claims[:150] + abstracts[:150]
    probe = claims[150:174] + abstracts[150:166]
    OUT.mkdir(parents=True, exist_ok=True)
    for name, texts in (("calibration.txt", calibration), ("probe.txt", probe)):
        lines = [" ".join(t.split()) for t in texts]
        (OUT / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {OUT / name}: {len(lines)} texts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
