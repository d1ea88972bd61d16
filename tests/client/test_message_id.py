"""Message ids are unique, fixed-length and never read as a command-line option."""

from __future__ import annotations

import re

from sottovoce.client.message_id import new_message_id


def test_ids_are_distinct_urlsafe_and_never_start_with_a_dash() -> None:
    ids = [new_message_id() for _ in range(5_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) for i in ids)
    # One plain draw in 64 begins with "-": 5,000 draws without one means the rule holds.
    assert not any(i.startswith("-") for i in ids)
