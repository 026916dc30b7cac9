// The article view: /documents/{doc_id}?start=S&end=E[&as=A&ae=B][&q=question]
// shows the whole article with the cited passage (S..E) highlighted and scrolled into view;
// A..B, the answer sentence, is set in bold inside it. Offsets index the article text.
import { descriptiveBadge, getJson, h, metaParts, safeUrl } from "/static/common.js";

const params = new URLSearchParams(window.location.search);
const docId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() || "");
const PARAGRAPH_BREAK = "\n\n";

function intParam(name) {
  const raw = params.get(name);
  return raw !== null && /^\d+$/.test(raw) ? Number(raw) : null;
}

/** Range [start, end) if it is a non-empty range inside a text of `length`. */
function range(start, end, length) {
  return start !== null && end !== null && start < end && end <= length ? [start, end] : null;
}

/** Paragraphs of the text with their offsets (articles separate them by a blank line). */
function paragraphs(text) {
  const out = [];
  let at = 0;
  for (const part of text.split(PARAGRAPH_BREAK)) {
    out.push([at, at + part.length]);
    at += part.length + PARAGRAPH_BREAK.length;
  }
  return out;
}

/** One paragraph as nodes: cited text in <mark>, the answer inside it in <strong>. */
function paragraphNode(text, [from, to], cited, answer) {
  const cuts = new Set([from, to]);
  for (const [a, b] of [cited, answer].filter(Boolean)) {
    for (const x of [a, b]) if (x > from && x < to) cuts.add(x);
  }
  const points = [...cuts].sort((x, y) => x - y);
  const p = h("p");
  let mark = null;
  for (let i = 0; i + 1 < points.length; i += 1) {
    const [x, y] = [points[i], points[i + 1]];
    const piece = text.slice(x, y);
    const inCited = cited && cited[0] <= x && y <= cited[1];
    if (!inCited) {
      mark = null;
      p.append(piece);
      continue;
    }
    if (!mark) {
      mark = h("mark", { class: "cited" });
      p.append(mark);
      p.classList.add("has-cited");
    }
    const inAnswer = answer && answer[0] <= x && y <= answer[1];
    mark.append(inAnswer ? h("strong", { class: "answer", text: piece }) : piece);
  }
  return p;
}

function render(doc) {
  document.title = `${doc.title} \u2014 korea-qa`;
  const title = document.getElementById("title");
  title.replaceChildren(doc.title);
  if (doc.title_is_descriptive) title.append(" ", descriptiveBadge());

  const meta = document.getElementById("meta");
  const href = safeUrl(doc.url);
  meta.replaceChildren(metaParts(doc).join(" \u00b7 ") || "Author and date not stated.");
  if (href) meta.append(" \u00b7 ", h("a", { href, rel: "noreferrer", text: "original" }));

  const text = doc.text;
  const cited = range(intParam("start"), intParam("end"), text.length);
  const answer = cited && range(intParam("as"), intParam("ae"), text.length);
  const parts = paragraphs(text);
  document.getElementById("body").replaceChildren(
    ...parts.map((span) => paragraphNode(text, span, cited, answer)));
  describeCitation(parts, cited, params.has("start"));
}

function describeCitation(parts, cited, asked) {
  const note = document.getElementById("cite-note");
  if (!cited) {
    if (asked) {
      note.textContent = "The cited range is not part of this article; showing the whole text.";
      note.hidden = false;
    }
    return;
  }
  const paragraph = parts.findIndex(([, to]) => cited[0] < to) + 1;
  const question = params.get("q");
  note.replaceChildren(
    `Highlighted: the passage cited${question ? " for \u201c" : ""}`,
    question ? h("span", { class: "quote", text: question }) : "",
    `${question ? "\u201d" : ""}, paragraph ${paragraph}; the answer sentence is in bold.`);
  note.hidden = false;
  const first = document.querySelector("mark.cited");
  if (first) {
    first.id = "cited";
    first.scrollIntoView({ block: "center" });
  }
}

function backLink() {
  const question = params.get("q");
  if (!question) return;
  const back = document.getElementById("back");
  back.href = `/?${new URLSearchParams({ q: question })}`;
  back.textContent = "\u2190 Back to the results";
}

async function main() {
  backLink();
  const article = document.getElementById("article");
  try {
    render(await getJson(`/api/documents/${encodeURIComponent(docId)}`));
  } catch (err) {
    const title = document.getElementById("title");
    title.textContent = err.status === 404 ? "Article not found" : "The article could not be loaded";
    const error = document.getElementById("error");
    error.textContent = err.message;
    error.hidden = false;
  } finally {
    article.setAttribute("aria-busy", "false");
  }
}

main();
