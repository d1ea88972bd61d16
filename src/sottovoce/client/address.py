"""Addresses: ``handle@app``, unique across every app on the network (docs/api.md, Names)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sottovoce.client.errors import InvalidAddress

HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
APP = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
# Longest valid address (32 + 1 + 32); anything longer is quoted only in part.
MAX_ADDRESS_LEN = 65


@dataclass(frozen=True, slots=True)
class Address:
    handle: str
    app: str

    def __str__(self) -> str:
        return f"{self.handle}@{self.app}"

    @classmethod
    def parse(cls, text: str) -> Address:
        handle, sep, app = text.strip().partition("@")
        if not sep or not HANDLE.match(handle) or not APP.match(app):
            shown = text if len(text) <= MAX_ADDRESS_LEN else text[:MAX_ADDRESS_LEN] + "…"
            raise InvalidAddress(f"{shown!r} is not an address of the form handle@app")
        return cls(handle, app)
