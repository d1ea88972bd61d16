"""People for the deletion tests, on the real server process: two people, the same
two in a group, and one of them on two linked devices. The package shares one server
(each test makes its own people, with random handles); a test marked ``own_server``
gets its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from tests.support.live_server import LiveServer, server_for
from tests.support.people import link, running, two_people

GROUP = "plans"


@pytest.fixture(scope="package")
def deletion_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from running(LiveServer(tmp_path_factory.mktemp("deletion-relay")))


@pytest.fixture
def server(request: pytest.FixtureRequest) -> LiveServer:
    """The package's server, or the test's own when it is marked ``own_server``."""
    return server_for(request, "deletion_server")


@pytest.fixture
async def people(server: LiveServer, tmp_path: Path) -> AsyncIterator[tuple[Client, Client]]:
    """Alice and Bob, who have not written to each other yet."""
    async with two_people(server.url, tmp_path) as pair:
        yield pair


@pytest.fixture
async def group_of_two(people: tuple[Client, Client]) -> tuple[Client, Client]:
    """Alice and Bob in Alice's group ``plans``."""
    alice, bob = people
    bob.set_group_invites_from_anyone(True)  # tests/safety has the group requests
    await alice.groups.create(GROUP)
    await alice.groups.add(GROUP, bob.address)
    await bob.fetch()
    return alice, bob


@pytest.fixture
async def alice_on_two_devices(
    group_of_two: tuple[Client, Client], server: LiveServer, tmp_path: Path
) -> AsyncIterator[tuple[Client, Client, Client]]:
    """Alice's phone and her laptop (linked after the group was made, and then
    added to it by the phone), and Bob; all three in ``plans``."""
    alice, bob = group_of_two
    laptop = await link(alice, tmp_path / "alice-laptop", server.url)
    try:
        await alice.fetch()  # follows the new device list: adds the laptop to the group
        await laptop.fetch()  # joins
        await bob.fetch()  # the commit
        assert [g.name for g in laptop.groups.all()] == [GROUP]
        yield alice, laptop, bob
    finally:
        await laptop.close()
