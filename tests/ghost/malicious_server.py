"""A deliberately malicious Sottovoce server: the real one, wrapped to lie.

``python -m tests.ghost.malicious_server`` runs the real application
(``sottovoce.server.app.create_app``) behind an ASGI wrapper holding the
operator's log signing key, as a compromised or coerced operator would. A test
arms one attack at a time with ``POST /ghost/attack`` (``{"attack", "victim",
"target"}``): from then on requests signed by ``victim`` get answers that lie
about ``target``; everyone else sees the honest server.

Attacks (the "ghost" proposal, and the ways a server could try to hide it):

- ``unsigned-device``: ``target``'s device list gains a device, signature unchanged;
- ``forged-signature``: the same list re-signed by a key that is not the account's;
- ``swapped-key``: a different account key and device list for ``target`` than the
  log holds, with the log's real proofs;
- ``forked-log``: a log of its own, signed with the real log key, in which
  ``target``'s key and device list are the server's: a head that forks from the
  one everyone else (``target`` included) sees;
- ``replayed-list``: ``target``'s previous device list, with its real log proof;
- ``readd-device`` (an action, not a filter): puts a removed device back into
  ``target``'s list and logs it, without the account's signature.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select
from starlette.types import ASGIApp, Receive, Scope, Send

from sottovoce.crypto import signing
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList, parse_device_list
from sottovoce.protocol.public.transparency_entry import (
    AccountKeyEntry,
    DeviceListEntry,
    device_list_digest,
    parse_entry,
)
from sottovoce.protocol.public.tree_head import TreeHead
from sottovoce.server.encoding import b64decode, b64encode
from sottovoce.server.state import ServerState
from sottovoce.server.transparency.inmem import InMemoryLeafStore, InMemoryNodeStore
from sottovoce.server.transparency.tree import MerkleTree
from sottovoce.storage.schema import device_list_history
from sottovoce.storage.transparency import NewDevice
from tests.support.asgi_double import call_real, requester, serve_double

GHOST_DEVICE_ID = 9


def _json(body: bytes) -> dict[str, Any]:
    value = json.loads(body)
    assert isinstance(value, dict)
    return value


async def _body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _answer(send: Send, status: int, document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Attack:
    name: str = ""
    victim: str = ""
    target: str = ""
    # The fake keys an attack serves, made once so every answer tells the same lie.
    relay_key: signing.SigningKey = field(default_factory=signing.SigningKey.generate)
    ghost: IdentityKeyPair = field(default_factory=IdentityKeyPair.generate)


class GhostServer:
    """ASGI wrapper around the real app; see the module docstring."""

    def __init__(self, app: ASGIApp, real: Any, log_key: signing.SigningKey) -> None:
        self._app = app
        self._real = real
        self._log_key = log_key
        self.attack = Attack()

    @property
    def state(self) -> ServerState:
        state: ServerState = self._real.state.sottovoce
        return state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/ghost/attack":
            await self._arm(receive, send)
            return
        asking = requester(scope)
        attack = self.attack
        if not attack.name or asking != attack.victim:
            await self._app(scope, receive, send)
            return
        target_app_handle = "/".join(reversed(attack.target.split("@")))
        if path == "/v1/messages" and attack.name in ("unsigned-device", "forged-signature"):
            await self._insist_on_the_ghost(receive, send)
            return
        lying = path == f"/v1/accounts/{target_app_handle}" or (
            attack.name == "forked-log" and path.startswith("/v1/transparency/")
        )
        if not lying:
            await self._app(scope, receive, send)
            return
        status, headers, body = await call_real(self._app, scope, receive)
        status, body = await self._lie(path, scope, status, body)
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _insist_on_the_ghost(self, receive: Receive, send: Send) -> None:
        """Refuse every send (409) until it includes a copy for the ghost device."""
        await _body(receive)
        problem = {
            "type": "stale-devices",
            "title": "stale devices",
            "status": 409,
            "detail": "the recipient has another device",
            "missing": [GHOST_DEVICE_ID],
            "extra": [],
            "own_missing": [],
            "own_extra": [],
        }
        await _answer(send, 409, problem)

    async def _arm(self, receive: Receive, send: Send) -> None:
        request = _json(await _body(receive))
        self.attack = Attack(request["attack"], request.get("victim", ""), request["target"])
        if self.attack.name == "readd-device":
            await self._readd_device(request["target"], int(request["device_id"]))
            self.attack = Attack()
        await _answer(send, 200, {"armed": True})

    # -- the lies ----------------------------------------------------------------------

    async def _lie(self, path: str, scope: Scope, status: int, body: bytes) -> tuple[int, bytes]:
        attack = self.attack
        if path.startswith("/v1/transparency/"):
            return await self._forked_transparency(path, scope, status, body)
        if status != 200:
            return status, body
        view = _json(body)
        account = await self.state.repo.account(*reversed(attack.target.split("@")))
        assert account is not None
        signed = b64decode(view["device_list"], "device_list")
        real_signature = signed[-64:]
        if attack.name in ("unsigned-device", "forged-signature"):
            devices = parse_device_list(signed, account.account_key)
            ghostly = DeviceList(
                devices.address,
                devices.version + 1,
                (*devices.devices, DeviceEntry(GHOST_DEVICE_ID, attack.ghost.public, 0)),
            )
            if attack.name == "unsigned-device":
                view["device_list"] = b64encode(ghostly.signed_body() + real_signature)
            else:
                view["device_list"] = b64encode(ghostly.sign(attack.relay_key))
        elif attack.name == "swapped-key":
            view["account_key"] = b64encode(attack.relay_key.public)
            view["device_list"] = b64encode(
                self._relay_list(account.address).sign(attack.relay_key)
            )
        elif attack.name == "replayed-list":
            directory = self.state.directory
            assert directory is not None
            logged = await directory.logged(account.id)
            assert logged is not None
            old = await directory.device_list_at(account.id, logged.list_version - 1)
            assert old is not None
            leaf = await self._leaf_of(account.id, logged.list_version - 1)
            head = await directory.latest_head()
            proven = directory._proven(leaf, head)
            view["device_list"] = b64encode(old)
            view["transparency"]["device_list"] = {
                "entry": b64encode(proven.leaf),
                "proof": b64encode(proven.proof.to_bytes()),
            }
            view["transparency"]["head"] = b64encode(head.to_bytes())
        elif attack.name == "forked-log":
            fork = await self._fork(account.id)
            view["account_key"] = b64encode(attack.relay_key.public)
            view["device_list"] = b64encode(fork.signed_list)
            view["transparency"] = {
                "salt": view["transparency"]["salt"],
                "head": b64encode(fork.head),
                "account_key": fork.proven(fork.key_leaf),
                "device_list": fork.proven(fork.list_leaf),
            }
        return status, json.dumps(view).encode()

    def _relay_list(self, address: str) -> DeviceList:
        return DeviceList(address, 1, (DeviceEntry(1, self.attack.ghost.public, 0),))

    async def _leaf_of(self, account_id: int, version: int) -> int:
        async with self.state.repo.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(device_list_history.c.leaf).where(
                        and_(
                            device_list_history.c.account_id == account_id,
                            device_list_history.c.version == version,
                        )
                    )
                )
            ).first()
        assert row is not None
        return int(row.leaf)

    async def _fork(self, account_id: int) -> Fork:
        directory = self.state.directory
        assert directory is not None
        logged = await directory.logged(account_id)
        assert logged is not None
        leaves = directory.leaves(0, directory.size)
        key_entry = parse_entry(leaves[logged.key_leaf])
        list_entry = parse_entry(leaves[logged.list_leaf])
        assert isinstance(key_entry, AccountKeyEntry) and isinstance(list_entry, DeviceListEntry)
        relay_list = self._relay_list(self.attack.target).sign(self.attack.relay_key)
        leaves[logged.key_leaf] = AccountKeyEntry(
            key_entry.account, key_entry.day, self.attack.relay_key.public
        ).to_bytes()
        leaves[logged.list_leaf] = DeviceListEntry(
            list_entry.account, list_entry.day, 1, device_list_digest(relay_list)
        ).to_bytes()
        store = InMemoryLeafStore()
        store.extend(leaves)
        tree = MerkleTree(store, InMemoryNodeStore())
        real = await directory.latest_head()
        head = TreeHead(
            real.epoch + 1, max(real.timestamp_ms, int(time.time() * 1000)), tree.size, tree.root()
        ).sign(self._log_key)
        return Fork(tree, head.to_bytes(), relay_list, logged.key_leaf, logged.list_leaf)

    async def _forked_transparency(
        self, path: str, scope: Scope, status: int, body: bytes
    ) -> tuple[int, bytes]:
        account = await self.state.repo.account(*reversed(self.attack.target.split("@")))
        assert account is not None
        fork = await self._fork(account.id)
        if path == "/v1/transparency/head":
            answer = _json(body)
            answer["head"] = b64encode(fork.head)
            return 200, json.dumps(answer).encode()
        if path == "/v1/transparency/entries":
            query = dict(p.split("=") for p in scope["query_string"].decode().split("&"))
            start, end = int(query["start"]), int(query["end"])
            leaves = [b64encode(fork.tree.leaf(i)) for i in range(start, min(end, fork.tree.size))]
            return 200, json.dumps({"start": start, "entries": leaves}).encode()
        return status, body  # consistency: the real proof, which cannot prove the fork

    async def _readd_device(self, target: str, device_id: int) -> None:
        """Put ``device_id`` back into ``target``'s list from its last listing, and log it,
        without the account key: what a server must do to add a device everyone uses."""
        state = self.state
        directory = state.directory
        assert directory is not None
        account = await state.repo.account(*reversed(target.split("@")))
        assert account is not None
        logged = await directory.logged(account.id)
        assert logged is not None
        entry = None
        for version in range(logged.list_version - 1, 0, -1):
            old = await directory.device_list_at(account.id, version)
            assert old is not None
            entry = parse_device_list(old, account.account_key).device(device_id)
            if entry is not None:
                break
        assert entry is not None, f"{target} never had device {device_id}"
        current = parse_device_list(account.device_list, account.account_key)
        forged = DeviceList(current.address, current.version + 1, (*current.devices, entry))
        signed = forged.signed_body() + account.device_list[-64:]
        await directory.replace_device_list(
            account.id,
            account.address,
            expected_version=account.device_list_version,
            device_list=signed,
            version=forged.version,
            added=[NewDevice(device_id, entry.identity.to_bytes())],
            removed=[],
            day=entry.added_day,
        )


@dataclass
class Fork:
    tree: MerkleTree
    head: bytes
    signed_list: bytes
    key_leaf: int
    list_leaf: int

    def proven(self, index: int) -> dict[str, str]:
        return {
            "entry": b64encode(self.tree.leaf(index)),
            "proof": b64encode(self.tree.inclusion_proof(index).to_bytes()),
        }


def main() -> None:
    serve_double(
        "tests.ghost.malicious_server", lambda real, log_key: GhostServer(real, real, log_key)
    )


if __name__ == "__main__":
    main()
