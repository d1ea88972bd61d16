"""Adult-to-minor contact through a group invite: refused unless the minor
connected with the adult who adds them, at the KeyPackage claim and at the commit."""

from __future__ import annotations

import pytest

from sottovoce.client.errors import ServerError, UnknownAccount
from tests.safety.sdk import MakeClient, make_client, safety_server

__all__ = ["make_client", "safety_server"]


async def test_an_adult_cannot_add_an_unconnected_minor_to_a_group(
    make_client: MakeClient,
) -> None:
    adult = await make_client("groomer")
    minor = await make_client("child", "kids", minor=True)
    await adult.groups.create("fun club")
    with pytest.raises(UnknownAccount):
        await adult.groups.add("fun club", minor.address)
    await minor.fetch()
    assert minor.groups.all() == []


async def test_a_connected_adult_adds_the_minor_and_others_still_cannot(
    make_client: MakeClient,
) -> None:
    parent = await make_client("parent")
    minor = await make_client("kid", "kids", minor=True)
    stranger = await make_client("stranger")
    await minor.send(parent.address, "add me to the family group")
    await parent.fetch()
    await parent.groups.create("family")
    await parent.groups.add("family", stranger.address)
    await parent.groups.add("family", minor.address)
    await minor.fetch()
    assert [g.name for g in minor.groups.all()] == ["family"]
    # Another adult in the same group is no connection of the minor's: a group of
    # its own with the minor is refused.
    await stranger.fetch()
    await stranger.groups.create("secret")
    with pytest.raises(UnknownAccount):
        await stranger.groups.add("secret", minor.address)


async def test_a_withdrawn_connection_stops_the_key_package_claim(
    make_client: MakeClient,
) -> None:
    """The adult still holds the minor's device list from before; the server's
    check at the KeyPackage claim refuses all the same."""
    adult = await make_client("coach")
    minor = await make_client("player", "kids", minor=True)
    await minor.send(adult.address, "hi coach")
    await adult.fetch()
    await minor.block(adult.address)
    await adult.groups.create("team")
    with pytest.raises(ServerError) as refused:
        await adult.groups.add("team", minor.address)
    assert refused.value.status == 404
    assert refused.value.problem_type == "unknown-account"
    await minor.fetch()
    assert minor.groups.all() == []


async def test_a_commit_adding_a_minor_with_a_key_package_kept_from_before_is_refused(
    make_client: MakeClient,
) -> None:
    """An adult who claimed the minor's KeyPackage while connected, and commits the
    add after the minor withdrew the connection, is refused at the commit."""
    from sottovoce.client import server_json as sj
    from sottovoce.client.groups import CIPHER_SUITE

    adult = await make_client("adult")
    minor = await make_client("minor", "kids", minor=True)
    await minor.send(adult.address, "hello")
    await adult.fetch()
    claim = await adult._transport.request(
        "POST", "/v1/key-packages/claim", {"address": minor.address, "cipher_suite": CIPHER_SUITE}
    )
    [package] = claim["key_packages"]
    await minor.block(adult.address)
    info = await adult.groups.create("later")
    with pytest.raises(ServerError) as refused:
        await adult.groups._commit(
            info.group_id,
            adds=[sj.unb64(package["key_package"])],
            added=[{"address": minor.address, "device_id": package["device_id"]}],
        )
    assert (refused.value.status, refused.value.problem_type) == (404, "unknown-account")
    await minor.fetch()
    assert minor.groups.all() == []
