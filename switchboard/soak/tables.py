"""The store as the soak sees it: plain SQL on ``agents`` (id, load, capacity) and ``holds``
(conversation_id, agent_id) only, on a connection pool of its own."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from switchboard.soak.checks import Figures

LOAD_AND_HOLDS = text("SELECT a.id, a.load, a.capacity, (SELECT count(*) FROM holds h WHERE h.agent_id = a.id) "
                      "AS holds FROM agents a ORDER BY a.id")  # one statement: one snapshot
HOLDS = text("SELECT conversation_id, agent_id FROM holds ORDER BY conversation_id")


class StoreReader:
    def __init__(self, database_url: str) -> None:
        self.engine = create_async_engine(database_url)

    async def agents(self) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(await conn.execute(LOAD_AND_HOLDS))

    async def holds(self) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(await conn.execute(HOLDS))

    async def sample(self, figures: Figures, interval: float) -> None:
        """Look for an agent above capacity (by load or by holds) every ``interval`` s, until cancelled."""
        loop = asyncio.get_running_loop()
        begin = loop.time()
        while True:
            try:
                rows = await self.agents()
            except Exception as error:  # a locked or busy database is not a finding of the soak
                figures.info[f"store samples failed ({type(error).__name__})"] += 1
            else:
                figures.info["store samples"] += 1
                for row in rows:
                    if row.capacity is not None and max(row.load, row.holds) > row.capacity:
                        figures.over_capacity[f"t+{loop.time() - begin:.1f}s {row.id}"] = (
                            f"load {row.load}, holds {row.holds}, capacity {row.capacity}")
            await asyncio.sleep(interval)

    async def close(self) -> None:
        await self.engine.dispose()
