"""Creating and opening profiles: a failed registration leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import InvalidAddress, ProfileError, ServerError
from sottovoce.client.store_key import PROFILE_FILE
from tests.sdk.conftest import MakeClient
from tests.support.live_server import LiveServer


async def test_a_taken_handle_leaves_no_profile_behind(
    sdk_server: LiveServer, tmp_path: Path, make_client: MakeClient
) -> None:
    alice = await make_client("alice")
    handle = alice.address.split("@")[0]
    profile = tmp_path / "second"
    with pytest.raises(ServerError) as taken:
        await Client.create_account(profile, sdk_server.url, "chat", handle)
    assert (taken.value.status, taken.value.problem_type) == (409, "handle-taken")
    assert not (profile / PROFILE_FILE).exists()
    # The same directory takes the next attempt; the handle is free in another app.
    other = await Client.create_account(profile, sdk_server.url, "photos", handle)
    await other.close()
    with pytest.raises(ProfileError, match="already exists"):
        await Client.create_account(profile, sdk_server.url, "photos", handle + "x")
    reopened = await Client.open(profile)
    try:
        assert (reopened.address, reopened.device_id) == (f"{handle}@photos", 1)
    finally:
        await reopened.close()


async def test_bad_names_and_missing_profiles_are_refused_locally(
    sdk_server: LiveServer, tmp_path: Path
) -> None:
    for app, handle in (("chat", "Alice"), ("Chat", "alice"), ("chat", ""), ("chat", "a@b")):
        with pytest.raises(InvalidAddress):
            await Client.create_account(tmp_path / "bad", sdk_server.url, app, handle)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ServerError) as unknown:
        await Client.create_account(tmp_path / "music", sdk_server.url, "music", "alice")
    assert unknown.value.problem_type == "unknown-app"
    assert not (tmp_path / "music" / PROFILE_FILE).exists()
    with pytest.raises(ProfileError, match="no profile"):
        await Client.open(tmp_path / "nowhere")
