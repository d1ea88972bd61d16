"""The whitelist: every field a disclosure package may ever contain, by category.

It is DESIGN.md's list of what the server may know, spelled out field by field
(docs/legal.md has the table). The package builder passes every record through
:func:`checked`, so a field that is not named here cannot reach a package even
if a query returned it; tests check every package against :data:`ALLOWED_PATHS`.
There is deliberately no field for a ciphertext body, a private key or any
content: the operator holds none that it could read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.server.legal.compellability import Category

ALLOWED_FIELDS: dict[Category, frozenset[str]] = {
    Category.SUBSCRIBER: frozenset({"app", "handle", "created_day", "is_minor"}),
    Category.CONNECTION: frozenset({"last_connection_day"}),
    Category.DEVICES: frozenset(
        {"devices[].device_id", "devices[].identity_key", "devices[].created_day"}
    ),
    Category.QUEUED_COUNTS: frozenset({"devices[].device_id", "devices[].queued_ciphertexts"}),
    Category.GROUP_MEMBERSHIP: frozenset(
        {
            "groups[].group_id",
            "groups[].epoch",
            "groups[].member_devices",
            "groups[].account_devices[]",
        }
    ),
    Category.TRANSPARENCY_LOG: frozenset(
        {"entries[].leaf_index", "entries[].kind", "entries[].device_list_version"}
    ),
    Category.ABUSE_REPORTS: frozenset(
        {
            "reported_blocks[].day",
            "moderation_actions[].action",
            "moderation_actions[].day",
        }
    ),
}

ALLOWED_PATHS = frozenset(
    f"{category.value}.{name}" for category, names in ALLOWED_FIELDS.items() for name in names
)


class FieldNotAllowed(Exception):
    """A record carried a field the whitelist does not name; nothing was disclosed."""


def field_paths(value: Any, prefix: str = "") -> set[str]:
    """The leaf paths of a JSON value: ``a.b`` for object members, ``a[]`` for list
    items, so ``{"devices": [{"device_id": 1}]}`` has the path ``devices[].device_id``."""
    if isinstance(value, Mapping):
        paths: set[str] = set()
        for key, item in value.items():
            paths |= field_paths(item, f"{prefix}.{key}" if prefix else str(key))
        return paths
    if isinstance(value, list):
        paths = set()
        for item in value:
            paths |= field_paths(item, f"{prefix}[]")
        return paths  # an empty list carries no field
    return {prefix}


def checked(category: Category, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` if each of its fields is whitelisted for ``category``."""
    allowed = ALLOWED_FIELDS.get(category, frozenset())
    extra = sorted(p for p in field_paths(record) if p not in allowed)
    if extra:
        raise FieldNotAllowed(f"{category.value} may not carry {', '.join(extra)}")
    return record
