"""Two server nodes on one database share one log: one chain of heads, proofs on both."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sottovoce.client import Client
from sottovoce.client.auditor import LogAuditor
from sottovoce.server.process import ServerProcess
from sottovoce.server.settings import database_url


async def test_accounts_made_on_either_node_verify_through_the_other(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    db = database_url(str(tmp_path / "shared.db"))
    node_a = ServerProcess(tmp_path / "a", db_url=db)
    node_b = ServerProcess(tmp_path / "b", db_url=db)
    node_a.start()
    node_b.start()
    clients: list[Client] = []
    try:
        # Registrations race for the log's next index on both nodes at once.
        clients = list(
            await asyncio.gather(
                *(
                    Client.create_account(
                        tmp_path / f"p{i}", (node_a if i % 2 else node_b).url, "chat", f"n{i}"
                    )
                    for i in range(8)
                )
            )
        )
        for sender, recipient in zip(clients, clients[1:] + clients[:1], strict=True):
            await sender.send(recipient.address, f"from {sender.address}")
        for client in clients:
            assert [m.sender for m in await client.fetch()] != []
            assert client.security_alerts() == []
        # Both nodes serve heads of one log: each consistent with the other's.
        auditor = LogAuditor(node_a.url)
        other = LogAuditor(node_b.url)
        try:
            first = await auditor.check()
            second = await other.check()
            assert other.log_key == auditor.log_key
            assert first.head.tree_size >= 16 and second.head.tree_size >= 16
        finally:
            await auditor.close()
            await other.close()
    finally:
        for client in clients:
            await client.close()
        node_a.stop()
        node_b.stop()
