// What every page shares: sign-in with a bearer token, calls to the gateway's JSON API, its
// server-sent event streams, and building DOM without HTML strings (so no message can inject markup).

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error;
    this.field = body && body.field;
  }
}

// One bearer token per page and tab (sessionStorage): an agent and a manager can sit side by side.
export class Session {
  constructor(page) { this.key = `switchboard.${page}.token`; this.token = sessionStorage.getItem(this.key); }

  // A token handed over in the URL's fragment (never sent to any server) signs in, then leaves the URL.
  takeFromUrl() {
    const found = new URLSearchParams(location.hash.slice(1)).get("token");
    if (found) { this.save(found); history.replaceState(null, "", location.pathname + location.search); }
  }

  save(token) { this.token = token; sessionStorage.setItem(this.key, token); }
  clear() { this.token = null; sessionStorage.removeItem(this.key); }

  async api(method, path, body) {
    const init = {method, headers: {Authorization: `Bearer ${this.token}`}};
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    const response = await fetch(path, init);
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // Server-sent events through fetch (EventSource cannot send a bearer token). Reconnects after a
  // drop with Last-Event-ID, so nothing is missed; stops when `signal` aborts.
  async stream(path, onEvent, signal, onState = () => {}) {
    let lastId = null;
    while (!signal.aborted) {
      try {
        const headers = {Authorization: `Bearer ${this.token}`, Accept: "text/event-stream"};
        if (lastId !== null) headers["Last-Event-ID"] = lastId;
        const response = await fetch(path, {headers, signal});
        if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
        onState("live");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          buffer += value.replaceAll("\r\n", "\n");
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const event = parseEvent(block);
            if (event.id !== null) lastId = event.id;
            if (event.data !== null) onEvent(event.name, JSON.parse(event.data));
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        onState(error instanceof ApiError ? error.message : "reconnecting");
        if (error instanceof ApiError && error.status === 401) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function parseEvent(block) {
  const event = {name: "message", data: null, id: null};
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const field = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (field === "event") event.name = value;
    else if (field === "data") event.data = event.data === null ? value : `${event.data}\n${value}`;
    else if (field === "id") event.id = value;
  }
  return event;
}

// el("button", {class: "x", onclick: f}, "text", child): attributes, listeners, text and children.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// The server's message, in place (role=alert: screen readers say it); empty text clears it.
export function say(box, text, kind = "error") {
  box.replaceChildren(text ? el("p", {class: `notice ${kind}`, role: kind === "error" ? "alert" : "status"}, text) : "");
}

// Run an action from a button: busy while it runs, its refusal shown in `box`; the form keeps its inputs.
export async function act(button, box, action) {
  button.disabled = true;
  say(box, "");
  try {
    return await action();
  } catch (error) {
    say(box, error instanceof ApiError ? `${error.message}${error.code ? ` (${error.code})` : ""}` : String(error));
    return undefined;
  } finally {
    button.disabled = false;
  }
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"}) : "";
}

// Sign-in form: a token, checked with GET /me; `roles` are those this page is for.
export function signIn(session, roles, form, box, onReady) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    session.save(form.elements.token.value.trim());
    await start();
  });
  async function start() {
    try {
      const me = await session.api("GET", "/me");
      if (!roles.includes(me.role)) throw new Error(`this page is for ${roles.join(" or ")} tokens; ${me.id} is ${me.role}`);
      form.hidden = true;
      say(box, "");
      onReady(me);
    } catch (error) {
      session.clear();
      showForm();
      say(box, error.message);
    }
  }
  function showForm() { form.hidden = false; form.elements.token.focus(); }  // keyboard users type at once
  if (session.token) start(); else showForm();
}
