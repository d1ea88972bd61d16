"""Message ids: the idempotency key of one message from one device.

128 random bits, so no two messages from one device ever share an id, written
as unpadded URL-safe base64 (22 characters). People copy ids from
``history --ids`` onto the command line, where an argument that begins with
``-`` reads as an option; an id is therefore drawn again until it does not
(rejecting one value in 64 leaves well over 127 bits).
"""

from __future__ import annotations

import base64

from sottovoce.crypto.random import random_bytes

MESSAGE_ID_BYTES = 16


def new_message_id() -> str:
    """A fresh message id that never begins with ``-``."""
    while True:
        encoded = base64.urlsafe_b64encode(random_bytes(MESSAGE_ID_BYTES)).decode().rstrip("=")
        if not encoded.startswith("-"):
            return encoded
