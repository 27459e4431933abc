// A demo web chat, playing the channel gateway: it starts a conversation (POST /conversations with
// a gateway:<name> token) and shows what the engine sends to the customer, from the gateway's
// stream (GET /gateways/{name}/events): warm-transfer messages and the close. Agent notes and
// private messages never reach this page: the API never sends them to a gateway.
import {Session, act, el, say, signIn, when} from "./common.js";

const session = new Session("chat");
const $ = (id) => document.getElementById(id);
let gateway = null;
let conversation = null;
let stop = null;
let poll = null;
let brand = "Support";  // the owner's brand name, once the conversation's view gives it
let over = false;

session.takeFromUrl();
signIn(session, ["gateway"], $("signin"), $("signin-msg"), (me) => {
  gateway = me.id.replace(/^gateway:/, "");
  $("who").textContent = `${me.id}${me.accounts ? ` · ${me.accounts.join(", ")}` : " · every account"}`;
  if (me.accounts && me.accounts.length) $("start").elements.account.value = me.accounts[0];
  $("start").hidden = false;
});

$("start").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = event.target.elements;
  const id = `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const body = {conversation_id: id, account: f.account.value.trim(), skill: f.skill.value.trim(), channel: "web",
                customer: f.customer.value.trim(), first_message: f.first_message.value};
  const started = await act(event.submitter, $("start-msg"), () => session.api("POST", "/conversations", body));
  if (!started) return;
  conversation = id;
  over = false;
  $("start").hidden = true;
  $("chat").hidden = false;
  $("again").hidden = true;
  $("leave").hidden = false;
  $("chat-id").textContent = id;
  $("chat-log").replaceChildren(line("you", body.first_message, new Date().toISOString()));
  stop = new AbortController();
  session.stream(`/gateways/${gateway}/events?conversation_id=${encodeURIComponent(id)}`, onEvent, stop.signal,
    (state) => { $("feed-state").textContent = state; });
  poll = setInterval(status, 2000);
  status();
});

function line(who, text, at) {
  return el("li", {class: `says ${who}`}, el("span", {class: "hint"}, `${when(at)} ${who === "you" ? "You" : brand}`), " ", text);
}

function onEvent(name, data) {
  if (data.conversation_id !== conversation) return;
  if (name === "warm_message") $("chat-log").append(line("them", data.text, data.at));
  if (name === "closed") {
    $("chat-log").append(el("li", {class: "says system"}, `${when(data.at)} The conversation has ended.`));
    ended();
  }
}

// What the customer may know of where things stand: waiting, or with someone.
async function status() {
  try {
    const view = await session.api("GET", `/conversations/${conversation}`);
    if (over) return;  // the close came meanwhile: it has the last word
    brand = view.brand_name || brand;
    const text = {routing: "Connecting…", queued: "Waiting for the next agent…", offered: "Waiting for an agent…",
                  assigned: "You are chatting with an agent.", closed: "Ended."}[view.status] || view.status;
    $("chat-status").textContent = text;
  } catch (error) {
    say($("chat-msg"), error.message);
  }
}

function ended() {
  over = true;
  clearInterval(poll);
  $("chat-status").textContent = "Ended.";
  if (stop) stop.abort();
  $("leave").hidden = true;
  $("again").hidden = false;
}

$("leave").addEventListener("click", async (event) => {
  const done = await act(event.target, $("chat-msg"),
    () => session.api("POST", `/conversations/${conversation}/close`, {reason: "customer left"}));
  if (done) $("chat-status").textContent = "Closing…";  // the closed event follows from the stream
});

$("again").addEventListener("click", () => {
  $("chat").hidden = true;
  $("start").hidden = false;
  say($("chat-msg"), "");
});
