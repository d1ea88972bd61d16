"""Minors through the SDK: unreachable to adults until the minor connects."""

from __future__ import annotations

import pytest

from sottovoce.client.errors import UnknownAccount
from tests.safety.sdk import MakeClient, make_client, safety_server

__all__ = ["make_client", "safety_server"]


async def test_an_adult_cannot_start_a_conversation_with_a_minor(
    make_client: MakeClient,
) -> None:
    adult = await make_client("adult", "chat")
    minor = await make_client("minor", "kids", minor=True)
    with pytest.raises(UnknownAccount):
        await adult.send(minor.address, "hey, want to chat?")
    assert await minor.fetch() == []
    assert (await minor.safety_status()).minor
    assert not (await adult.safety_status()).minor


async def test_the_minor_writing_first_connects_and_blocking_disconnects(
    make_client: MakeClient,
) -> None:
    parent = await make_client("parent", "photos")
    minor = await make_client("kid", "kids", minor=True)
    await minor.send(parent.address, "hi, it's me")
    assert [m.text for m in await parent.fetch()] == ["hi, it's me"]
    await parent.send(minor.address, "hello dear")
    assert [m.text for m in await minor.fetch()] == ["hello dear"]
    await minor.block(parent.address)
    # The connection is withdrawn: the adult can no longer find or reach the minor.
    with pytest.raises(UnknownAccount):
        await parent._contact(minor.address, refresh=True)


async def test_minors_message_minors_freely(make_client: MakeClient) -> None:
    one = await make_client("one", "kids", minor=True)
    two = await make_client("two", "kids", minor=True)
    await one.send(two.address, "play later?")
    assert [m.text for m in await two.fetch()] == ["play later?"]
    assert two.is_request(one.address)
    await two.accept_request(one.address)
    assert not two.is_request(one.address)
