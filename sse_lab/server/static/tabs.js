// "One connection for all tabs". Over HTTP/1.1 a browser opens at most six connections to
// one origin, and a streaming answer holds one for as long as it streams: a seventh tab
// waits (notebook 07). So the page's tabs share one stream. One tab, the leader, holds
// `GET /answers/events?follow=ID:AFTER&...` for the answers of every tab and passes each
// event on over a BroadcastChannel; every tab keeps the events of its own answer.
//
// The leader is the tab that holds a Web Lock. When it closes or crashes the browser hands
// the lock to a waiting tab, which asks every tab where its answer stands and reopens the
// stream from there. A tab drops the deltas it already has, so nothing shows twice.
//
// Messages on the channel: `follow` (a tab asks for an answer after its last seq), `leader`
// (a new leader: ask me again), `open`, `event` and `failed` (the leader's stream).

import { fetchEventStream } from "./event-stream.js";
import { t } from "./strings.js";

const channel = new BroadcastChannel("sse-lab-tabs");
const LEADER_LOCK = "sse-lab-tabs-leader";
const RETRY_MS = 1000; // before reopening a stream that broke off

const mine = new Map(); // this tab's answers being streamed: id → { token, seq, handlers... }
const streams = new Map(); // the leader's streams, one per user: token → SharedStream
let joined = false;
let leading = false;

/** Stream the answer of `POST /new` (`id`) through the leader tab, after `lastEventId` (a
 *  page that rejoins has the events up to it), like chat.js's other stream functions:
 *  `onOpen()`, `onEvent(event)` for each event, settled at its end. */
export function sharedStream({ id, token, lastEventId }, { onOpen, onEvent }) {
  if (!navigator.locks) return Promise.reject(new Error(t("error.no-locks")));
  join();
  const seq = Number(lastEventId) || 0;
  return new Promise((resolve, reject) => {
    mine.set(id, { token, seq, opened: false, onOpen, onEvent, resolve, reject });
    send({ kind: "follow", answer: id, after: seq, token });
  });
}

/** Listen to the other tabs, and wait in line for the lock, held until the tab goes. */
function join() {
  if (joined) return;
  joined = true;
  channel.onmessage = ({ data }) => receive(data);
  navigator.locks.request(LEADER_LOCK, () => {
    leading = true;
    document.getElementById("tabs-leader")?.removeAttribute("hidden");
    send({ kind: "leader" });
    return new Promise(() => {}); // never settles: the lock is the tab's until it closes
  });
}

/** Tell every tab, this one too: a channel does not hand a message back to its sender. */
function send(message) {
  channel.postMessage(message);
  receive(message);
}

function receive(message) {
  if (message.kind === "follow" && leading) {
    if (!streams.has(message.token)) streams.set(message.token, new SharedStream(message.token));
    streams.get(message.token).follow(message.answer, message.after);
  } else if (message.kind === "leader") {
    for (const [answer, { token, seq }] of mine) send({ kind: "follow", answer, after: seq, token });
  } else if (message.kind === "open") {
    for (const answer of message.answers) opened(mine.get(answer));
  } else if (message.kind === "event") {
    take(message.answer, message.event);
  } else if (message.kind === "failed") {
    for (const answer of message.answers) {
      mine.get(answer)?.reject(new Error(message.message));
      mine.delete(answer);
    }
  }
}

function opened(wanted) {
  if (!wanted || wanted.opened) return;
  wanted.opened = true;
  wanted.onOpen();
}

/** One event of the shared stream: this tab's own, and not seen before, goes to its handler. */
function take(answer, event) {
  const wanted = mine.get(answer);
  if (!wanted) return; // another tab's answer
  if (event.type === "message") {
    const seq = Number(event.lastEventId);
    if (seq <= wanted.seq) return; // sent again by a reopened stream: shown already
    wanted.seq = seq;
    wanted.onEvent(event);
    return;
  }
  mine.delete(answer); // `done` or `error`: the answer's end
  wanted.onEvent(event);
  wanted.resolve();
}

/** The leader's stream of one user's answers: reopened, with each answer's cursor, whenever
 *  a tab asks for an answer, and after a break until every answer has ended. */
class SharedStream {
  #token;
  #cursors = new Map(); // answer id → the last seq passed on
  #controller = null; // aborts the stream open now
  #reopening = false;
  #retry;

  constructor(token) {
    this.#token = token;
  }

  /** Add the answer, then reopen: at once, not after a timer, which a hidden tab (the
   *  leader, mostly) runs a second late; the asks handled in one task reopen it once. */
  follow(answer, after) {
    this.#cursors.set(answer, after);
    if (this.#reopening) return;
    this.#reopening = true;
    queueMicrotask(() => {
      this.#reopening = false;
      this.#open();
    });
  }

  async #open() {
    clearTimeout(this.#retry);
    this.#controller?.abort();
    if (!this.#cursors.size) return;
    const controller = (this.#controller = new AbortController());
    const answers = [...this.#cursors.keys()];
    const follows = [...this.#cursors].map(([id, seq]) => ["follow", `${id}:${seq}`]);
    const url = new URL(`answers/events?${new URLSearchParams(follows)}`, document.baseURI);
    let began = false;
    try {
      await fetchEventStream(url, {
        headers: { Authorization: `Bearer ${this.#token}` },
        signal: controller.signal,
        onOpen: () => {
          began = true;
          send({ kind: "open", answers });
        },
        onEvent: (event) => controller.signal.aborted || this.#pass(event),
      });
      // 204: the tabs have seen the end of them all (a rejoin's cursor past the end).
      if (!began) this.#fail(answers, t("error.no-done"));
    } catch (error) {
      if (controller.signal.aborted) return; // reopened with another set of answers
      if (!(error instanceof TypeError)) return this.#fail(answers, error.message); // refused
    }
    // The stream broke off (a TypeError, or its end came before every answer's end).
    if (this.#controller === controller && this.#cursors.size) {
      this.#retry = setTimeout(() => this.#open(), RETRY_MS);
    }
  }

  #pass({ type, data, lastEventId }) {
    const { answer } = JSON.parse(data);
    if (type === "message") this.#cursors.set(answer, Number(lastEventId));
    else this.#cursors.delete(answer); // its end
    send({ kind: "event", answer, event: { type, data, lastEventId } });
  }

  #fail(answers, message) {
    this.#forget(answers);
    send({ kind: "failed", answers, message });
  }

  #forget(answers) {
    for (const answer of answers) this.#cursors.delete(answer);
  }
}
