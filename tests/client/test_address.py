"""Addresses: handle@app, as docs/api.md names them."""

from __future__ import annotations

import pytest

from sottovoce.client.address import Address
from sottovoce.client.errors import InvalidAddress


@pytest.mark.parametrize("text", ["alice@chat", "a.b_c-9@photos-2", "0@a", " bob@chat "])
def test_valid_addresses_parse(text: str) -> None:
    address = Address.parse(text)
    assert str(address) == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alice",
        "@chat",
        "alice@",
        "Alice@chat",
        "alice@Chat",
        "alice@9chat",
        "a@b@chat",
        ".alice@chat",
        "x" * 33 + "@chat",
    ],
)
def test_invalid_addresses_are_refused(text: str) -> None:
    with pytest.raises(InvalidAddress, match="not an address of the form handle@app"):
        Address.parse(text)


def test_a_huge_input_is_quoted_only_in_part() -> None:
    with pytest.raises(InvalidAddress) as caught:
        Address.parse("x" * 10_000)
    assert len(str(caught.value)) < 200
