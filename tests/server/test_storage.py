"""The storage layer on its own: migrations, what the tables may hold, retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, text
from sqlalchemy.exc import IntegrityError

from sottovoce.server.retention import MS_PER_DAY, sweep_once
from sottovoce.server.settings import Retention, database_url
from sottovoce.storage.migrate import MIGRATIONS
from sottovoce.storage.repository import Envelope, Repository
from sottovoce.storage.schema import metadata, queued_messages
from tests.support.repository import new_device

# DESIGN.md's list of what the server may know, as columns (docs/server.md explains
# each). A new column must be argued for there before it is added here.
ALLOWED_COLUMNS = {
    "accounts": {
        "id",
        "app",
        "handle",
        "account_key",
        "device_list",
        "device_list_version",
        "created_day",
        "is_minor",
    },
    "devices": {"id", "account_id", "device_id", "identity", "created_day", "last_seen_day"},
    "signed_prekeys": {"device_pk", "kind", "key_id", "public", "signature"},
    "one_time_prekeys": {"id", "device_pk", "kind", "key_id", "public", "signature"},
    "queued_messages": {
        "id",
        "recipient_device_pk",
        "sender_device_pk",
        "sender",
        "sender_device",
        "message_id",
        "type",
        "body",
        "server_ts",
        # Franking (docs/safety.md): the sender's commitment, the server's tag over it.
        "commitment",
        "franking_tag",
    },
    # Sealed sender and franking (docs/server.md, docs/safety.md, migration 0004): the
    # server's own keys, each account's access-key digest, and verified abuse reports.
    "delivery_keys": {"purpose", "key_id", "secret"},
    "unidentified_access": {"account_id", "key_digest"},
    "abuse_reports": {
        "id",
        "reporter_account_id",
        "reporter",
        "reported_account_id",
        "reported",
        "reason",
        "verification",
        "day",
        "created_ms",
    },
    "abuse_report_messages": {
        "id",
        "report_id",
        "position",
        "reporter_account_id",
        "message_id",
        "sender",
        "sender_device",
        "recipient_device",
        "server_ts",
        "content",
        "sender_certificate",
        "commitment",
        # The group a reported group message was delivered in (docs/safety.md).
        "group_id",
    },
    # Groups (docs/server.md, docs/groups.md): KeyPackages are public keys, and a
    # group's id, epoch and member devices are its membership as MLS exposes it.
    "mls_key_packages": {"id", "device_pk", "cipher_suite", "last_resort", "key_package"},
    "mls_groups": {"id", "group_id", "epoch", "last_commit_device_pk", "last_commit_message_id"},
    "mls_group_members": {"group_pk", "device_pk"},
    # Idempotency after acknowledgement (docs/operations.md): an opaque digest of
    # (sender device, random message id) and the hour it expires.
    "send_receipts": {"digest", "expires_hour"},
    # Lawful requests (docs/legal.md): the operator's own records of legal process.
    "legal_authorities": {
        "id",
        "name",
        "country",
        "kind",
        "public_key",
        "agreements",
        "added_day",
        "revoked_day",
    },
    "legal_requests": {"request_id", "authority_id", "process_type", "received_ms"},
    "legal_preservations": {
        "id",
        "request_id",
        "app",
        "handle",
        "until_day",
        "taken_day",
        "snapshot",
    },
    "legal_notices": {"id", "request_id", "app", "handle", "due_day", "delivered_day"},
    "legal_audit": {"seq", "at_ms", "entry", "prev_hash", "hash"},
    # Safety controls (docs/safety.md, migration 0005).
    "reported_blocks": {"blocker_account_id", "blocked_account_id", "day"},
    "minor_connections": {"minor_account_id", "peer_account_id", "day"},
    "moderation_actions": {
        "id",
        "account_id",
        "action",
        "actor",
        "reason",
        "signals",
        "created_ms",
    },
    "account_standing": {"account_id", "standing", "action_id"},
    # Key transparency (docs/server.md, docs/transparency.md, migration 0003): the
    # public log, its signed heads and signing key, account salts, device-list history.
    "transparency_leaves": {"idx", "entry"},
    "transparency_heads": {"epoch", "head"},
    "transparency_signing_key": {"id", "private_key"},
    "transparency_accounts": {"account_id", "salt", "key_leaf"},
    "device_list_history": {"account_id", "version", "device_list", "leaf"},
    # Attachments (docs/app.md, migration 0008): ciphertext only, by random id.
    "blobs": {"id", "blob_id", "uploader_device_pk", "size", "received", "created_day"},
}


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    repository = Repository.connect(database_url(str(tmp_path / "store.db")))
    await repository.migrate()
    try:
        yield repository
    finally:
        await repository.close()


def newest_migration() -> str:
    """The one head of the migration chain (Alembic raises if the chain has forked)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


async def test_migrations_build_exactly_the_declared_schema(repo: Repository) -> None:
    async with repo.engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
        tables = await conn.run_sync(
            lambda sync: {
                name: {c["name"] for c in inspect(sync).get_columns(name)}
                for name in inspect(sync).get_table_names()
                if name != "alembic_version"
            }
        )
        journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
    assert version == newest_migration()
    assert diff == []
    assert tables == ALLOWED_COLUMNS
    assert journal == "wal"
    # Running them again (every server start does) changes nothing.
    await repo.migrate()


async def test_retention_drops_only_undelivered_messages_past_it(repo: Repository) -> None:
    alice = await new_device(repo, "alice")
    bob = await new_device(repo, "bob")
    now = 1_000 * MS_PER_DAY
    for message_id, age_ms in [("old", 30 * MS_PER_DAY + 1), ("edge", 30 * MS_PER_DAY), ("new", 0)]:
        stored = await repo.enqueue(
            sender=alice,
            message_id=message_id,
            envelopes=[Envelope(bob.pk, "message", b"c")],
            server_ts=now - age_ms,
            max_queue_depth=10,
        )
        assert stored is not None
    assert await sweep_once(repo, Retention(undelivered_days=30), now) == 1
    assert [m.message_id for m in await repo.fetch(bob.pk, 10)] == ["edge", "new"]
    assert await sweep_once(repo, Retention(undelivered_days=30), now) == 0


async def test_a_database_error_never_quotes_stored_values(repo: Repository) -> None:
    async with repo.engine.begin() as conn:
        with pytest.raises(IntegrityError) as failure:
            await conn.execute(
                insert(queued_messages).values(
                    recipient_device_pk=404,
                    sender_device_pk=1,
                    sender="secret-sender@chat",
                    sender_device=1,
                    message_id="m",
                    type="message",
                    body=b"SECRET-CIPHERTEXT",
                    server_ts=1,
                )
            )
    assert "FOREIGN KEY" in str(failure.value)
    assert "SECRET" not in str(failure.value) and "secret" not in str(failure.value)


async def test_queue_ids_are_never_reused(repo: Repository) -> None:
    """A WebSocket resumes "after id N": an acknowledged newest id must not come back."""
    alice = await new_device(repo, "alice")
    bob = await new_device(repo, "bob")

    async def send(message_id: str) -> int:
        stored = await repo.enqueue(
            sender=alice,
            message_id=message_id,
            envelopes=[Envelope(bob.pk, "message", b"c")],
            server_ts=1,
            max_queue_depth=10,
        )
        assert stored is not None
        return stored[0].id

    first = await send("one")
    assert await repo.ack(bob.pk, [first]) == 1
    assert await send("two") > first
