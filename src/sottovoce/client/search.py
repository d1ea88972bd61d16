"""Search over this device's own history: local only, never a server query.

History values are sealed in the local store, so there is no index to ask: the
search opens each conversation's recent messages and matches case-insensitively,
as Signal Desktop does over its local database. Reading never marks anything read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sottovoce.client.errors import ClientError
from sottovoce.client.groups import Groups
from sottovoce.client.history import History

# How far back each conversation is searched: as far as find_message looks.
SEARCH_DEPTH = 1_000
# A query longer than a message could be matches nothing; refuse it plainly.
MAX_QUERY_CHARS = 256


@dataclass(frozen=True, slots=True)
class SearchHit:
    conversation: str
    """The peer's address, or ``#name`` for a group."""
    message_id: str
    sender: str
    text: str = field(repr=False)
    timestamp: datetime


def search(
    history: History, groups: Groups, own_address: str, query: str, limit: int
) -> list[SearchHit]:
    """The most recent ``limit`` messages whose text contains ``query``."""
    needle = query.strip().casefold()
    if not needle:
        raise ClientError("a search needs some text")
    if len(needle) > MAX_QUERY_CHARS:
        raise ClientError(f"a search is at most {MAX_QUERY_CHARS} characters")
    hits: list[SearchHit] = []
    for conversation in history.conversations():
        for e in history.entries(conversation.peer, SEARCH_DEPTH):
            if needle in e.text.casefold():
                sender = own_address if e.direction == "out" else e.peer
                hits.append(SearchHit(e.peer, e.message_id, sender, e.text, e.timestamp))
    for group in groups.all():
        for m in groups.history(group.name, SEARCH_DEPTH):
            if needle in m.text.casefold():
                hits.append(SearchHit(f"#{group.name}", m.message_id, m.sender, m.text, m.sent_at))
    hits.sort(key=lambda h: h.timestamp, reverse=True)
    return hits[:limit]
