"""Forwarding: how often a text was passed on, and the brake on viral chains.

The count travels inside the encryption (``content``), so only the people in the
chain see it; the server cannot tell a forward from any other message. As in
WhatsApp, a message forwarded at least ``HIGHLY_FORWARDED`` times is labelled
"forwarded many times", and such a message can be forwarded to at most
``MAX_TARGETS_HIGHLY_FORWARDED`` chats at once: enough to share with the people
who need it, slow enough to blunt a rumour's spread. Every honest client applies
the rule; a modified client can skip it, which is why it is a brake, not a wall.
"""

from __future__ import annotations

from sottovoce.client.address import Address
from sottovoce.client.errors import ClientError

# WhatsApp's threshold for "forwarded many times" (a chain of five or more hops).
HIGHLY_FORWARDED = 5
# WhatsApp's limit on chats a highly forwarded message goes to in one action.
MAX_TARGETS_HIGHLY_FORWARDED = 5


class ForwardLimit(ClientError):
    """A highly forwarded message was to go to more chats at once than allowed."""


def label(forwarded: int) -> str | None:
    """What a client shows beside a message: None, "forwarded" or "forwarded many times"."""
    if forwarded >= HIGHLY_FORWARDED:
        return "forwarded many times"
    if forwarded >= 1:
        return "forwarded"
    return None


def forward_targets(forwarded: int, targets: list[str], own_address: str) -> list[str]:
    """The normalised, checked targets of forwarding a message already forwarded
    ``forwarded`` times."""
    if not targets:
        raise ClientError("forward to at least one chat")
    normalised = [str(Address.parse(t)) for t in targets]
    if len(set(normalised)) != len(normalised):
        raise ClientError("a chat is named twice")
    if own_address in normalised:
        raise ClientError("forwarding to yourself is not supported")
    if forwarded >= HIGHLY_FORWARDED and len(normalised) > MAX_TARGETS_HIGHLY_FORWARDED:
        raise ForwardLimit(
            f"this message was forwarded many times; forward it to at most "
            f"{MAX_TARGETS_HIGHLY_FORWARDED} chats at once"
        )
    return normalised
