// The search page: the question and its scope live in the URL (?q=&doc_id=&source=), results
// are cards with citations; below, the articles, a page at a time.
import {
  RequestError, descriptiveBadge, getJson, h, metaParts, slashFocuses,
} from "/static/common.js";

const PAGE = 25;

const NO_ANSWER = "Nothing in these articles seems to answer this \u2014 closest passages:";

const form = document.getElementById("search");
const input = document.getElementById("q");
const status = document.getElementById("status");
const notice = document.getElementById("notice");
const errorBox = document.getElementById("error");
const results = document.getElementById("results");
const intro = document.getElementById("intro");
const scopeLine = document.getElementById("scope");

// Responses can arrive out of order; only the latest request may draw.
let current = null;

function questionInUrl() {
  return (new URLSearchParams(window.location.search).get("q") || "").trim();
}

/** The search's scope from the URL: one article (doc_id) or one source, or everything. */
function scopeInUrl() {
  const params = new URLSearchParams(window.location.search);
  const scope = {};
  for (const name of ["doc_id", "source"]) {
    const value = (params.get(name) || "").trim();
    if (value) scope[name] = value;
  }
  return scope;
}

/** A page URL for a question within a scope (either may be empty). */
function pageUrl(question, scope) {
  const params = new URLSearchParams(scope);
  if (question) params.set("q", question);
  const query = params.toString();
  return query ? `/?${query}` : "/";
}

async function showScope(scope) {
  if (!scope.doc_id && !scope.source) {
    scopeLine.replaceChildren();
    scopeLine.hidden = true;
    return;
  }
  let label = scope.source ? `articles from ${scope.source}` : scope.doc_id;
  if (scope.doc_id) {
    try {
      label = (await getJson(`/api/documents/${encodeURIComponent(scope.doc_id)}`)).title;
    } catch {
      label = scope.doc_id;
    }
  }
  scopeLine.replaceChildren("Searching only in ", h("strong", { text: label }), " \u00b7 ",
    h("a", { href: pageUrl(questionInUrl(), {}), text: "search all articles" }));
  scopeLine.hidden = false;
}

function setState({ statusText = "", noticeText = "", errorText = "", busy = false }) {
  if (busy || errorText || !statusText) hideAnswerability();
  status.textContent = statusText;
  notice.textContent = noticeText;
  notice.hidden = !noticeText;
  errorBox.textContent = errorText;
  errorBox.hidden = !errorText;
  results.setAttribute("aria-busy", busy ? "true" : "false");
}

/** text[from:to] as text nodes, the question's words in it (`matches`) wrapped in <mark>. */
function withTerms(text, from, to, matches) {
  const nodes = [];
  let at = from;
  for (const m of matches) {
    const start = Math.max(at, Math.min(m.start, to));
    const end = Math.max(start, Math.min(m.end, to));
    if (end <= start) continue;
    if (start > at) nodes.push(text.slice(at, start));
    nodes.push(h("mark", { class: "term", text: text.slice(start, end) }));
    at = end;
  }
  if (to > at) nodes.push(text.slice(at, to));
  return nodes;
}

/** [start, end) clamped into [from, to]. */
function clamp(start, end, from, to) {
  const a = Math.max(from, Math.min(start, to));
  return [a, Math.max(a, Math.min(end, to))];
}

/** The answer sentence text[start:end]: the span inside it (`answer.span`, when the reader
 * points at one) in <mark class=span>, the question's words in <mark class=term>. */
function sentenceNodes(text, start, end, span, matches) {
  if (!span) return withTerms(text, start, end, matches);
  const [a, b] = clamp(span.start, span.end, start, end);
  if (b <= a) return withTerms(text, start, end, matches);
  return [
    ...withTerms(text, start, a, matches),
    h("mark", { class: "span", title: "the answer" }, ...withTerms(text, a, b, matches)),
    ...withTerms(text, b, end, matches),
  ];
}

/** The passage as text: the answer sentence in <mark class=answer> (the span inside it
 * marked again), the question's words found in it (`explain.matches`) in <mark class=term>. */
function passageNode(result) {
  const { text, answer } = result;
  const matches = [...((result.explain && result.explain.matches) || [])]
    .sort((a, b) => a.start - b.start);
  const [start, end] = clamp(answer.start, answer.end, 0, text.length);
  return h("p", { class: "passage" },
    ...withTerms(text, 0, start, matches),
    h("mark", { class: "answer" }, ...sentenceNodes(text, start, end, answer.span, matches)),
    ...withTerms(text, end, text.length, matches));
}

function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th");
  return `${n}${suffix}`;
}

/** Why this passage: where each retriever ranked it, and its scores. */
function whyNode(result) {
  const why = result.explain;
  if (!why) return null;
  const meaning = why.dense_rank === null
    ? `not among the closest by meaning (cosine ${why.cosine.toFixed(2)})`
    : `${ordinal(why.dense_rank)} by meaning (cosine ${why.cosine.toFixed(2)})`;
  const words = why.bm25_rank === null
    ? "shares no word with the question"
    : `${ordinal(why.bm25_rank)} by words (BM25 ${why.bm25.toFixed(2)})`;
  return h("p", { class: "why", text: `Why: ${meaning} \u00b7 ${words}` });
}

function articleHref(result, question) {
  const c = result.citation;
  const params = new URLSearchParams({
    start: String(c.start),
    end: String(c.end),
    as: String(c.start + result.answer.start),
    ae: String(c.start + result.answer.end),
    q: question,
  });
  return `/documents/${encodeURIComponent(c.doc_id)}?${params}#cited`;
}

function citationNode(result, question) {
  const c = result.citation;
  const link = h("a", { class: "cite-link", href: articleHref(result, question), text: c.title });
  const parts = [...metaParts(c), `paragraph ${c.paragraph}`];
  if (c.page) parts.splice(parts.length - 1, 0, `page ${c.page}`);
  const line = h("p", { class: "citation" }, link);
  if (c.title_is_descriptive) line.append(" ", descriptiveBadge());
  line.append(h("span", { class: "cite-meta", text: ` \u00b7 ${parts.join(" \u00b7 ")}` }));
  return line;
}

function card(result, question) {
  return h("li", { class: "card" },
    passageNode(result),
    whyNode(result),
    citationNode(result, question));
}

const missingLine = document.getElementById("missing");
const confidenceLine = document.getElementById("confidence");

/** "Not mentioned in any article: …" and the probability that the articles answer. */
function showAnswerability(data) {
  const missing = data.missing_terms || [];
  missingLine.textContent = missing.length
    ? `Not mentioned in any article: ${missing.join(", ")}` : "";
  missingLine.hidden = !missing.length;
  const known = typeof data.confidence === "number";
  confidenceLine.textContent = known
    ? `Probability that the articles answer: ${Math.round(100 * data.confidence)}%` : "";
  confidenceLine.hidden = !known;
}

function hideAnswerability() {
  missingLine.hidden = true;
  confidenceLine.hidden = true;
}

function render(data, question) {
  results.replaceChildren(...data.results.map((r) => card(r, question)));
  showAnswerability(data);
  const count = data.results.length;
  if (count === 0) {
    setState({ statusText: `No passages found for \u201c${question}\u201d.` });
    return;
  }
  const noun = count === 1 ? "passage" : "passages";
  setState({
    statusText: `${count} ${noun} for \u201c${data.query}\u201d \u00b7 ${Math.round(data.took_ms)} ms`,
    noticeText: data.answerable ? "" : NO_ANSWER,
  });
  results.classList.toggle("unanswered", !data.answerable);
}

async function search(question, scope) {
  input.value = question;
  showScope(scope);
  if (current) current.abort();
  if (!question) {
    current = null;
    results.replaceChildren();
    intro.hidden = false;
    document.title = "korea-qa \u2014 ask the articles";
    setState({});
    return;
  }
  intro.hidden = true;
  document.title = `${question} \u2014 korea-qa`;
  const controller = new AbortController();
  current = controller;
  results.replaceChildren();
  setState({ statusText: "Searching\u2026", busy: true });
  try {
    const data = await getJson(`/api/search?${new URLSearchParams({ ...scope, q: question })}`,
      { signal: controller.signal });
    if (current === controller) render(data, question);
  } catch (err) {
    if (current !== controller || err.name === "AbortError") return;
    const message = err instanceof RequestError ? err.message : String(err);
    setState({ errorText: `The search failed: ${message}` });
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question) {
    setState({ statusText: "Type a question first." });
    input.focus();
    return;
  }
  const scope = scopeInUrl();
  if (question !== questionInUrl()) history.pushState({ q: question }, "", pageUrl(question, scope));
  search(question, scope);
});

window.addEventListener("popstate", () => search(questionInUrl(), scopeInUrl()));
slashFocuses(input);

// The articles of the corpus, a page at a time, so a reader knows what is being searched;
// each can narrow the search to itself or to its source.
const list = document.getElementById("article-list");
const listStatus = document.getElementById("articles-status");
const listCount = document.getElementById("articles-count");
const more = document.getElementById("articles-more");
let nextPage = null;

function articleItem(doc) {
  const meta = [...metaParts(doc), `${doc.passages} ${doc.passages === 1 ? "passage" : "passages"}`];
  const question = questionInUrl();
  return h("li", {},
    h("a", { href: `/documents/${encodeURIComponent(doc.doc_id)}`, text: doc.title }),
    doc.title_is_descriptive ? " " : null,
    doc.title_is_descriptive ? descriptiveBadge() : null,
    h("span", { class: "cite-meta", text: ` \u00b7 ${meta.join(" \u00b7 ")}` }),
    h("a", { class: "narrow", href: pageUrl(question, { doc_id: doc.doc_id }),
      text: "search this article" }),
    doc.source ? h("a", { class: "narrow", href: pageUrl(question, { source: doc.source }),
      text: "search this source" }) : null);
}

async function listArticles() {
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (nextPage) params.set("after", nextPage);
  more.disabled = true;
  try {
    const data = await getJson(`/api/documents?${params}`);
    list.append(...data.documents.map(articleItem));
    nextPage = data.next;
    more.hidden = !nextPage;
    const noun = data.total === 1 ? "article" : "articles";
    listCount.textContent = `${data.total} ${noun}; showing ${list.children.length}.`;
    listStatus.textContent = "";
    listStatus.hidden = true;
  } catch (err) {
    listStatus.textContent = `The list of articles could not be loaded: ${err.message}`;
    listStatus.hidden = false;
  } finally {
    more.disabled = false;
  }
}

more.addEventListener("click", listArticles);
listArticles();
search(questionInUrl(), scopeInUrl());
