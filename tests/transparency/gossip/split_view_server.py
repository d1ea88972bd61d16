"""A server that shows one person a split view: a second log under the real log key.

``python -m tests.transparency.gossip.split_view_server`` runs the real application
behind an ASGI wrapper that holds the operator's log signing key. Armed with
``POST /split-view/arm`` (``{"victim", "target"}``), it answers every request
signed by ``victim`` from a log of its own: the real entries, except that
``target``'s account-key entry names a key the server made. Each real head
(epoch, time, size) gets a twin signed over the forked root, and the victim's
entries, consistency proofs and the proofs in every account lookup come from the
forked tree. So the victim's view is consistent in itself, from its first sync
on, and only comparing heads with someone else (gossip) can expose it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from sottovoce.crypto import signing
from sottovoce.protocol.public.merkle import InclusionProof
from sottovoce.protocol.public.transparency_entry import AccountKeyEntry, parse_entry
from sottovoce.protocol.public.tree_head import TreeHead, parse_signed_tree_head
from sottovoce.server.encoding import b64decode, b64encode
from sottovoce.server.state import ServerState
from sottovoce.server.transparency.inmem import InMemoryLeafStore, InMemoryNodeStore
from sottovoce.server.transparency.tree import MerkleTree
from tests.support.asgi_double import call_real, requester, serve_double


async def _body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def _query(scope: Scope) -> dict[str, str]:
    text = scope["query_string"].decode()
    return dict(p.split("=", 1) for p in text.split("&") if "=" in p)


class SplitViewServer:
    """ASGI wrapper around the real app; see the module docstring."""

    def __init__(self, app: ASGIApp, log_key: signing.SigningKey) -> None:
        self._app = app
        self._log_key = log_key
        self._fake_key = signing.SigningKey.generate()
        self.victim = ""
        self.target = ""

    @property
    def state(self) -> ServerState:
        state: ServerState = self._app.state.sottovoce  # type: ignore[attr-defined]
        return state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/split-view/arm":
            request = json.loads(await _body(receive))
            self.victim, self.target = request["victim"], request["target"]
            await self._send(send, 200, [], b'{"armed": true}')
            return
        forked = self.victim and requester(scope) == self.victim
        parts = path.split("/")
        looked_up = len(parts) == 5 and parts[:3] == ["", "v1", "accounts"] and parts[3] != "self"
        if not forked or not (path.startswith("/v1/transparency/") or looked_up):
            await self._app(scope, receive, send)
            return
        status, headers, body = await call_real(self._app, scope, receive)
        if status == 200:
            body = json.dumps(await self._fork_answer(path, scope, json.loads(body))).encode()
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        await self._send(send, status, headers, body)

    async def _send(self, send: Send, status: int, headers: list[Any], body: bytes) -> None:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        if not any(k == b"content-type" for k, _ in headers):
            headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _forked_tree(self) -> MerkleTree:
        """The real leaves with ``target``'s account key replaced by the server's."""
        directory = self.state.directory
        assert directory is not None
        account = await self.state.repo.account(*reversed(self.target.split("@")))
        assert account is not None
        logged = await directory.logged(account.id)
        assert logged is not None
        leaves = directory.leaves(0, directory.size)
        real = parse_entry(leaves[logged.key_leaf])
        assert isinstance(real, AccountKeyEntry)
        leaves[logged.key_leaf] = AccountKeyEntry(
            real.account, real.day, self._fake_key.public
        ).to_bytes()
        store = InMemoryLeafStore()
        store.extend(leaves)
        return MerkleTree(store, InMemoryNodeStore())

    def _twin(self, tree: MerkleTree, encoded: str) -> str:
        """The forked log's head for the real head ``encoded``: same epoch, time, size."""
        directory = self.state.directory
        assert directory is not None
        real = parse_signed_tree_head(b64decode(encoded, "head"), directory.public_key)
        twin = TreeHead(real.epoch, real.timestamp_ms, real.tree_size, tree.root(real.tree_size))
        return b64encode(twin.sign(self._log_key).to_bytes())

    async def _fork_answer(self, path: str, scope: Scope, answer: dict[str, Any]) -> Any:
        tree = await self._forked_tree()
        if path == "/v1/transparency/head":
            answer["head"] = self._twin(tree, answer["head"])
        elif path == "/v1/transparency/entries":
            start = int(answer["start"])
            answer["entries"] = [
                b64encode(tree.leaf(start + i)) for i in range(len(answer["entries"]))
            ]
        elif path == "/v1/transparency/consistency":
            query = _query(scope)
            proof = tree.consistency_proof(int(query["first"]), int(query["second"]))
            answer["proof"] = b64encode(proof.to_bytes())
        elif "transparency" in answer:
            view = answer["transparency"]
            for name in ("account_key", "device_list"):
                real = InclusionProof.from_bytes(b64decode(view[name]["proof"], "proof"))
                view[name] = {
                    "entry": b64encode(tree.leaf(real.leaf_index)),
                    "proof": b64encode(
                        tree.inclusion_proof(real.leaf_index, real.tree_size).to_bytes()
                    ),
                }
            view["head"] = self._twin(tree, view["head"])
        return answer


def main() -> None:
    serve_double("tests.transparency.gossip.split_view_server", SplitViewServer)


if __name__ == "__main__":
    main()
