// The manager workspace: the account's conversations, owned and handled (Temporal visibility via
// GET /accounts/{id}/conversations), live; join and private message; queues; agents with presence
// and load; a customer's hero. What is listed is what the API lists for this manager (SPEC R5).
import {Session, act, el, say, signIn, when} from "./common.js";

const session = new Session("manager");
const $ = (id) => document.getElementById(id);
const REFRESH = 2000;
let me = null;
let composing = null;  // the conversation the private-message composer writes to

session.takeFromUrl();
signIn(session, ["manager"], $("signin"), $("signin-msg"), ready);

async function ready(who) {
  me = who;
  $("who").textContent = `${who.id} · manager of ${who.brand_name || who.account}`;
  $("workspace").hidden = false;
  const [queues, agents] = await Promise.all([refreshQueues(), refreshAgents()]);
  for (const q of queues || []) {
    $("filters").elements.skill.append(el("option", {}, q.skill));
    $("hero").elements.inbox.append(el("option", {}, q.skill));
  }
  for (const a of agents || []) {
    if (a.role !== "agent") continue;
    $("filters").elements.agent.append(el("option", {value: a.id}, a.name || a.id));
    $("hero").elements.agent.append(el("option", {value: a.id}, a.name || a.id));
  }
  $("filters").addEventListener("change", refreshConversations);
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); refreshConversations(); });
  heroForm();
  refreshConversations();
  setInterval(() => { refreshConversations(); refreshQueues(); refreshAgents(); }, REFRESH);
}

async function refreshConversations() {
  const f = $("filters").elements;
  const query = new URLSearchParams();
  for (const name of ["status", "skill", "handler", "agent"]) if (f[name].value.trim()) query.set(name, f[name].value.trim());
  try {
    const page = await session.api("GET", `/accounts/${me.account}/conversations?${query}`);
    say($("conv-msg"), page.conversations.length ? "" : "No conversations match.", "info");
    $("conversations").tBodies[0].replaceChildren(...page.conversations.map(row));
  } catch (error) {
    say($("conv-msg"), error.message);
  }
}

function row(c) {
  const handled = c.account !== me.account;  // we handle it for another brand (SPEC R5.4)
  const live = c.status !== "closed" && c.status !== "terminated" && c.status !== "failed";
  const cell = (label, ...content) => el("td", {"data-label": label}, ...content);  // labels: the phone layout
  return el("tr", {"data-conversation": c.conversation_id},
    cell("Conversation", c.conversation_id),
    cell("Status", c.status || ""),
    cell("Owner", handled ? el("strong", {class: "brand-name"}, c.brand_name || c.account) : c.brand_name || c.account,
      ` ${c.account}/${c.skill}`),
    cell("Handler", c.handler_account ? `${c.handler_account}/${c.handler_skill}` : ""),
    cell("Agent", c.assignee || ""),
    cell("Channel", c.channel || ""),
    cell("Started", when(c.started_at)),
    el("td", {class: "actions"}, live ? [
      el("button", {onclick: (e) => join(e.target, c)}, "Join"),
      el("button", {onclick: () => compose(c)}, "Message"),
    ] : null));
}

async function join(button, c) {
  const done = await act(button, $("conv-msg"), () => session.api("POST", `/conversations/${c.conversation_id}/join`, {}));
  if (done) say($("conv-msg"), `You joined ${c.conversation_id}.`, "info");
}

// One composer under the table, so the live refresh never wipes what is being typed.
function compose(c) {
  composing = c.conversation_id;
  let form = $("compose");
  if (!form) {
    form = el("form", {id: "compose", class: "stack"},
      el("label", {}, el("span", {id: "compose-to"}), el("textarea", {name: "text", rows: 2, required: true, maxlength: 2000})),
      el("div", {class: "actions"}, el("button", {class: "primary"}, "Send private message")),
      el("div", {id: "compose-msg"}));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = form.elements.text.value;
      const done = await act(event.submitter, $("compose-msg"),
        () => session.api("POST", `/conversations/${composing}/private_message`, {text}));
      if (done) { form.elements.text.value = ""; say($("compose-msg"), `Sent to ${done.assignee || "the handling agent"}.`, "info"); }
    });
    $("conversations").closest(".scroll").after(form);
  }
  $("compose-to").textContent = `Private message to the agent handling ${c.conversation_id} (never seen by the customer)`;
  say($("compose-msg"), "");
  form.elements.text.focus();
}

async function refreshQueues() {
  try {
    const queues = await session.api("GET", `/accounts/${me.account}/queues`);
    $("queues").tBodies[0].replaceChildren(...queues.map((q) => el("tr", {},
      el("td", {}, q.skill), el("td", {}, q.length),
      el("td", {}, q.oldest_wait_seconds === null ? "" : `${Math.round(q.oldest_wait_seconds)} s`))));
    return queues;
  } catch (error) { say($("conv-msg"), error.message); return null; }
}

async function refreshAgents() {
  try {
    const agents = await session.api("GET", `/accounts/${me.account}/agents`);
    $("agents").tBodies[0].replaceChildren(...agents.map((a) => el("tr", {},
      el("td", {}, `${a.name || a.id}${a.role === "manager" ? " (manager)" : a.kind === "bot" ? " (bot)" : ""}`),
      el("td", {}, el("span", {class: `presence ${a.status}`}, a.active ? a.status : "deactivated")),
      el("td", {}, `${a.load} / ${a.capacity ?? "∞"}`),
      el("td", {}, a.skills.join(", ")))));
    return agents;
  } catch (error) { say($("conv-msg"), error.message); return null; }
}

function heroForm() {
  const form = $("hero");
  const path = () => `/accounts/${me.account}/customers/${encodeURIComponent(form.elements.customer.value.trim())}/hero`;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {agent: form.elements.agent.value || null, inbox: form.elements.inbox.value || null};
    const hero = await act($("hero-set"), $("hero-msg"), () => session.api("PUT", path(), body));
    if (hero) say($("hero-msg"), `${hero.customer}'s hero: ${hero.agent || ""}${hero.agent && hero.inbox ? " with inbox " : ""}${hero.inbox || ""}.`, "info");
  });
  $("hero-clear").addEventListener("click", async (event) => {
    if (!form.reportValidity()) return;
    const done = await act(event.target, $("hero-msg"), () => session.api("DELETE", path()));
    if (done !== undefined) say($("hero-msg"), `${form.elements.customer.value.trim()} has no hero now.`, "info");
  });
}
