"""Tagging the franking commitment of a group (MLS) application message (docs/safety.md).

The sender posts one commitment beside the PrivateMessage; every member device gets
the same ciphertext and the same commitment, and its own tag: the server binds
``C`` to that device, the arrival time, the sending device (known: group sends are
signed requests), the message id and the group id (``protocol.public.franking``).
Storage calls the tagger per recipient inside its queueing transaction, so exactly
the devices the message is queued for are tagged.
"""

from __future__ import annotations

from collections.abc import Callable

from sottovoce.protocol.public.franking import Delivery, delivery_tag
from sottovoce.server.franking import decode_commitment
from sottovoce.storage.repository import DeviceRecord

# What storage calls per recipient device: the (commitment, tag) pair to queue with it.
GroupTagger = Callable[[DeviceRecord], tuple[bytes, bytes]]


def group_tagger(
    franking_key: bytes,
    commitment_b64: str,
    *,
    group_id: bytes,
    sender: DeviceRecord,
    message_id: str,
    server_ts: int,
) -> GroupTagger:
    """A tagger for one group message; the commitment is checked here (400 if bad)."""
    commitment = decode_commitment(commitment_b64)

    def tag(recipient: DeviceRecord) -> tuple[bytes, bytes]:
        delivery = Delivery(
            recipient=recipient.address,
            recipient_device=recipient.device_id,
            server_ts=server_ts,
            sender=sender.address,
            sender_device=sender.device_id,
            message_id=message_id,
            group_id=group_id,
        )
        return commitment, delivery_tag(franking_key, commitment, delivery)

    return tag
