// Reading an event stream without EventSource: fetch() sends any header and shows the real
// status, and a small parser turns the body's text into events, as a polyfill does.

/** A line parser following the WHATWG "event stream interpretation" rules. */
export class EventStreamParser {
  #onEvent;
  #buffer = "";
  #afterCR = false; // the last chunk ended in CR: a leading LF of the next one belongs to it
  #data = "";
  #type = "";
  #idBuffer = "";
  lastEventId = "";
  retry = null;

  /** `onEvent({type, data, lastEventId})` runs for each complete event. */
  constructor(onEvent) {
    this.#onEvent = onEvent;
  }

  /** Feed decoded text in any chunking (a BOM is TextDecoder's to strip). */
  feed(text) {
    if (this.#afterCR && text.startsWith("\n")) text = text.slice(1);
    this.#afterCR = false;
    this.#buffer += text;
    const lineEnd = /\r\n|\r|\n/g;
    let start = 0;
    for (let match; (match = lineEnd.exec(this.#buffer)) !== null; ) {
      this.#afterCR = match[0] === "\r" && lineEnd.lastIndex === this.#buffer.length;
      this.#line(this.#buffer.slice(start, match.index));
      start = lineEnd.lastIndex;
    }
    this.#buffer = this.#buffer.slice(start);
  }

  #line(line) {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return; // a comment, such as a heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.#type = value;
    else if (field === "data") this.#data += `${value}\n`;
    else if (field === "id" && !value.includes("\0")) this.#idBuffer = value;
    else if (field === "retry" && /^[0-9]+$/.test(value)) this.retry = Number(value);
  }

  #dispatch() {
    this.lastEventId = this.#idBuffer;
    const [type, data] = [this.#type || "message", this.#data.slice(0, -1)];
    const empty = this.#data === "";
    this.#type = "";
    this.#data = "";
    if (!empty) this.#onEvent({ type, data, lastEventId: this.lastEventId });
  }
}

/** GET `url` with `headers`, calling `onOpen()` then `onEvent(event)` until the server closes
 *  (or `signal` aborts it). Throws with the status and the server's message when the answer
 *  is not a stream. */
export async function fetchEventStream(url, { headers = {}, signal, onOpen, onEvent }) {
  const response = await fetch(url, {
    headers: { Accept: "text/event-stream", ...headers },
    cache: "no-store",
    signal,
  });
  if (response.status === 204) return; // the server says: nothing more to read
  if (!response.ok) throw new Error(await errorMessage(response));
  onOpen?.(response);
  const parser = new EventStreamParser(onEvent);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  parser.feed(decoder.decode());
}

/** "STATUS: message" from a JSON `{"error": ...}` answer, or its status text. */
export async function errorMessage(response) {
  const body = await response.json().catch(() => ({}));
  return `${response.status}: ${body.error ?? response.statusText}`;
}
