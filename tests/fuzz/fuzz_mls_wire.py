"""Coverage-guided fuzzing of every MLS wire decoder with atheris (RFC 9420 structures).

The first input byte picks a decoder, the rest is its input. Each decoder must return
a value that re-encodes to exactly the input, or raise DecodeError; a ratchet tree may
also be refused with ValidationError when its shape is not a complete tree. Anything
else (another exception, a non-canonical round trip) is a crash atheris reports.

Run (``pip install -e '.[fuzz]'`` first)::

    .venv/bin/python tests/fuzz/fuzz_mls_wire.py -atheris_runs=200000
    .venv/bin/python tests/fuzz/fuzz_mls_wire.py -max_total_time=600 corpus/

``tests/fuzz/test_fuzz_targets.py`` runs :func:`one_input` on the official vectors
and random bytes in the ordinary test suite, so the target itself stays correct.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys

import sottovoce.mls.wire
from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.errors import DecodeError, ValidationError
from sottovoce.mls.ratchet_tree import RatchetTree
from sottovoce.mls.wire.base import SignedStruct, Struct
from sottovoce.mls.wire.framing import PrivateMessageContent
from sottovoce.mls.wire.registry import ContentType


def every_structure() -> list[type[Struct]]:
    """Every wire structure class, found by walking ``sottovoce.mls.wire``: a new
    structure is fuzzed (here and in tests/mls/test_wire_codec.py) without being
    listed anywhere."""
    found: set[type[Struct]] = set()
    for info in pkgutil.iter_modules(sottovoce.mls.wire.__path__):
        module = importlib.import_module(f"sottovoce.mls.wire.{info.name}")
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, Struct)
                and value not in (Struct, SignedStruct)
            ):
                found.add(value)
    return sorted(found, key=lambda kind: kind.__name__)


DECODERS = every_structure()
# Two more targets after the structures: PrivateMessageContent (which needs a content
# type, taken from the second byte) and a whole RatchetTree.
_TARGETS = len(DECODERS) + 2
_SUITE = cipher_suite(1)


def one_input(data: bytes) -> None:
    """One fuzzing iteration; raises only on a real bug."""
    if not data:
        return
    choice, body = data[0] % _TARGETS, data[1:]
    if choice < len(DECODERS):
        kind = DECODERS[choice]
        try:
            value = kind.from_bytes(body)
        except DecodeError:
            return
        if bytes(value) != body:
            raise AssertionError(f"{kind.__name__} decoded a non-canonical encoding")
    elif choice == len(DECODERS):
        if not body:
            return
        content_type = list(ContentType)[body[0] % len(ContentType)]
        try:
            content = PrivateMessageContent.from_bytes(body[1:], content_type)
        except DecodeError:
            return
        if bytes(content) != body[1:]:
            raise AssertionError("PrivateMessageContent decoded a non-canonical encoding")
    else:
        try:
            tree = RatchetTree.from_bytes(_SUITE, body)
        except (DecodeError, ValidationError):
            return
        if bytes(tree) != body:
            raise AssertionError("RatchetTree decoded a non-canonical encoding")
        tree.tree_hash()


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
