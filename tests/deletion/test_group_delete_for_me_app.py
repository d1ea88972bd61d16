"""Through the real app process: a group message Alice deletes for herself in the app
on her laptop goes from her phone (an SDK device of the same account), and one she
deletes on the phone leaves the laptop's app view live; Bob keeps both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from sottovoce.client import Client
from tests.app.app_process import AppProcess
from tests.deletion.conftest import GROUP
from tests.support.live_server import LiveServer
from tests.support.people import link

WAIT_S = 30.0
CONVERSATION = f"%23{GROUP}"  # "#plans", the app's id of the group
PASSPHRASE = "laptop passphrase"


async def _until(read: Callable[[], Awaitable[list[str]]], wanted: list[str]) -> None:
    """Until what ``read`` returns (sorted) is ``wanted``, for at most WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while (seen := sorted(await read())) != wanted:
        assert time.monotonic() < deadline, seen
        await asyncio.sleep(0.2)


def _app(http: httpx.Client) -> Callable[[], Awaitable[list[str]]]:
    """The texts the laptop's app shows in the group."""

    async def read() -> list[str]:
        page = await asyncio.to_thread(http.get, f"/api/conversations/{CONVERSATION}/messages")
        assert page.status_code == 200, page.text
        return [m["text"] for m in page.json()["messages"]]

    return read


def _sdk(client: Client) -> Callable[[], Awaitable[list[str]]]:
    """The texts an SDK device holds in the group, after fetching."""

    async def read() -> list[str]:
        await client.fetch()
        return [m.text for m in client.groups.history(GROUP)]

    return read


async def test_delete_for_me_in_the_apps_group_view_reaches_the_other_device(
    group_of_two: tuple[Client, Client], server: LiveServer, tmp_path: Path
) -> None:
    phone, bob = group_of_two
    await (await link(phone, tmp_path / "laptop", server.url, passphrase=PASSPHRASE)).close()
    await phone.fetch()  # follows the new device list: adds the laptop to the group
    app = AppProcess(tmp_path / "laptop", server.url, tmp_path / "laptop.log")
    app.start()
    try:
        with app.signed_in(PASSPHRASE) as http:
            assert app.address == phone.address
            await bob.fetch()  # the commit that added the laptop
            await phone.groups.send(GROUP, "alice's slip")
            slip = await bob.groups.send(GROUP, "bob's slip")
            both = ["alice's slip", "bob's slip"]
            await _until(_app(http), both)
            await _until(_sdk(phone), both)

            # Delete for me in the laptop's app: gone from the phone too.
            deleted = http.post(
                f"/api/conversations/{CONVERSATION}/messages/{slip.message_id}/delete",
                json={"everyone": False},
            )
            assert deleted.json() == {"ok": True}
            assert await _app(http)() == ["alice's slip"]
            await _until(_sdk(phone), ["alice's slip"])

            # And the other way: delete for me on the phone leaves the app's view.
            (mine,) = phone.groups.history(GROUP)
            await phone.groups.delete_for_me(GROUP, mine.message_id)
            await _until(_app(http), [])
            assert sorted(await _sdk(bob)()) == both
    finally:
        app.stop()
