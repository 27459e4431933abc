"""``switchboard simulate --live`` on a tiny slice: the same conversations through the real engine
(dev server, worker, store; agents answering through the service layer) and through the pure
simulation on the same instants. Both must answer the same conversations; the difference in wait
is the engine's own, and it cannot be negative on average (routing takes a start, a step, an update)."""

from __future__ import annotations

from datetime import date

from routing.directory import Directory
from switchboard.whatif_live import run_live
from whatif.traffic import Traffic


async def test_live_slice_answers_what_the_simulation_answers_and_measures_the_engine() -> None:
    directory = Directory.model_validate({"accounts": [{
        "id": "shop", "brand": {"name": "Shop"}, "skills": [{"id": "sales"}],
        "agents": [{"id": f"live-{i}", "skills": ["sales"], "status": "online"} for i in range(2)]}]})
    traffic = Traffic.model_validate({"start": date(2026, 12, 7), "seed": 5, "streams": [
        {"account": "shop", "skill": "sales", "per_hour": 30, "handle": {"mean": "10m", "dist": "fixed"}}]})
    live = await run_live(directory, traffic, count=3, speed=600)
    assert live["conversations"] == live["compared"] == 3
    assert live["answered_live"] == live["answered_simulated"] == 3
    assert live["abandoned_live"] == live["abandoned_simulated"] == 0
    assert live["engine_added_wait_s"]["mean"] > 0
    assert live["start_to_offer_s"]["mean"] > 0
