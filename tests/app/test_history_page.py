"""Client.history_page: a conversation's history read back in pages by cursor."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.errors import ClientError
from tests.support.live_server import LiveServer

MESSAGES = 450


async def test_pages_cover_all_history_in_order_and_end_with_no_cursor(
    app_server: LiveServer, tmp_path: Path
) -> None:
    alice = await Client.create_account(
        tmp_path / "alice", app_server.url, "chat", f"alice-{secrets.token_hex(3)}"
    )
    peer, other = "bob-page@photos", "carol-page@photos"
    try:
        with alice._store.transaction():  # as fetches leave it, two conversations mixed
            for i in range(MESSAGES):
                alice._history.record(peer, f"m{i}", "in", f"message {i}", 1_000 + i)
                alice._history.record(other, f"o{i}", "in", "elsewhere", 1_000 + i)
        page, cursor = alice.history_page(peer, 200)
        sizes = [len(page)]
        seen = [e.message_id for e in page]
        while cursor is not None:
            page, cursor = alice.history_page(peer, 200, cursor)
            sizes.append(len(page))
            seen = [e.message_id for e in page] + seen
        assert sizes == [200, 200, 50]
        assert seen == [f"m{i}" for i in range(MESSAGES)]
        assert {e.peer for e in alice.history_page(peer, 500)[0]} == {peer}
        # Exactly a page's worth left: the last page says there is nothing before it.
        assert alice.history_page(peer, MESSAGES)[1] is None
        assert alice.history_page(peer, MESSAGES - 1)[1] is not None
        with pytest.raises(ClientError, match="limit"):
            alice.history_page(peer, 0)
        with pytest.raises(ClientError, match="cursor"):
            alice.history_page(peer, 10, 0)
    finally:
        await alice.close()
