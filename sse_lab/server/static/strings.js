// Every text the chat page shows, in English and in Chinese, and the language it shows them
// in: `?lang=zh` or `?lang=en` in the page's URL, else the browser's first language.
// In a text, `backticks` mark code, shown in <code>; `{name}` is a value `t` fills in.

export const STRINGS = {
  en: {
    lang: "en",
    title: "SSE Lab · chat",
    heading: "SSE Lab chat",
    lead: "Ask the model; watch its answer arrive as Server-Sent Events.",
    "token.label": "Token",
    "token.placeholder": "tok_...",
    "token.hint": "Open this page as `…/#token=YOUR_TOKEN` to fill it in.",
    "client.legend": "Client",
    "client.eventsource": "Browser `EventSource`",
    "client.eventsource.hint":
      "GET only, no headers: a short-lived token from `POST /new` rides in `?token=`",
    "client.fetch": "`fetch` stream reader",
    "client.fetch.hint": "sends `Authorization: Bearer …`, parses the stream itself",
    "client.tabs": "One connection for all tabs",
    "client.tabs.hint":
      "one tab holds `GET /answers/events` for the answers of every tab and passes them on over a `BroadcastChannel`",
    "tabs.leader": "This tab holds the shared connection; close it and another tab takes over.",
    "prompt.label": "Prompt",
    "prompt.placeholder": "How does reconnection with Last-Event-ID work?",
    send: "Send",
    stop: "Stop",
    "status.idle": "idle",
    "status.connecting": "connecting",
    "status.streaming": "streaming",
    "status.done": "done",
    "status.stopped": "stopped",
    "status.error": "error",
    "status.reconnecting": "reconnecting",
    "error.connection": "connection failed",
    "error.no-done": "the stream ended before its done event",
    "error.unknown-answer":
      "the link's answer is unknown to the server, no longer kept, or another user's: ask again",
    usage: "{prompt_tokens} + {completion_tokens} = {total_tokens} tokens",
    "error.no-locks": "this mode needs the Web Locks API: open the page over https or on localhost",
    "answer.heading": "Answer",
    "seen.heading": "What the server saw",
    "seen.hint": "The stream request's headers, from `/debug/requests` (secrets masked).",
    "seen.header": "Header",
    "seen.value": "Value",
  },
  zh: {
    lang: "zh-CN",
    title: "SSE Lab · 聊天",
    heading: "SSE Lab 聊天",
    lead: "向模型提问，看它的回答通过服务器发送事件（SSE）流式输出。",
    "token.label": "令牌（Token）",
    "token.placeholder": "tok_...",
    "token.hint": "用 `…/#token=YOUR_TOKEN` 打开本页，令牌会自动填入。",
    "client.legend": "客户端",
    "client.eventsource": "浏览器原生 `EventSource`",
    "client.eventsource.hint":
      "只能发 GET，不能带请求头：令牌用 `POST /new` 返回的短期令牌，放在 `?token=` 里",
    "client.fetch": "`fetch` 流式读取",
    "client.fetch.hint": "带上 `Authorization: Bearer …` 请求头，自己解析事件流",
    "client.tabs": "所有标签页共用一个连接",
    "client.tabs.hint":
      "由一个标签页持有 `GET /answers/events`，承载所有标签页的回答，再通过 `BroadcastChannel` 转发给各个标签页",
    "tabs.leader": "共享连接由本标签页持有；关掉它，会有另一个标签页接手。",
    "prompt.label": "提示词",
    "prompt.placeholder": "用 Last-Event-ID 断线重连是怎么实现的？",
    send: "发送",
    stop: "停止生成",
    "status.idle": "空闲",
    "status.connecting": "连接中",
    "status.streaming": "流式输出中",
    "status.done": "已完成",
    "status.stopped": "已停止",
    "status.error": "出错",
    "status.reconnecting": "断线重连中",
    "error.connection": "连接失败",
    "error.no-done": "事件流在 done 事件之前就断开了",
    "error.unknown-answer":
      "链接里的回答在服务器上找不到（不存在、已清理，或属于其他用户），请重新提问",
    usage: "{prompt_tokens} + {completion_tokens} = {total_tokens} 个 token",
    "error.no-locks": "这种模式需要 Web Locks API：请通过 https 或 localhost 打开本页",
    "answer.heading": "回答",
    "seen.heading": "服务器看到的请求",
    "seen.hint": "流式请求的请求头，来自 `/debug/requests`（敏感信息已打码）。",
    "seen.header": "请求头",
    "seen.value": "值",
  },
};

/** The page's language: `lang` from its URL if we have it ("zh" or "en"), else Chinese when
 *  the browser's first language is Chinese (zh, zh-CN, zh-TW...), else English. */
export function pickLanguage(urlLang, browserLanguages) {
  if (Object.hasOwn(STRINGS, urlLang)) return urlLang;
  return browserLanguages[0]?.toLowerCase().startsWith("zh") ? "zh" : "en";
}

export const language = pickLanguage(
  new URLSearchParams(location.search).get("lang"),
  navigator.languages,
);

/** The text of `key` in the page's language, each `{name}` in it replaced by `values[name]`;
 *  an unknown key is a bug, and says so. */
export function t(key, values = {}) {
  const text = STRINGS[language][key];
  if (text === undefined) throw new Error(`no text for "${key}" in strings.js`);
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? "?"));
}

/** `element`'s children: the text of `key`, its `backticked` parts in <code>. */
function render(element, key) {
  const parts = t(key).split("`").map((part, i) => {
    if (i % 2 === 0) return part;
    const code = document.createElement("code");
    code.textContent = part;
    return code;
  });
  element.replaceChildren(...parts);
}

/** Fill the page's texts: `data-text="KEY"` elements, `data-placeholder="KEY"` fields,
 *  and `<html lang>`, which screen readers and fonts follow. */
export function translatePage() {
  document.documentElement.lang = t("lang");
  for (const element of document.querySelectorAll("[data-text]")) {
    render(element, element.dataset.text);
  }
  for (const field of document.querySelectorAll("[data-placeholder]")) {
    field.placeholder = t(field.dataset.placeholder);
  }
}
