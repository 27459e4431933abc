"""The HTTP gateway against the Temporal client: the same start and accept, made both ways.

The gateway runs in-process (ASGI) beside the worker, on a Temporal connection of its own, as a
deployed gateway has: it has no worker beside it, so its starts are not eager. The comparison is
the same calls made directly on that connection (a start, then the accept update with the same
input the gateway sends), interleaved with the gateway's, one at a time.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from temporalio.client import Client

from gateway import create_app
from routing.model import StartConversation
from service import conversations
from store import Store, tokens
from switchboard.bench.figures import GatewayRun, Latency
from switchboard.bench.runs import OFFER_WAIT, UNLOADED_RUNS, WARM_UP, Bench
from switchboard.bench.world import OWNER, POLL, SKILL, at_concurrency
from workflows.conversation import workflow_id


async def gateway(bench: Bench, store: Store, count: int, concurrency: int) -> GatewayRun:
    """Conversations started, accepted and closed through the gateway (one at a time, then
    ``count`` at ``concurrency``), and the same calls made with the client, one at a time."""
    own = await Client.connect(bench.client.service_client.config.target_host, namespace=bench.client.namespace,
                               data_converter=bench.client.data_converter)
    app = create_app(store=store, client=own, task_queue=bench.task_queue)
    principals = ["gateway:bench", *(f"owner-{n}" for n in range(10))]
    bearer = {p: {"Authorization": f"Bearer {await tokens.create(store, p)}"} for p in principals}
    early = 0

    async def through_the_gateway(http: httpx.AsyncClient, n: int, phase: str) -> tuple[float, float]:
        nonlocal early
        conversation_id = f"bench-{bench.tag}-gw-{phase}-{n}"
        offered = bench.offers.expect(conversation_id)
        began = time.perf_counter()
        started = await http.post("/conversations", headers=bearer["gateway:bench"], json={
            "conversation_id": conversation_id, "account": OWNER, "skill": SKILL, "channel": "web",
            "customer": f"cust-{n}"})
        start = time.perf_counter() - began
        if started.status_code != 201:
            raise RuntimeError(f"gateway start of {conversation_id}: {started.status_code} {started.text}")
        agent, _ = await asyncio.wait_for(offered, OFFER_WAIT)
        path = f"/conversations/{conversation_id}"
        while True:  # as in ``Bench.accept``: the offer row can be seen before the workflow has it
            began = time.perf_counter()
            answer = await http.post(f"{path}/accept", headers=bearer[agent], json={})
            accept = time.perf_counter() - began
            if answer.status_code == 200:
                break
            if answer.json().get("error") != "NoOffer":
                raise RuntimeError(f"gateway accept of {conversation_id}: {answer.status_code} {answer.text}")
            early += 1
            await asyncio.sleep(POLL)
        await http.post(f"{path}/close", headers=bearer[agent], json={"reason": "bench"})
        return start, accept

    async def with_the_client(n: int, phase: str) -> tuple[float, float]:
        conversation_id = f"bench-{bench.tag}-gwc-{phase}-{n}"
        offered = bench.offers.expect(conversation_id)
        began = time.perf_counter()
        await conversations.start(own, StartConversation(
            conversation_id=conversation_id, account=OWNER, skill=SKILL, channel="web", customer=f"cust-{n}"),
            bench.task_queue, join_running=False)
        start = time.perf_counter() - began
        agent, _ = await asyncio.wait_for(offered, OFFER_WAIT)
        handle = own.get_workflow_handle(workflow_id(conversation_id))
        _, accept = await bench.accept(conversation_id, agent, client=own, full_view=True)
        await conversations.update(handle, "close", {"by": agent, "reason": "bench"})
        return start, accept

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        for n in range(WARM_UP):
            await through_the_gateway(http, n, "warm")
            await with_the_client(n, "warm")
        unloaded, direct = [], []
        for n in range(UNLOADED_RUNS):
            unloaded.append(await through_the_gateway(http, n, "seq"))
            direct.append(await with_the_client(n, "seq"))
        early = 0
        loaded, _ = await at_concurrency(lambda n: through_the_gateway(http, n, "load"), count, concurrency)
    return GatewayRun(Latency([s for s, _ in unloaded]), Latency([s for s, _ in loaded]),
                      Latency([a for _, a in unloaded]), Latency([a for _, a in loaded]), early,
                      client_start=Latency([s for s, _ in direct]), client_accept=Latency([a for _, a in direct]))
