"""The server's keys for sealed sender and franking, loaded once per process.

- the sender-certificate key (Ed25519): signs the short-lived certificates a
  sealed sender carries inside its envelope (``protocol.public.sender_certificate``);
- the franking key (HMAC-SHA256, 32 bytes): tags each delivered commitment
  (``protocol.public.franking``), so that a report can prove delivery.

Neither opens anything: holding both, with the whole database, reveals no
message content and no sealed sender. They live in the database
(``storage.delivery_keys``) so that every node of a deployment shares them.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field

from fastapi import Depends

from sottovoce.crypto.random import random_bytes
from sottovoce.crypto.signing import SigningKey
from sottovoce.server.state import ServerState, server_state
from sottovoce.storage import delivery_keys as stored_keys
from sottovoce.storage.repository import Repository

CERTIFICATE_PURPOSE = "sender-certificate"
FRANKING_PURPOSE = "franking"
FRANKING_KEY_LEN = 32


@dataclass(frozen=True, slots=True)
class DeliveryKeys:
    certificate_key: SigningKey
    certificate_key_id: int
    franking_key: bytes = field(repr=False)


_loaded: weakref.WeakKeyDictionary[Repository, DeliveryKeys] = weakref.WeakKeyDictionary()
_lock = asyncio.Lock()


async def load(repo: Repository) -> DeliveryKeys:
    cached = _loaded.get(repo)
    if cached is not None:
        return cached
    async with _lock:
        cached = _loaded.get(repo)
        if cached is not None:
            return cached
        certificate = await stored_keys.load_or_create(
            repo.engine, CERTIFICATE_PURPOSE, lambda: SigningKey.generate().private_bytes()
        )
        franking = await stored_keys.load_or_create(
            repo.engine, FRANKING_PURPOSE, lambda: random_bytes(FRANKING_KEY_LEN)
        )
        keys = DeliveryKeys(
            SigningKey.from_bytes(certificate.secret), certificate.key_id, franking.secret
        )
        _loaded[repo] = keys
        return keys


async def delivery_keys(state: ServerState = Depends(server_state)) -> DeliveryKeys:
    """FastAPI dependency: the keys of the server's database."""
    return await load(state.repo)
