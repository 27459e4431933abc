// The agent workspace: presence, live offers (GET /agents/{id}/events) with a countdown and the
// owner's brand, my conversations with their timeline, and the moves: transfer (inside the account
// or Rollover), rollback, reassign to hero, close. Every refusal is the server's message, in place.
import {Session, act, el, say, signIn, when} from "./common.js";

const session = new Session("agent");
const $ = (id) => document.getElementById(id);
const held = new Map();  // conversation id -> the Held the feed sent (brand, both skills, notes)
const messages = new Map();  // conversation id -> private messages from managers
let me = null;
let open = null;  // the conversation shown in the detail pane

session.takeFromUrl();
signIn(session, ["agent"], $("signin"), $("signin-msg"), ready);

async function ready(who) {
  me = who;
  $("who").textContent = `${who.id} · ${who.brand_name || who.account}`;
  $("workspace").hidden = false;
  $("presence-box").hidden = false;
  const agent = await session.api("GET", `/agents/${who.id}`);
  $("presence").value = agent.status;
  $("presence").addEventListener("change", (event) => act(event.target, $("presence-msg"), async () => {
    const answer = await session.api("PUT", `/agents/${me.id}/status`, {status: event.target.value});
    say($("presence-msg"), `You are ${answer.status}.`, "info");
  }));
  const stop = new AbortController();
  session.stream(`/agents/${who.id}/events`, onEvent, stop.signal, (state) => { $("feed-state").textContent = state; });
  setInterval(tick, 1000);
}

function onEvent(name, data) {
  if (name === "offer" || name === "assigned") {
    held.set(data.conversation_id, data);
    // A move's note is recorded just after its offer is made: a second look a moment later has it.
    if (name === "offer") setTimeout(refreshNotes, 1500);
  } else if (name === "offer_expired" || name === "released") {
    held.delete(data.conversation_id);
    if (open === data.conversation_id) showGone(data.reason);  // R5.1: what is not hers is not shown
  } else if (name === "private_message") {
    const list = messages.get(data.conversation_id) || [];
    messages.set(data.conversation_id, [...list, data]);
    if (open === data.conversation_id) show(open);
  }
  render();
}

async function refreshNotes() {
  const now = await session.api("GET", `/agents/${me.id}/offers`).catch(() => null);
  for (const h of now ? [...now.offers, ...now.assigned] : []) {
    if (held.has(h.conversation_id)) held.set(h.conversation_id, {...held.get(h.conversation_id), notes: h.notes});
  }
  render();
}

function render() {
  const offers = [...held.values()].filter((h) => h.status === "offered");
  const mine = [...held.values()].filter((h) => h.status === "assigned");
  $("offers").replaceChildren(...offers.map(offerCard));
  $("no-offers").hidden = offers.length > 0;
  $("mine").replaceChildren(...mine.map((h) => el("li", {},
    el("button", {class: open === h.conversation_id ? "link current" : "link", onclick: () => show(h.conversation_id)},
      `${h.conversation_id} · ${h.brand.name} · ${h.owner ? `${h.owner.account}/${h.owner.skill}` : h.skill}`))));
  tick();
}

function skills(h) {
  const owner = h.owner ? `${h.owner.account}/${h.owner.skill}` : `${h.account}/${h.skill}`;
  const here = `${h.account}/${h.skill}`;
  return owner === here ? owner : `${owner} (owner) · ${here} (handling)`;
}

function offerCard(h) {
  const box = el("div");
  return el("li", {class: "card offer", "data-conversation": h.conversation_id},
    el("h3", {}, h.brand.name, " ", el("span", {class: "badge"}, "offer")),
    el("p", {}, skills(h)),
    el("p", {class: "countdown", "data-expires": h.expires_at || ""}),
    h.notes.length ? el("ul", {class: "notes"}, h.notes.map((n) => el("li", {}, `${n.by}: ${n.text}`))) : null,
    el("div", {class: "actions"},
      el("button", {class: "primary", onclick: (e) => answer(e.target, box, h, "accept")}, `Accept ${h.conversation_id}`),
      el("button", {onclick: (e) => answer(e.target, box, h, "decline")}, "Decline")),
    box);
}

async function answer(button, box, h, verb) {
  const done = await act(button, box, () => session.api("POST", `/conversations/${h.conversation_id}/${verb}`, {}));
  if (!done) return;
  if (verb === "accept") { held.set(h.conversation_id, {...h, status: "assigned", expires_at: null}); show(h.conversation_id); }
  else held.delete(h.conversation_id);
  render();
}

function tick() {
  for (const node of document.querySelectorAll(".countdown")) {
    const left = Math.max(0, Math.round((Date.parse(node.dataset.expires) - Date.now()) / 1000));
    node.textContent = node.dataset.expires ? `expires in ${left} s` : "";
  }
}

function showGone(reason) {
  $("detail").replaceChildren(el("h2", {id: "detail-h"}, "Conversation"),
    el("p", {class: "notice info", role: "status"}, `${open} is no longer yours (${reason}).`));
  open = null;
}

async function show(conversationId) {
  open = conversationId;
  const box = el("div", {id: "detail-msg"});
  try {
    const view = await session.api("GET", `/conversations/${conversationId}`);
    $("detail").replaceChildren(...detail(view, box).filter(Boolean));
  } catch (error) {
    $("detail").replaceChildren(el("h2", {id: "detail-h"}, "Conversation"), box);
    say(box, error.message);
  }
  render();
}

function detail(view, box) {
  const h = held.get(view.conversation_id) || {brand: {name: view.brand_name || view.account, contacts: []}};
  const here = view.handler_account ? `${view.handler_account}/${view.handler_skill} (handling)` : null;
  const notes = view.notes.filter((n) => n.kind === "note");
  const privates = messages.get(view.conversation_id) || [];
  return [
    el("h2", {id: "detail-h"}, `${view.conversation_id} · ${view.status}`),
    brandWidget(h.brand),
    el("p", {}, `Owner: ${view.account}/${view.skill}`, here ? ` · ${here}` : "", ` · ${view.channel} · customer ${view.customer}`),
    view.first_message ? el("blockquote", {}, view.first_message) : null,
    notes.length ? el("section", {}, el("h3", {}, "Notes"), el("ul", {class: "notes"},
      notes.map((n) => el("li", {}, `${when(n.at)} ${n.by}: ${n.text}`)))) : null,
    privates.length ? el("section", {}, el("h3", {}, "From your managers"), el("ul", {class: "notes private"},
      privates.map((m) => el("li", {}, `${when(m.at)} ${m.from}: ${m.text}`)))) : null,
    el("div", {class: "actions"},
      el("button", {class: "primary", onclick: () => openTransfer(view)}, "Transfer Conversation"),
      view.handler_account ? rollbackMenu(view, box) : null,
      view.hero ? el("button", {onclick: (e) => move(e.target, box, view, "reassign_to_hero", {})},
        `Reassign to Hero (${view.hero})`) : null,
      el("button", {onclick: (e) => move(e.target, box, view, "close", {reason: "resolved"})}, "Close")),
    box,
    el("h3", {}, "Timeline"),
    el("ol", {class: "timeline"}, view.timeline.map((e) => el("li", {},
      el("time", {}, when(e.at)), " ", el("strong", {}, e.kind), e.agent ? ` ${e.agent}` : "",
      e.account ? ` · ${e.account}/${e.skill}` : "", e.reason ? el("div", {class: "reason"}, e.reason) : null))),
  ];
}

function brandWidget(brand) {
  return el("aside", {class: "brand", "aria-label": "Brand"},
    el("strong", {}, brand.name),
    brand.url ? el("div", {}, brand.url) : null,
    brand.logo ? el("div", {class: "hint"}, `logo: ${brand.logo}`) : null,
    brand.hours ? el("div", {}, `Hours: ${brand.hours}`) : null,
    (brand.contacts || []).map((c) => el("div", {}, `Contact: ${c.name}${c.phone ? ` ${c.phone}` : ""}${c.email ? ` ${c.email}` : ""}`)),
    brand.widget ? el("div", {class: "widget"}, brand.widget) : null);
}

function rollbackMenu(view, box) {
  const select = el("select", {name: "rollback-skill", "aria-label": "Owner skill"},
    el("option", {value: ""}, "the owner skill it came from"));
  const note = el("input", {name: "rollback-note", placeholder: "note", "aria-label": "Rollback note"});
  const menu = el("details", {class: "menu"}, el("summary", {}, "Rollback"),
    el("label", {}, "To owner skill ", select), note,
    el("button", {onclick: (e) => move(e.target, box, view, "rollback",
      {skill: select.value || null, note: note.value || null})}, "Roll back"));
  menu.addEventListener("toggle", async () => {
    if (!menu.open || select.options.length > 1) return;
    const options = await act(select, box, () => session.api("GET", `/conversations/${view.conversation_id}/targets`));
    for (const t of options ? options.rollback : []) select.append(el("option", {value: t.skill}, `${t.brand_name}: ${t.skill}`));
  });
  return menu;
}

async function move(button, box, view, verb, body) {
  const after = await act(button, box, () => session.api("POST", `/conversations/${view.conversation_id}/${verb}`, body));
  if (after === undefined) return false;
  if (after.visible === false || after.assignee !== me.id) {
    held.delete(view.conversation_id);
    open = null;
    $("detail").replaceChildren(el("h2", {id: "detail-h"}, "Conversation"),
      el("p", {class: "notice info", role: "status"}, `${verb.replaceAll("_", " ")}: done; ${view.conversation_id} is no longer yours.`));
    render();
  } else {
    show(view.conversation_id);
  }
  return true;
}

// The transfer dialog: the targets come from GET /conversations/{id}/targets, each with its hours.
async function openTransfer(view) {
  const dialog = $("transfer");
  const form = $("transfer-form");
  const box = $("transfer-msg");
  say(box, "");
  const options = await act(form.elements.skill, $("detail-msg"), () => session.api("GET", `/conversations/${view.conversation_id}/targets`));
  if (!options) return;
  $("here-account").textContent = options.here.account;
  const label = (t) => `${t.brand_name}: ${t.skill} · ${t.open_now ? "open now" : t.next_opening_text ? `closed, opens ${t.next_opening_text}` : "closed"}`;
  form.elements.skill.replaceChildren(el("option", {value: ""}, `(${options.here.skill}, where it is)`),
    ...options.skills.map((t) => el("option", {value: t.skill}, label(t))));
  form.elements.agent.replaceChildren(el("option", {value: ""}, "(anyone of the skill)"),
    ...options.agents.map((a) => el("option", {value: a.id}, `${a.name || a.id} · ${a.status} · ${a.load}/${a.capacity ?? "∞"}`)));
  form.elements.target.replaceChildren(...options.rollover.map((t) =>
    el("option", {value: `${t.account}/${t.skill}`}, label(t))));
  if (!options.rollover.length) form.elements.target.append(el("option", {value: ""}, "no rollover targets for this skill"));
  const byTarget = new Map(options.rollover.map((t) => [`${t.account}/${t.skill}`, t]));
  const sync = () => {
    const rollover = form.elements.mode.value === "rollover";
    $("inside-fields").hidden = rollover;
    $("rollover-fields").hidden = !rollover;
    const t = byTarget.get(form.elements.target.value);
    $("target-hours").textContent = rollover && t ? (t.open_now ? `${t.brand_name} ${t.skill} is open now.` :
      `${t.brand_name} ${t.skill} is closed${t.next_opening_text ? `; it opens ${t.next_opening_text}` : ""}.`) : "";
  };
  form.onchange = sync;
  sync();
  $("transfer-go").onclick = async (event) => {
    event.preventDefault();
    const f = form.elements;
    const body = {note: f.note.value || null, warm_message: f.warm_message.value || null};
    if (f.mode.value === "rollover") {
      const [account, skill] = f.target.value.split("/");
      Object.assign(body, {account, skill});
    } else {
      Object.assign(body, {skill: f.skill.value || null, agent: f.agent.value || null});
    }
    if (await move(event.target, box, view, "transfer", body)) { form.reset(); dialog.close(); }
  };
  dialog.showModal();
}
