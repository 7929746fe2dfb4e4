// The chat page: POST the prompt to /new, then stream its answer from /sse/{id} with
// the client chosen on the page, so the clients can be compared side by side. Every request
// goes under the page's base, so the page also works behind a proxy's path prefix.
// The answer shows as Markdown (markdown.js), and survives a reload: the page's link names
// it and the tab saves what arrived (saved.js), so a reload rejoins the stream where it was.
// Its texts come from strings.js, in English or Chinese: `t(key)`.

import { errorMessage, fetchEventStream } from "./event-stream.js";
import { renderMarkdown } from "./markdown.js";
import { forgetAnswer, fromLink, linkAnswer, saveAnswer, savedAnswer } from "./saved.js";
import { t, translatePage } from "./strings.js";
import { sharedStream } from "./tabs.js";

const $ = (id) => document.getElementById(id);
const form = $("ask-form");
const tokenInput = $("token");
const promptInput = $("prompt");
const sendButton = $("send");
const stopButton = $("stop");
const statusLine = $("status");
const answer = $("answer");

// The answer on the page: { id, token, client, text, lastEventId, end }, `end` its done or
// error event ({ type, data }) once it came. All but the token is saved (saved.js).
let shown = null;
let frame = 0; // the animation frame due to render it, if any

translatePage();

// The fragment never leaves the browser: the link can carry a token, the server's logs cannot.
tokenInput.value = fromLink("token") ?? "";

function setStatus(state, detail = "") {
  const busy = state === "connecting" || state === "streaming";
  statusLine.dataset.state = state;
  const label = t(`status.${state}`);
  statusLine.textContent = detail ? `${label} · ${detail}` : label;
  sendButton.disabled = busy;
  stopButton.disabled = !busy;
  answer.setAttribute("aria-busy", String(busy));
}

const authorization = (token) => ({ Authorization: `Bearer ${token}` });

/** A path on the lab server (`/new`, or `/sse/{id}` as POST /new gives it) as a URL under the
 * page's base: the same URL at the server's root, `.../proxy/PORT/sse/{id}` behind a Jupyter
 * server's proxy. */
const onServer = (path) => new URL(path.replace(/^\//, ""), document.baseURI).href;

// The stream modes: each reads an answer, `(created, { onOpen, onEvent }) => Promise`,
// `created` as POST /new or GET /answers/{id} gave it, with the user's `token` and the
// `lastEventId` to resume after ("" for the whole answer). The promise settles when the
// stream ends: resolved, or rejected with what went wrong.

/** The browser's own client: a GET with no headers we choose, so a token rides in the URL:
 * not the user's own, but the short-lived one in `eventsource_url`. So does the id to resume
 * after, as `?lastEventId=` (the header is EventSource's own, sent when it reconnects). */
function eventSourceStream({ eventsource_url: url, lastEventId }, { onOpen, onEvent }) {
  const address = new URL(onServer(url));
  if (lastEventId) address.searchParams.set("lastEventId", lastEventId);
  return new Promise((resolve, reject) => {
    const source = new EventSource(address);
    const finish = (event) => {
      source.close(); // else it reconnects, and the server answers 204
      onEvent(event);
      resolve();
    };
    source.onopen = onOpen;
    source.onmessage = onEvent;
    source.addEventListener("done", finish);
    source.addEventListener("error", (event) => {
      // One name, two things: the server's `event: error` (a MessageEvent with data) and
      // the browser's connection error (a bare Event: no status, no body).
      if (event instanceof MessageEvent) finish(event);
      else if (source.readyState === EventSource.CLOSED) reject(new Error(t("error.connection")));
      else setStatus("connecting", t("status.reconnecting"));
    });
  });
}

/** The polyfill's way: fetch() sends the Authorization header on the stream's GET, and
 * `Last-Event-ID` to resume. */
function fetchStream({ stream_url: url, token, lastEventId }, handlers) {
  const headers = authorization(token);
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;
  return fetchEventStream(onServer(url), { headers, ...handlers });
}

const STREAMS = { eventsource: eventSourceStream, fetch: fetchStream, tabs: sharedStream };

/** The server shows each user their own requests only: ask with the same token. The last
 * request to `path`: `/sse/{id}`, or `/answers/events` for the stream all tabs share. */
async function showSeenRequest(path, token) {
  const response = await fetch(onServer(`/debug/requests?path=${encodeURIComponent(path)}`), {
    headers: authorization(token),
  });
  const latest = (await response.json()).at(-1);
  if (!latest) return;
  $("seen-request").textContent = `${latest.method} ${latest.url}`;
  const rows = Object.entries(latest.headers).map(([name, value]) => {
    const row = document.createElement("tr");
    row.classList.toggle("credential", value.includes("***")); // masked by the server
    for (const text of [name, value]) row.insertCell().textContent = text;
    return row;
  });
  $("seen-headers").tBodies[0].replaceChildren(...rows);
}

function clearSeenRequest() {
  $("seen-request").textContent = "";
  $("seen-headers").tBodies[0].replaceChildren();
}

async function ask(prompt, token, client) {
  const response = await fetch(onServer("/new"), {
    method: "POST",
    headers: { "Content-Type": "application/json", ...authorization(token) },
    body: JSON.stringify({ prompt }),
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  const created = await response.json(); // { id, stream_url, eventsource_url }
  show({ id: created.id, token, client, text: "", lastEventId: "", end: null });
  await follow(created);
}

/** Rejoin the answer the page's link names: show what this tab saved of it before a reload
 * (a new tab has nothing saved, and reads it from the start), then stream the rest. An
 * answer saved with its end is shown as it was, with no request. */
async function rejoin(id, token) {
  const fresh = { client: form.elements.client.value, text: "", lastEventId: "" };
  const saved = savedAnswer(id) ?? fresh;
  form.elements.client.value = saved.client;
  show({ end: null, ...saved, id, token });
  if (shown.end) return showEnd(shown.end);
  setStatus("connecting");
  // A fresh stream token: the one POST /new gave lasts minutes.
  const response = await fetch(onServer(`/answers/${encodeURIComponent(id)}`), {
    headers: authorization(token),
  });
  if (response.status === 404) {
    forgetAnswer();
    delete answer.dataset.answerId;
    return setStatus("error", `404: ${t("error.unknown-answer")}`);
  }
  if (!response.ok) throw new Error(await errorMessage(response));
  await follow(await response.json()); // { id, status, stream_url, eventsource_url }
}

/** Stream the shown answer after its last event to its end, with its client. A resume that
 * gets no stream (the saved id is past the answer's end: 204, or 400 while it runs) reads
 * the answer again from the start, replacing the text. */
async function follow(created) {
  const { token, client, lastEventId } = shown;
  let opened = false;
  const onOpen = () => {
    opened = true;
    setStatus("streaming");
    const path = client === "tabs" ? "/answers/events" : `/sse/${created.id}`;
    showSeenRequest(path, token).catch(() => {}); // a view of the logs: the chat works without it
  };
  try {
    await STREAMS[client]({ ...created, token, lastEventId }, { onOpen, onEvent });
  } catch (error) {
    if (opened || !lastEventId) throw error;
  }
  if (!opened && lastEventId) {
    Object.assign(shown, { text: "", lastEventId: "" });
    return follow(created);
  }
  if (!shown.end) setStatus("error", t("error.no-done"));
}

function onEvent({ type, data, lastEventId }) {
  shown.lastEventId = lastEventId;
  if (type === "message") {
    shown.text += JSON.parse(data).delta;
    renderSoon();
  } else if (type === "done" || type === "error") {
    shown.end = { type, data };
    render();
    showEnd(shown.end);
  }
}

/** The status line for the answer's end: its finish reason and, when the server counts
 * them, the tokens it used; or the server's error. */
function showEnd({ type, data }) {
  const payload = JSON.parse(data);
  if (type === "error") return setStatus("error", payload.message);
  const reason = payload.finish_reason;
  const usage = payload.usage ? ` · ${t("usage", payload.usage)}` : "";
  setStatus(reason === "stopped" ? "stopped" : "done", `finish_reason: ${reason}${usage}`);
}

/** Put `record` on the page, and its id in the page's link. */
function show(record) {
  shown = record;
  answer.dataset.answerId = record.id;
  linkAnswer(record.id);
  render();
}

/** Render and save the shown answer at the next animation frame: once a frame at most,
 * however many deltas came since the last. */
function renderSoon() {
  frame ||= requestAnimationFrame(render);
}

/** Render the shown answer from its whole text (the DOM's text is that text: see
 * markdown.js), and save it with the id of the last event it holds. */
function render() {
  cancelAnimationFrame(frame);
  frame = 0;
  if (answer.textContent !== shown.text) answer.replaceChildren(renderMarkdown(shown.text));
  saveAnswer(shown);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  forgetAnswer();
  answer.replaceChildren();
  delete answer.dataset.answerId;
  clearSeenRequest();
  setStatus("connecting");
  const client = form.elements.client.value;
  ask(promptInput.value, tokenInput.value.trim(), client).catch((error) =>
    setStatus("error", error.message),
  );
});

// Stop the work, not only the display: the server ends the stream with finish_reason "stopped".
stopButton.addEventListener("click", async () => {
  stopButton.disabled = true;
  const { id, token } = shown;
  const response = await fetch(onServer(`/sse/${id}`), {
    method: "DELETE",
    headers: authorization(token),
  });
  // 409: the answer finished first, and its done event says so.
  if (!response.ok && response.status !== 409) setStatus("error", await errorMessage(response));
});

promptInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
});

const linked = fromLink("answer");
if (linked) {
  rejoin(linked, tokenInput.value.trim()).catch((error) => setStatus("error", error.message));
}
