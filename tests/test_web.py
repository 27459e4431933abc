"""The workspaces in a real browser (issue 12): Debian's headless Chromium driven by Playwright,
against one stack for the module (the Temporal dev server, a worker, a SQLite store, and the
gateway serving its pages over real HTTP on a free port).

The tests walk the seed's transfer steps 1-7 (seeds/001, SPEC R6), the rollover case of SPEC R5
(the owner agent does not see it, the owner manager does, the handler side sees the brand),
keyboard use, and that no page asks another origin for anything. Skipped, saying why, where
Chromium or Playwright is missing. With SWITCHBOARD_SCREENSHOTS=DIR each screen is saved there.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from store import Store, tokens
from switchboard.dev_web import gateway
from switchboard.devserver import free_port
from conftest import _stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # the test extra is not installed
    async_playwright = None
pytestmark = [
    pytest.mark.skipif(async_playwright is None, reason="Playwright is not installed (pip install -e '.[test]')"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium chromium-driver)"),
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENS = os.environ.get("SWITCHBOARD_SCREENSHOTS")
WAIT = 20_000  # ms: a page shows what the engine did within this


def _directory(n: str) -> str:
    today = datetime.now(timezone.utc).date()
    closed_days = ", ".join(f'"{today + timedelta(days=d)}"' for d in (-1, 0, 1))  # closed now, at any hour
    return f"""
accounts:
  - id: acme{n}
    brand: {{name: Acme Motors, url: https://acme.example, logo: https://acme.example/logo.png,
            hours: "Mon-Fri 9-17", contacts: [{{name: Dana, phone: "+1 555 0100"}}]}}
    skills:
      - id: sales
        accept_timeout: 120s
        transfer_targets: [{{account: parts{n}, skill: service}}, {{account: parts{n}, skill: workshop}}]
      - id: billing
    agents:
      - {{id: ann{n}, name: Ann, skills: [sales, billing], capacity: 5, status: online}}
      - {{id: mia{n}, name: Mia, role: manager, skills: [sales]}}
  - id: parts{n}
    brand: {{name: Acme Parts}}
    skills:
      - id: service
        accept_timeout: 120s
      - id: workshop
        holidays: [{closed_days}]
    agents:
      - {{id: pat{n}, name: Pat, skills: [service, workshop], capacity: 5, status: online}}
      - {{id: pia{n}, name: Pia, role: manager, skills: [service]}}
gateways:
  - {{name: web{n}, accounts: [acme{n}]}}
"""


class Web:
    """The module's stack: names with their suffix, tokens, the gateway's URL, one browser."""

    def __init__(self, stack, url: str, n: str, browser: Browser, token: dict[str, str]) -> None:
        self.stack, self.url, self.n, self.browser, self.token = stack, url, n, browser, token
        self.requests: list[str] = []  # every URL any page of the module asked for
        self.blocked: list[str] = []  # ... of those, what the page's Content-Security-Policy stopped in the browser

    def name(self, short: str) -> str:
        return f"{short}{self.n}"

    async def page(self, who: str, path: str, *, phone: bool = False) -> Page:
        """A fresh browser context (its own sessionStorage) signed in as ``who`` through the link."""
        context = await self.browser.new_context(
            viewport={"width": 390, "height": 844} if phone else {"width": 1280, "height": 860})
        self.watch(context)
        page = await context.new_page()
        await page.goto(f"{self.url}{path}#token={self.token[who]}")
        return page

    def watch(self, context) -> None:
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("requestfailed", lambda request: self.blocked.append(request.url)
                   if request.failure == "csp" else None)  # stopped by the policy: it never left the browser

    async def api(self, who: str, method: str, path: str, body=None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url) as http:
            return await http.request(method, path, json=body, headers={"Authorization": f"Bearer {self.token[who]}"})

    async def start(self, customer: str = "cust-1") -> str:
        conversation_id = f"w-{uuid.uuid4().hex[:10]}"
        answer = await self.api("web", "POST", "/conversations", {
            "conversation_id": conversation_id, "account": self.name("acme"), "skill": "sales", "channel": "web",
            "customer": customer, "first_message": "Hi"})
        assert answer.status_code == 201, answer.text
        self.stack.started.append(conversation_id)
        return conversation_id


async def shot(page: Page, name: str) -> None:
    if SCREENS:
        Path(SCREENS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENS) / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
async def web(dev_env, tmp_path_factory) -> AsyncIterator[Web]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('web') / 'web.db'}")
    n = "-" + uuid.uuid4().hex[:6]
    try:
        async for stack in _stack(dev_env, store):
            await stack.load(_directory(n))
            token = {short: await tokens.create(store, f"{short}{n}") for short in ("ann", "mia", "pat", "pia")}
            token["web"] = await tokens.create(store, f"gateway:web{n}")
            async with gateway(store, dev_env, stack.task_queue, host="127.0.0.1", port=free_port()) as url, \
                    async_playwright() as playwright:
                # launch() gives the browser a fresh temporary profile (user data dir) of its own.
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    yield Web(stack, url, n, browser, token)
                finally:
                    await browser.close()
    finally:
        await store.close()


def offer_of(page: Page, conversation_id: str):
    return page.locator(f'li.offer[data-conversation="{conversation_id}"]')


async def test_r6_seed_transfer_steps_1_to_7_with_the_warm_message_reaching_the_customer(web: Web) -> None:
    # The customer starts a web chat (the page plays the channel gateway).
    chat = await web.page("web", "/chat")
    await chat.get_by_label("Account").fill(web.name("acme"))
    await shot(chat, "chat-start")
    await chat.get_by_role("button", name="Start chat").click()
    await expect(chat.locator("#chat-id")).not_to_be_empty(timeout=WAIT)
    conversation_id = await chat.locator("#chat-id").inner_text()
    web.stack.started.append(conversation_id)

    # The offer reaches Ann live, with a countdown and the owner's brand; she accepts.
    ann = await web.page("ann", "/")
    offer = offer_of(ann, conversation_id)
    await expect(offer).to_contain_text("Acme Motors", timeout=WAIT)
    await expect(offer.locator(".countdown")).to_have_text(re.compile(r"expires in \d+ s"))
    await shot(ann, "agent-offer")
    await offer.get_by_role("button", name=f"Accept {conversation_id}").click()
    await expect(ann.locator("#detail-h")).to_have_text(f"{conversation_id} · assigned", timeout=WAIT)
    await expect(chat.locator("#chat-status")).to_have_text("You are chatting with an agent.", timeout=WAIT)

    # Steps 1-4: "Transfer Conversation", then "Rollover": the dropdown lists only the configured targets.
    await ann.get_by_role("button", name="Transfer Conversation").click()
    dialog = ann.locator("dialog#transfer")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Rollover to another account").check()
    targets = dialog.get_by_label("Account and skill")
    options = await targets.locator("option").all_inner_texts()
    assert [o.split(" · ")[0] for o in options] == ["Acme Parts: service", "Acme Parts: workshop"], options
    assert "open now" in options[0] and "closed, opens" in options[1], options  # SPEC R6.3, before trying
    await dialog.get_by_label("Note for the receiving agents").fill("wants brake pads")
    await dialog.get_by_label("Warm message to the customer").fill("Passing you to Acme Parts")
    # R6.3: a closed target is refused with the server's message in place, and nothing typed is lost.
    await targets.select_option(f"parts{web.n}/workshop")
    await dialog.get_by_role("button", name="Transfer").click()
    await expect(dialog.get_by_role("alert")).to_contain_text(f"skill parts{web.n}/workshop is closed")
    await expect(dialog.get_by_label("Note for the receiving agents")).to_have_value("wants brake pads")
    await shot(ann, "agent-transfer-refused")
    # Step 5: the right target; Step 6: transferred, and Ann no longer has it (SPEC R5.1).
    await targets.select_option(f"parts{web.n}/service")
    await dialog.get_by_role("button", name="Transfer").click()
    await expect(dialog).to_be_hidden(timeout=WAIT)
    await expect(ann.locator("#detail")).to_contain_text("is no longer yours")
    await expect(ann.locator("#mine")).not_to_contain_text(conversation_id)
    # R6.2: the warm message reaches the customer through the channel gateway's stream.
    await expect(chat.locator("#chat-log")).to_contain_text("Passing you to Acme Parts", timeout=WAIT)
    await shot(chat, "chat-warm-message")

    # Pat (the other account) gets the offer with the owner's brand, both skills and the note (R5.3).
    pat = await web.page("pat", "/")
    offer = offer_of(pat, conversation_id)
    await expect(offer).to_contain_text("Acme Motors", timeout=WAIT)
    await expect(offer).to_contain_text(f"acme{web.n}/sales (owner) · parts{web.n}/service (handling)")
    await expect(offer).to_contain_text("wants brake pads")
    await offer.get_by_role("button", name=f"Accept {conversation_id}").click()
    await expect(pat.locator("aside.brand")).to_contain_text("Contact: Dana +1 555 0100", timeout=WAIT)
    await shot(pat, "handler-agent-conversation")

    # Step 7: the rollback menu offers the owner's skills; Pat gives it back to Acme sales.
    await pat.get_by_text("Rollback", exact=True).click()
    menu = pat.get_by_label("Owner skill")
    await expect(menu.locator("option")).to_have_count(3, timeout=WAIT)
    first, *skills = await menu.locator("option").all_inner_texts()
    assert first == "the owner skill it came from" and sorted(skills) == ["Acme Motors: billing", "Acme Motors: sales"]
    await pat.get_by_label("Rollback note").fill("not a parts question")
    await shot(pat, "handler-agent-rollback")
    await pat.get_by_role("button", name="Roll back").click()
    await expect(pat.locator("#detail")).to_contain_text("is no longer yours", timeout=WAIT)

    # Back with Ann, with the notes; she closes it, and the customer hears it ended (R8.1).
    offer = offer_of(ann, conversation_id)
    await expect(offer).to_contain_text("not a parts question", timeout=WAIT)
    await offer.get_by_role("button", name=f"Accept {conversation_id}").click()
    timeline = ann.locator("ol.timeline")
    await expect(timeline).to_contain_text("rolled_back", timeout=WAIT)
    await shot(ann, "agent-conversation-timeline")
    await ann.get_by_role("button", name="Close").click()
    await expect(chat.locator("#chat-log")).to_contain_text("The conversation has ended.", timeout=WAIT)
    await expect(chat.locator("#chat-status")).to_have_text("Ended.")
    await expect(chat.locator("#chat-log .says.them")).to_contain_text("Acme Motors")  # the brand speaks
    await shot(chat, "chat-closed")


async def test_r5_rollover_hidden_from_the_owner_agent_seen_by_both_managers_with_the_brand(web: Web) -> None:
    conversation_id = await web.start()
    ann = await web.page("ann", "/")
    await offer_of(ann, conversation_id).get_by_role("button", name=f"Accept {conversation_id}").click(timeout=WAIT)
    await expect(ann.locator("#detail-h")).to_have_text(f"{conversation_id} · assigned", timeout=WAIT)
    moved = await web.api("ann", "POST", f"/conversations/{conversation_id}/transfer",
                          {"account": web.name("parts"), "skill": "service", "note": "for parts"})
    assert moved.status_code == 200 and moved.json()["visible"] is False, moved.text

    # R5.1: the owner agent sees it nowhere: not offered, not hers, its view gone from the page.
    await expect(ann.locator("#detail")).to_contain_text("is no longer yours", timeout=WAIT)
    await expect(ann.locator("#detail ol.timeline")).to_have_count(0)
    for where in ("#offers", "#mine"):
        await expect(ann.locator(where)).not_to_contain_text(conversation_id)
    # R5.2: the owner manager lists it, with the handler, and joins it.
    mia = await web.page("mia", "/manager")
    row = mia.locator(f'tr[data-conversation="{conversation_id}"]')
    await expect(row).to_contain_text(f"parts{web.n}/service", timeout=WAIT)
    await row.get_by_role("button", name="Join").click()
    await expect(mia.locator("#conv-msg")).to_contain_text(f"You joined {conversation_id}.")
    await shot(mia, "owner-manager")
    # R5.3: the handler agent sees the owner's brand; R5.4: the handler manager lists it with the brand name.
    pat = await web.page("pat", "/")
    await expect(offer_of(pat, conversation_id)).to_contain_text("Acme Motors", timeout=WAIT)
    await offer_of(pat, conversation_id).get_by_role("button", name=f"Accept {conversation_id}").click()
    pia = await web.page("pia", "/manager")
    row = pia.locator(f'tr[data-conversation="{conversation_id}"]')
    await expect(row.locator(".brand-name")).to_have_text("Acme Motors", timeout=WAIT)
    await expect(row).to_contain_text(web.name("pat"), timeout=WAIT)
    # R5.4: a private message to the handling agent arrives in Pat's workspace, never the customer's.
    await row.get_by_role("button", name="Message").click()
    await pia.locator("#compose textarea").fill("VIP, be nice")
    await pia.get_by_role("button", name="Send private message").click()
    await expect(pia.locator("#compose-msg")).to_contain_text(f"Sent to {web.name('pat')}")
    await expect(pat.locator("#detail")).to_contain_text("VIP, be nice", timeout=WAIT)
    await expect(pia.locator("#agents")).to_contain_text("Pat")
    await expect(pia.locator("#agents")).to_contain_text("1 / 5")
    await shot(pia, "handler-manager")
    await shot(pat, "handler-agent-private-message")
    # The manager page on a phone: one column, nothing cut off sideways.
    phone = await web.page("pia", "/manager", phone=True)
    await expect(phone.locator(f'tr[data-conversation="{conversation_id}"]')).to_be_attached(timeout=WAIT)
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    await shot(phone, "handler-manager-phone")
    closed = await web.api("pia", "POST", f"/conversations/{conversation_id}/close", {"reason": "done"})
    assert closed.status_code == 200, closed.text


async def test_r7_manager_sets_and_clears_a_hero_and_refusals_show_the_servers_message(web: Web) -> None:
    mia = await web.page("mia", "/manager")
    await mia.get_by_label("Customer", exact=True).fill("cust-77")
    await mia.locator("#hero").get_by_label("Agent").select_option(web.name("ann"))
    await mia.get_by_role("button", name="Set hero").click()
    await expect(mia.locator("#hero-msg")).to_have_text(f"cust-77's hero: {web.name('ann')}.")
    assert (await web.api("mia", "GET", f"/accounts/{web.name('acme')}/queues")).status_code == 200
    await expect(mia.locator("#queues")).to_contain_text("billing")
    await shot(mia, "manager-hero")
    await mia.get_by_role("button", name="Clear hero").click()
    await expect(mia.locator("#hero-msg")).to_have_text("cust-77 has no hero now.")
    await mia.get_by_role("button", name="Clear hero").click()  # nothing left to clear: the server says so
    await expect(mia.locator("#hero-msg").get_by_role("alert")).to_contain_text("hero for customer 'cust-77'")


async def test_keyboard_only_sign_in_accept_and_transfer_dialog(web: Web) -> None:
    conversation_id = await web.start()
    context = await web.browser.new_context(viewport={"width": 1280, "height": 860})
    web.watch(context)
    page = await context.new_page()
    await page.goto(f"{web.url}/")
    await expect(page.get_by_label("Agent token")).to_be_focused()  # autofocus: type at once
    await page.keyboard.type(web.token["ann"])
    await page.keyboard.press("Enter")
    accept = offer_of(page, conversation_id).get_by_role("button", name=f"Accept {conversation_id}")
    await expect(accept).to_be_visible(timeout=WAIT)
    for _ in range(40):  # Tab through the page until the Accept button has the focus
        if await accept.evaluate("button => button === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    else:
        pytest.fail("Tab never reached the Accept button")
    await page.keyboard.press("Enter")
    transfer = page.get_by_role("button", name="Transfer Conversation")
    await transfer.focus()
    await page.keyboard.press("Enter")
    dialog = page.locator("dialog#transfer")
    await expect(dialog).to_be_visible(timeout=WAIT)
    assert await page.evaluate("document.activeElement.closest('dialog') !== null"), "focus moves into the dialog"
    await shot(page, "agent-transfer-dialog")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    closed = await web.api("ann", "POST", f"/conversations/{conversation_id}/close", {})
    assert closed.status_code == 200, closed.text


async def test_no_page_asks_another_origin_for_anything(web: Web) -> None:
    """Every page (and, for the whole module, every page its tests opened) and the API docs asked
    the gateway only."""
    for who, path, ready in (("ann", "/", "#workspace"), ("mia", "/manager", "#workspace"), ("web", "/chat", "#start")):
        page = await web.page(who, path, phone=True)  # and each fits a phone's width
        await expect(page.locator(ready)).to_be_visible(timeout=WAIT)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
        await shot(page, f"phone-{who}")
        await page.context.close()
    for path in ("/docs", "/redoc"):
        context = await web.browser.new_context()
        web.watch(context)
        page = await context.new_page()
        await page.goto(f"{web.url}{path}")
        await page.wait_for_load_state("networkidle")
        await shot(page, f"api{path.replace('/', '-')}")
        await context.close()
    assert any(url.startswith(f"{web.url}/web/") for url in web.requests), "the pages' assets were requested"
    assert any("static-offline-docs" in url for url in web.requests), "the docs' assets came from the gateway"
    ours = (web.url, f"blob:{web.url}", "data:")  # blob: ReDoc's search worker, made by the page itself
    elsewhere = sorted({url for url in web.requests if not url.startswith(ours)} - set(web.blocked))
    assert elsewhere == [], elsewhere
    # ReDoc's bundle always shows its vendor's logo from a CDN: the docs' policy stops it in the browser.
    assert set(web.blocked) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}, web.blocked
    page = await web.api("ann", "GET", "/")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
