// The search page: the question lives in the URL (?q=), results are cards with citations.
import {
  RequestError, descriptiveBadge, getJson, h, metaParts, slashFocuses,
} from "/static/common.js";

const NO_ANSWER = "Nothing in these articles seems to answer this \u2014 closest passages:";

const form = document.getElementById("search");
const input = document.getElementById("q");
const status = document.getElementById("status");
const notice = document.getElementById("notice");
const errorBox = document.getElementById("error");
const results = document.getElementById("results");
const intro = document.getElementById("intro");

// Responses can arrive out of order; only the latest request may draw.
let current = null;
// Citations do not say whether a title is descriptive; the article list does.
const descriptive = new Set();

function questionInUrl() {
  return (new URLSearchParams(window.location.search).get("q") || "").trim();
}

function setState({ statusText = "", noticeText = "", errorText = "", busy = false }) {
  status.textContent = statusText;
  notice.textContent = noticeText;
  notice.hidden = !noticeText;
  errorBox.textContent = errorText;
  errorBox.hidden = !errorText;
  results.setAttribute("aria-busy", busy ? "true" : "false");
}

/** The passage as text, with the answer span wrapped in <mark>. */
function passageNode(result) {
  const { text, answer } = result;
  const start = Math.max(0, Math.min(answer.start, text.length));
  const end = Math.max(start, Math.min(answer.end, text.length));
  return h("p", { class: "passage" },
    text.slice(0, start),
    h("mark", { class: "answer", text: text.slice(start, end) }),
    text.slice(end));
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
  const line = h("p", { class: "citation" }, link);
  if (descriptive.has(c.doc_id)) line.append(" ", descriptiveBadge());
  line.append(h("span", { class: "cite-meta", text: ` \u00b7 ${parts.join(" \u00b7 ")}` }));
  return line;
}

function card(result, question) {
  return h("li", { class: "card" },
    passageNode(result),
    citationNode(result, question));
}

function render(data, question) {
  results.replaceChildren(...data.results.map((r) => card(r, question)));
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

async function search(question) {
  input.value = question;
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
    const data = await getJson(`/api/search?${new URLSearchParams({ q: question })}`,
      { signal: controller.signal });
    await articlesLoaded;
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
  if (question !== questionInUrl()) {
    history.pushState({ q: question }, "", `/?${new URLSearchParams({ q: question })}`);
  }
  search(question);
});

window.addEventListener("popstate", () => search(questionInUrl()));
slashFocuses(input);

// The articles of the corpus, so a reader knows what is being searched.
async function listArticles() {
  const list = document.getElementById("article-list");
  const listStatus = document.getElementById("articles-status");
  try {
    const data = await getJson("/api/documents");
    for (const doc of data.documents) if (doc.title_is_descriptive) descriptive.add(doc.doc_id);
    list.replaceChildren(...data.documents.map((doc) => {
      const meta = [...metaParts(doc), `${doc.passages} ${doc.passages === 1 ? "passage" : "passages"}`];
      return h("li", {},
        h("a", { href: `/documents/${encodeURIComponent(doc.doc_id)}`, text: doc.title }),
        doc.title_is_descriptive ? " " : null,
        doc.title_is_descriptive ? descriptiveBadge() : null,
        h("span", { class: "cite-meta", text: ` \u00b7 ${meta.join(" \u00b7 ")}` }));
    }));
    listStatus.textContent = "";
    listStatus.hidden = true;
  } catch (err) {
    listStatus.textContent = `The list of articles could not be loaded: ${err.message}`;
    listStatus.hidden = false;
  }
}

const articlesLoaded = listArticles();
search(questionInUrl());
