// The chat page: POST the prompt to /new, then stream its answer from /sse/{id} with
// the client chosen on the page, so the clients can be compared side by side. Every request
// goes under the page's base, so the page also works behind a proxy's path prefix.
// Its texts come from strings.js, in English or Chinese: `t(key)`.

import { errorMessage, fetchEventStream } from "./event-stream.js";
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

let current = null; // the answer being streamed: { id, token }

translatePage();

// The fragment never leaves the browser: the link can carry a token, the server's logs cannot.
tokenInput.value = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";

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

/** The browser's own client: a GET with no headers we choose, so a token rides in the URL:
 * not the user's own, but the short-lived one POST /new put in `eventsource_url`. */
function eventSourceStream({ eventsource_url: url }, { onOpen, onEvent }) {
  return new Promise((resolve, reject) => {
    const source = new EventSource(onServer(url));
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

/** The polyfill's way: fetch() sends the Authorization header on the stream's GET. */
function fetchStream({ stream_url: url, token }, handlers) {
  return fetchEventStream(onServer(url), { headers: authorization(token), ...handlers });
}

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
  const { id } = created;
  current = { id, token };
  answer.dataset.answerId = id;
  let ended = false;
  const onOpen = () => {
    setStatus("streaming");
    const path = client === "tabs" ? "/answers/events" : `/sse/${id}`;
    showSeenRequest(path, token).catch(() => {}); // a view of the logs: the chat works without it
  };
  const onEvent = ({ type, data }) => {
    const payload = JSON.parse(data);
    if (type === "message") answer.append(payload.delta);
    else if (type === "done") {
      ended = true;
      const reason = payload.finish_reason;
      setStatus(reason === "stopped" ? "stopped" : "done", `finish_reason: ${reason}`);
    } else if (type === "error") {
      ended = true;
      setStatus("error", payload.message);
    }
  };
  const stream = { eventsource: eventSourceStream, fetch: fetchStream, tabs: sharedStream }[client];
  await stream({ ...created, token }, { onOpen, onEvent });
  if (!ended) setStatus("error", t("error.no-done"));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
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
  const { id, token } = current;
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
