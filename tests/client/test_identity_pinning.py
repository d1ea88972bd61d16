"""Trust on first use: a contact's account key is pinned, and no change is silently taken.

The relay here is played by editing the live server's database, as an operator
(or someone holding the operator's database) could: adding devices, swapping
account keys, replaying old device lists, serving foreign identity keys.
"""

from __future__ import annotations

import base64

import pytest

from sottovoce.client import Client
from sottovoce.client.content import TextContent
from sottovoce.client.errors import ClientError, IdentityChanged, SecurityError, ServerError
from sottovoce.client.prekey_supply import PreKeySupply
from sottovoce.client.store import Store
from sottovoce.client.transport import Transport
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.bundle import PreKeyBundle
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList
from sottovoce.protocol.session import Session
from tests.client.conftest import MakeClient
from tests.client.relay_db import (
    add_device,
    inject_envelope,
    queued_bodies,
    queued_for_device,
    remove_device,
    replace_account_keys,
    replace_device_identity,
)
from tests.support.live_server import LiveServer
from tmp_path_helpers import no_op  # noqa: F401
