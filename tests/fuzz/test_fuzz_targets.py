"""The atheris targets, run on seeds and random bytes inside the ordinary test suite."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from .fuzz_mls_wire import DECODERS, one_input

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "mls-test-vectors"


def test_mls_wire_target_accepts_every_official_encoding() -> None:
    cases = json.loads((VECTORS / "messages.json").read_text())
    message = DECODERS.index(next(k for k in DECODERS if k.__name__ == "MLSMessage"))
    for case in cases[:20]:
        for field in ("mls_welcome", "mls_group_info", "mls_key_package", "private_message"):
            one_input(bytes([message]) + bytes.fromhex(case[field]))
        one_input(bytes([len(DECODERS) + 1]) + bytes.fromhex(case["ratchet_tree"]))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_mls_wire_target_never_crashes_on_random_bytes(data: bytes) -> None:
    one_input(data)
