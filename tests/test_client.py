"""The Render API client over real HTTP against the simulator."""

from __future__ import annotations

import asyncio

import pytest

from renderer.render_api.client import RenderClient, Settings
from renderer.render_api.errors import BadRequest, Conflict, NotFound
from tests.conftest import Sim


def settings(sim: Sim) -> Settings:
    return Settings(base_url=sim.api_url, api_key=sim.api_key, owner_id=sim.owner_id)


def worker(sim: Sim, name: str) -> dict[str, object]:
    return {"type": "background_worker", "name": name, "ownerId": sim.owner_id,
            "serviceDetails": {"runtime": "node", "envSpecificDetails": {"buildCommand": "npm ci",
                                                                           "startCommand": "node w.js"}}}


def test_lists_follow_cursor_past_one_page(sim: Sim) -> None:
    async def scenario() -> tuple[int, int]:
        async with RenderClient(settings(sim)) as client:
            created = await client.create_service(worker(sim, "paged"))
            sid = created["service"]["id"]
            for i in range(130):
                await client.put_env_var(sid, f"KEY_{i:03d}", value=str(i))
            env = await client.list_env_vars(sid)
            for i in range(3):
                await client.create_service(worker(sim, f"w{i}"))
            services = await client.list_services()
            return len(env), len(services)

    assert asyncio.run(scenario()) == (130, 4)
    pages = [line for line in sim.record.read_text().splitlines() if "/env-vars\"" in line and '"GET"' in line]
    assert len(pages) == 2


@pytest.mark.sends_invalid_requests
def test_errors_carry_status_message_and_request_id(sim: Sim) -> None:
    async def scenario() -> None:
        async with RenderClient(settings(sim)) as client:
            await client.create_service(worker(sim, "dup"))
            with pytest.raises(Conflict) as conflict:
                await client.create_service(worker(sim, "dup"))
            assert conflict.value.status == 409
            assert "already exists" in conflict.value.api_message
            assert conflict.value.request_id and conflict.value.request_id.startswith("req-")
            with pytest.raises(NotFound):
                await client.get_service("srv-00000000000000000000")
            assert await client.find_service("srv-00000000000000000000") is None
            with pytest.raises(BadRequest) as bad:
                await client.create_postgres({"name": "db", "ownerId": sim.owner_id, "plan": "basic_256mb"})
            assert "'version' is a required property" in bad.value.api_message

    asyncio.run(scenario())
