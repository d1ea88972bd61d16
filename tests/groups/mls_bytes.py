"""Hand-built MLS messages for Delivery Service tests: the clear header the server
reads (RFC 9420 §6), followed by bytes it must not care about."""

from __future__ import annotations

import secrets

from sottovoce.mls.codec import Writer

PUBLIC, PRIVATE, WELCOME, KEY_PACKAGE = 1, 2, 3, 5
APPLICATION, PROPOSAL, COMMIT = 1, 2, 3


def private_message(group_id: bytes, epoch: int, content_type: int) -> bytes:
    """MLSMessage(PrivateMessage): group_id, epoch, content_type, then ciphertext."""
    w = Writer().uint16(1).uint16(PRIVATE).vector(group_id).uint64(epoch).uint8(content_type)
    return bytes(w.vector(b"").vector(secrets.token_bytes(16)).vector(secrets.token_bytes(48)))


def public_message(group_id: bytes, epoch: int, content_type: int, leaf: int = 0) -> bytes:
    """MLSMessage(PublicMessage): FramedContent's header with a member sender."""
    w = Writer().uint16(1).uint16(PUBLIC).vector(group_id).uint64(epoch)
    w.uint8(1).uint32(leaf).vector(b"").uint8(content_type)
    return bytes(w.raw(secrets.token_bytes(64)))


def commit(group_id: bytes, epoch: int) -> bytes:
    return public_message(group_id, epoch, COMMIT)


def welcome() -> bytes:
    return bytes(Writer().uint16(1).uint16(WELCOME).raw(secrets.token_bytes(80)))


def key_package(suite: int = 1) -> bytes:
    w = Writer().uint16(1).uint16(KEY_PACKAGE).uint16(1).uint16(suite)
    return bytes(w.raw(secrets.token_bytes(120)))
