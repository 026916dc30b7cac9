// Helpers shared by the search page and the article view.
// Every piece of corpus or query text reaches the page through textContent or text nodes,
// never as HTML: a passage or question containing markup shows that markup as characters.

/** Build an element; `text` becomes a text node, children are elements or strings. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** An error the page can show: the API's own message when it sent one. */
export class RequestError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** GET a JSON endpoint; failures become a RequestError carrying a readable message. */
export async function getJson(url, { signal } = {}) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new RequestError("Could not reach the korea-qa service. Check that it is running.", 0);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.error && body.error.message
      ? body.error.message
      : `The service answered ${response.status} ${response.statusText}`.trim();
    throw new RequestError(message, response.status);
  }
  if (body === null) throw new RequestError("The service sent a response that is not JSON.", response.status);
  return body;
}

/** Only http(s) links from corpus metadata become links (never javascript: or data:). */
export function safeUrl(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url, window.location.origin);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

/** Said next to a title that was written for the corpus, not by the article's author. */
export function descriptiveBadge() {
  return h("span", {
    class: "badge",
    text: "descriptive title",
    title: "The article has no title of its own; this one describes it.",
  });
}

/** Author, date and source where the article states them, joined for a citation line. */
export function metaParts(doc) {
  return [doc.author, doc.published, doc.source].filter((part) => part);
}

/** Install the "/" shortcut that puts the cursor in `input`. */
export function slashFocuses(input) {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target instanceof HTMLElement
      && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
    if (typing) return;
    event.preventDefault();
    input.focus();
    input.select();
  });
}
