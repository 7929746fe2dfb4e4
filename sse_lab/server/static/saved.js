// Where the chat page keeps the answer it shows, so that a reload or a copied link rejoins
// it: the answer's id in the URL fragment (`#token=...&answer=ans_...`), which a link
// carries and no server sees; and, in sessionStorage (this tab's own), the text received so
// far with the id of the last event received, saved together so that they always match.

const KEY = "sse-lab.answer";

/** The value of `name` (`token`, `answer`) in the page's URL fragment, or null. */
export function fromLink(name) {
  return new URLSearchParams(location.hash.slice(1)).get(name);
}

/** Put answer `id` in the URL fragment, or take it out (null), without a history entry. */
export function linkAnswer(id) {
  const params = new URLSearchParams(location.hash.slice(1));
  if (id) params.set("answer", id);
  else params.delete("answer");
  history.replaceState(null, "", `#${params}`);
}

/** What this tab saved of answer `id`: `{ client, text, lastEventId, end }`, or null. */
export function savedAnswer(id) {
  const saved = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
  return saved?.id === id ? saved : null;
}

/** Save the shown answer (its token stays in memory only). */
export function saveAnswer({ id, client, text, lastEventId, end }) {
  sessionStorage.setItem(KEY, JSON.stringify({ id, client, text, lastEventId, end }));
}

/** Forget the shown answer: a reload rejoins nothing. */
export function forgetAnswer() {
  sessionStorage.removeItem(KEY);
  linkAnswer(null);
}
