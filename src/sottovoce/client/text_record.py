"""A one-to-one text message into history, with the disappearing timer it carries.

Sent, received and synced from another device of this account alike: the
message's timer becomes the conversation's (``client.disappearing``) and the
message's expiry is scheduled from ``timer_start_ms``.
"""

from __future__ import annotations

from sottovoce.client.content import TextContent
from sottovoce.client.disappearing import Disappearing
from sottovoce.client.history import History
from sottovoce.client.messages import Direction


def record_text(
    history: History,
    disappearing: Disappearing,
    peer: str,
    content: TextContent,
    direction: Direction,
    timer_start_ms: int,
    server_ts_ms: int | None = None,
) -> None:
    """Into history, inside the caller's transaction; ``server_ts_ms`` is when the
    server stored a received one (``client.deletion``)."""
    if content.timer_s != disappearing.timer(peer):
        disappearing.set_timer(peer, content.timer_s)
    expires = timer_start_ms + content.timer_s * 1000 if content.timer_s else None
    if expires is not None:
        disappearing.due_at(peer, expires)
    history.record(
        peer,
        content.message_id,
        direction,
        content.text,
        content.sent_at_ms,
        content.forwarded,
        content.attachment,
        expires,
        content.quote,
        server_ts_ms,
    )
