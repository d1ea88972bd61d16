"""Creating, opening and closing a device's profile against the real server."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import (
    ClientError,
    InvalidAddress,
    NetworkError,
    ProfileError,
    ServerError,
)
from sottovoce.client.prekey_store import KEM, ONE_TIME, SIGNED
from sottovoce.client.prekey_supply import PREKEY_BATCH
from sottovoce.client.store_key import PROFILE_FILE
from sottovoce.client.transport import Transport
from sottovoce.server.limits import PREKEY_LOW_WATERMARK
from tests.client.conftest import MakeClient, profile_of
from tests.client.relay_db import delete_account
from tests.support.live_server import LiveServer
from tests.support.waiting import eventually

PREKEYS = "/v1/devices/self/prekeys"


async def prekey_status(client: Client) -> dict[str, Any]:
    return await client._transport.request("GET", PREKEYS)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def drain_one_time_prekeys(claimer: Client, address: str, count: int) -> None:
    for _ in range(count):
        await claimer._transport.request("POST", "/v1/keys/claim", {"address": address})


async def test_a_new_account_is_registered_with_a_full_set_of_prekeys(
    make_client: MakeClient,
) -> None:
    bob = await make_client("bob", "photos")
    assert bob.address.endswith("@photos") and bob.device_id == 1
    assert await prekey_status(bob) == {
        "one_time_prekeys": PREKEY_BATCH,
        "kem_one_time_prekeys": PREKEY_BATCH,
        "signed_prekey_id": 1,
        "kem_last_resort_id": 1,
    }
    # Every public key the server holds has its private half in the local store.
    assert len(bob._store.all(SIGNED)) == 1
    assert len(bob._store.all(ONE_TIME)) == PREKEY_BATCH
    assert len(bob._store.all(KEM)) == PREKEY_BATCH + 1  # and the last-resort key


async def test_a_taken_handle_is_a_server_error_and_leaves_no_profile(
    make_client: MakeClient, live_server_module: LiveServer, tmp_path: Path
) -> None:
    bob = await make_client("bob", "photos")
    handle = bob.address.removesuffix("@photos")
    directory = tmp_path / "second-bob"
    with pytest.raises(ServerError) as taken:
        await Client.create_account(directory, live_server_module.url, "photos", handle)
    assert (taken.value.status, taken.value.problem_type) == (409, "handle-taken")
    assert "handle-taken" in str(taken.value)
    assert not (directory / PROFILE_FILE).exists()
    url = live_server_module.url
    another = await Client.create_account(directory, url, "photos", f"{handle}by")
    assert another.address == f"{handle}by@photos"
    await another.close()


async def test_bad_names_and_urls_are_refused_before_anything_is_created(
    live_server_module: LiveServer, tmp_path: Path
) -> None:
    url = live_server_module.url
    with pytest.raises(ServerError) as unknown:
        await Client.create_account(tmp_path / "a", url, "nosuchapp", "alice")
    assert (unknown.value.status, unknown.value.problem_type) == (404, "unknown-app")
    with pytest.raises(InvalidAddress):
        await Client.create_account(tmp_path / "b", url, "chat", "Alice!")
    with pytest.raises(ClientError, match="must start with http"):
        await Client.create_account(tmp_path / "c", "ftp://example.org", "chat", "alice")
    for name in ("a", "b", "c"):
        assert not (tmp_path / name / PROFILE_FILE).exists()


async def test_a_lost_registration_answer_is_recognised_as_success(
    live_server_module: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, tag = live_server_module.url, secrets.token_hex(3)
    original = Transport.request
    registrations: list[str] = []

    async def lose_first_answer(
        self: Transport, method: str, path: str, payload: Any = None
    ) -> Any:
        if path == "/v1/accounts":
            registrations.append(self.address)
        answer = await original(self, method, path, payload)
        if path == "/v1/accounts" and len(registrations) == 1:
            raise NetworkError("the connection dropped before the answer arrived")
        return answer

    monkeypatch.setattr(Transport, "request", lose_first_answer)
    alice = await Client.create_account(tmp_path / "a", url, "chat", f"alice-{tag}")
    monkeypatch.undo()
    bob = await Client.create_account(tmp_path / "b", url, "photos", f"bob-{tag}")
    assert registrations == [f"alice-{tag}@chat"] * 2
    await bob.send(alice.address, "you exist")
    assert [m.text for m in await alice.fetch()] == ["you exist"]
    await alice.close()
    await bob.close()


async def test_a_failed_prekey_upload_is_repaired_by_the_next_fetch(
    live_server_module: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, tag = live_server_module.url, secrets.token_hex(3)
    original = Transport.request

    async def upload_fails(self: Transport, method: str, path: str, payload: Any = None) -> Any:
        if method == "PUT" and path == PREKEYS:
            raise NetworkError("the server went away")
        return await original(self, method, path, payload)

    monkeypatch.setattr(Transport, "request", upload_fails)
    with pytest.raises(NetworkError):
        await Client.create_account(tmp_path / "b", url, "photos", f"bob-{tag}")
    monkeypatch.undo()
    alice = await Client.create_account(tmp_path / "a", url, "chat", f"alice-{tag}")
    with pytest.raises(ClientError, match="without prekeys"):
        await alice.send(f"bob-{tag}@photos", "too early")
    async with await Client.open(tmp_path / "b") as bob:
        assert await bob.fetch() == []  # reports prekeys_low, so bob uploads everything
        status = await prekey_status(bob)
        assert (status["signed_prekey_id"], status["kem_last_resort_id"]) == (1, 1)
        await alice.send(bob.address, "now it works")
        assert [m.text for m in await bob.fetch()] == ["now it works"]
    await alice.close()


async def test_fetch_tops_prekeys_up_when_the_server_runs_low(make_client: MakeClient) -> None:
    bob = await make_client("bob", "photos")
    carol = await make_client("carol", "chat")
    await drain_one_time_prekeys(carol, bob.address, PREKEY_BATCH - 10)
    assert (await prekey_status(bob))["one_time_prekeys"] == 10
    assert await bob.fetch() == []
    status = await prekey_status(bob)
    assert (status["one_time_prekeys"], status["kem_one_time_prekeys"]) == (PREKEY_BATCH,) * 2


async def test_a_listener_tops_prekeys_up_as_soon_as_claims_run_them_low(
    make_client: MakeClient,
) -> None:
    bob = await make_client("bob", "photos")
    carol = await make_client("carol", "chat")
    counts: list[int] = []

    async def listen() -> None:
        async with aclosing(bob.listen()) as stream:
            async for _ in stream:
                pass

    listener = asyncio.create_task(listen())
    # The last claim leaves one key fewer than the server's low-water mark.
    await drain_one_time_prekeys(carol, bob.address, PREKEY_BATCH - PREKEY_LOW_WATERMARK + 1)
    for _ in range(200):
        counts.append((await prekey_status(bob))["one_time_prekeys"])
        if counts[-1] == PREKEY_BATCH:
            break
        await asyncio.sleep(0.05)
    await stop(listener)
    assert counts[-1] == PREKEY_BATCH  # topped up by the listener, nobody fetched


async def test_a_refused_live_connection_ends_listen_with_a_server_error(
    make_client: MakeClient, live_server_module: LiveServer
) -> None:
    bob = await make_client("bob", "photos")
    # The relay no longer knows this device.
    delete_account(live_server_module.db_path, bob.address)
    with pytest.raises(ServerError) as refused:
        async with aclosing(bob.listen()) as stream:
            await anext(stream)
    assert refused.value.status == 401


async def test_profiles_reopen_only_with_the_right_passphrase(
    make_client: MakeClient, tmp_path: Path
) -> None:
    alice = await make_client("alice", "chat", passphrase="hunter2 but longer")
    assert alice.server_url.startswith("http://127.0.0.1:")
    await alice.close()
    await alice.close()  # closing twice is harmless
    assert alice.address.endswith("@chat")  # still known after closing
    directory = profile_of(tmp_path, alice.address)
    with pytest.raises(ProfileError, match="wrong passphrase"):
        await Client.open(directory, passphrase="hunter3 but longer")
    with pytest.raises(ProfileError, match="locked with a passphrase"):
        await Client.open(directory)
    with pytest.raises(ProfileError, match="create an account first"):
        await Client.open(tmp_path / "nobody")
    with pytest.raises(ProfileError, match="already exists"):
        await Client.create_account(directory, alice.server_url, "chat", "alice2")
    async with await Client.open(directory, passphrase="hunter2 but longer") as again:
        assert (again.address, again.device_id) == (alice.address, 1)


async def test_a_listener_waits_for_the_server_and_delivers_when_it_returns(
    make_client_alone: MakeClient, live_server: LiveServer
) -> None:
    alice = await make_client_alone("alice", "chat")
    bob = await make_client_alone("bob", "photos")
    await alice.send(bob.address, "queued while bob was not listening")
    live_server.stop()
    received: list[str] = []

    async def listen() -> None:
        async with aclosing(bob.listen()) as stream:
            async for message in stream:
                received.append(message.text)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(1.0)  # a few refused connection attempts
    assert received == [] and not listener.done()
    live_server.start()
    await eventually(lambda: received == ["queued while bob was not listening"], 40)
    await stop(listener)
