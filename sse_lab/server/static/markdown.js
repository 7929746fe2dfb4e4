// A small Markdown renderer for an answer that is still arriving: paragraphs, headings
// (# to ###), bullet and numbered lists, fenced code (an unclosed fence is a code block
// still open), `code`, **bold**, *italic* and [links](https://...).
//
// It builds DOM nodes and sets only their text, never HTML: whatever a model writes,
// `<script>` or `<img onerror=...>` included, shows as text. Every character of the source
// stays in the DOM, in order, the Markdown's own marks in hidden `<span class="md-mark">`:
// the element's textContent is exactly the text the model sent, while the eye and a copy
// see it rendered.

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const HEADING = /^#{1,3} +/;
const LIST_ITEM = /^ {0,3}(?:([-*+])|(\d{1,9})[.)]) +/;
const BLANK = /^[ \t]*\n?$/;
const INDENTED = /^[ \t]+\S/;
// One inline form a match: `code`, **bold**, *italic*, or a link whose URL is http(s).
// A mark left open (`**bold` so far) stays as text until its closing mark arrives.
const INLINE = new RegExp(
  [
    /(`)([^`\n]+)`/,
    /(\*\*)(\S(?:[^\n]*?\S)?)\*\*/,
    /(\*)([^\s*](?:[^*\n]*?[^\s*])?)\*/,
    /(\[)([^\]\n]+)\]\((https?:\/\/[^\s()]+)\)/,
  ]
    .map((pattern) => pattern.source)
    .join("|"),
  "g",
);

/** The Markdown `text` as DOM nodes, in a DocumentFragment. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = text ? text.split(/(?<=\n)/) : []; // each line keeps its "\n"
  for (let i = 0; i < lines.length; ) {
    const block = FENCE.test(lines[i]) ? fence : LIST_ITEM.test(lines[i]) ? list : other;
    i = block(lines, i, fragment);
  }
  return fragment;
}

/** A fenced code block from `lines[start]` to its closing fence or, mid-stream, to the
 *  end of the text: then it is marked open (`data-open`). Returns the next line's index. */
function fence(lines, start, parent) {
  const opening = lines[start].match(FENCE)[1];
  const closing = new RegExp(`^ {0,3}${opening[0]}{${opening.length},}[ \\t]*\\n?$`);
  let end = start + 1;
  while (end < lines.length && !closing.test(lines[end])) end += 1;
  const code = lines.slice(start + 1, end).join("");
  const pre = element("pre", [element("code", [mark(lines[start]), code, mark(lines[end])])]);
  if (end === lines.length) pre.dataset.open = "";
  parent.append(pre);
  return end + 1;
}

/** Consecutive list items of one kind, bullets or numbers, as <ul> or <ol>; a line
 *  indented under an item continues it (a nested list comes out flat). */
function list(lines, start, parent) {
  const [, bullet, number] = lines[start].match(LIST_ITEM);
  const items = element(bullet ? "ul" : "ol");
  if (number && number !== "1") items.start = Number(number);
  let i = start;
  for (let item; i < lines.length && (item = lines[i].match(LIST_ITEM)); ) {
    if (Boolean(item[1]) !== Boolean(bullet)) break;
    let body = lines[i].slice(item[0].length);
    for (i += 1; i < lines.length && continues(lines[i]); i += 1) body += lines[i];
    const [content, newline] = chomp(body);
    items.append(element("li", [mark(item[0]), ...inline(content)]), newline);
  }
  parent.append(items);
  return i;
}

const continues = (line) => INDENTED.test(line) && !LIST_ITEM.test(line);

/** A blank line (kept as text, which shows as nothing between blocks), a heading (`#` is
 *  <h3>: the page has its own <h1> and <h2>), or a paragraph: the lines up to the next
 *  blank line, heading, fence or list item. */
function other(lines, start, parent) {
  if (BLANK.test(lines[start])) {
    parent.append(lines[start]);
    return start + 1;
  }
  const heading = lines[start].match(HEADING);
  if (heading) {
    const [title, newline] = chomp(lines[start].slice(heading[0].length));
    const level = heading[0].trim().length + 2;
    parent.append(element(`h${level}`, [mark(heading[0]), ...inline(title)]), newline);
    return start + 1;
  }
  let end = start + 1;
  while (end < lines.length && !startsBlock(lines[end])) end += 1;
  const [content, newline] = chomp(lines.slice(start, end).join(""));
  parent.append(element("p", inline(content)), newline);
  return end;
}

const startsBlock = (line) =>
  BLANK.test(line) || HEADING.test(line) || FENCE.test(line) || LIST_ITEM.test(line);

/** `text` without its final "\n", and that "\n" ("" if none), kept between blocks. */
const chomp = (text) => (text.endsWith("\n") ? [text.slice(0, -1), "\n"] : [text, ""]);

/** A block's text with its inline forms as elements, the rest as strings. */
function inline(text) {
  const nodes = [];
  let done = 0;
  for (const match of text.matchAll(INLINE)) {
    nodes.push(text.slice(done, match.index), inlineElement(match));
    done = match.index + match[0].length;
  }
  nodes.push(text.slice(done));
  return nodes;
}

function inlineElement([whole, tick, code, bold, strong, star, em, bracket, label, href]) {
  if (tick) return element("code", [mark(tick), code, mark(tick)]);
  if (bold) return element("strong", [mark(bold), ...inline(strong), mark(bold)]);
  if (star) return element("em", [mark(star), ...inline(em), mark(star)]);
  const rest = whole.slice(bracket.length + label.length); // "](https://...)"
  const link = element("a", [mark(bracket), ...inline(label), mark(rest)]);
  link.href = href; // http(s) only, by the pattern: never javascript: or data:
  link.rel = "noopener noreferrer"; // the new tab gets no handle on this page, nor its URL
  link.target = "_blank"; // this page keeps its stream
  return link;
}

/** A new `tag` element holding `children` (strings become text; empty ones are left out). */
function element(tag, children = []) {
  const node = document.createElement(tag);
  node.append(...children.filter((child) => child !== ""));
  return node;
}

/** Markdown's own characters, kept in the text but not shown. */
function mark(text = "") {
  if (!text) return "";
  const span = element("span", [text]);
  span.className = "md-mark";
  return span;
}
