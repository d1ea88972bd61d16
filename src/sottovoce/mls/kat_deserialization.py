"""Known answers for variable-length vector headers: deserialization.json (§2.1.2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls.codec import Reader, encode_varint
from sottovoce.mls.errors import KatMismatch

FILE = "deserialization.json"


def check(case: Mapping[str, Any]) -> None:
    header = bytes.fromhex(case["vlbytes_header"])
    length = int(case["length"])
    reader = Reader(header)
    if reader.varint() != length:
        raise KatMismatch(f"decoding header {case['vlbytes_header']}")
    reader.finish("vector header")
    if encode_varint(length) != header:
        raise KatMismatch(f"encoding length {length}")
