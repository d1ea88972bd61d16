"""Valid requests are answered only with whitelisted fields, and say what is unavailable."""

from __future__ import annotations

import json

from sottovoce.protocol.public.legal import verify_package
from sottovoce.server.legal.compellability import HELD, NEVER_HELD, Category
from sottovoce.server.legal.fields import ALLOWED_PATHS, field_paths
from sottovoce.server.legal.package import E2EE_STATEMENT
from sottovoce.server.legal.rendering import embedded_document, render_package_html
from tests.legal.world import World, queue_for

EVERY_CATEGORY = [c.value for c in Category]


def record_paths(package: dict) -> set[str]:
    paths: set[str] = set()
    for account in package["accounts"]:
        preserved = [p["records"] for p in account.get("preserved_records", [])]
        for records in [account["records"], *preserved]:
            for category, record in records.items():
                paths |= {f"{category}.{p}" for p in field_paths(record)}
    return paths


async def test_warrant_for_every_category_yields_only_listed_fields(world: World) -> None:
    await queue_for(world, "chat", "alice", 3, int(world.now.timestamp() * 1000) - 60_000)
    request = world.request(categories=EVERY_CATEGORY)
    outcome = await world.submit(world.document(request, judicial="us-court"))
    assert outcome.accepted, outcome.detail
    package = verify_package(json.dumps(outcome.package).encode(), world.desk.operator_key.public)
    body = package.body
    assert body["kind"] == "disclosure"
    assert body["end_to_end_encrypted"] == E2EE_STATEMENT
    assert record_paths(body) <= ALLOWED_PATHS
    [alice] = body["accounts"]
    assert alice["found"] is True
    assert alice["records"]["subscriber"] == {
        "app": "chat",
        "handle": "alice",
        "created_day": "2026-11-21",
        "is_minor": False,
    }
    assert alice["records"]["queued_counts"]["devices"] == [
        {"device_id": 1, "queued_ciphertexts": 3}
    ]
    # Every never-held category is answered "not held", with its explanation.
    unavailable = {u["category"]: u["reason"] for u in alice["unavailable"]}
    for category in NEVER_HELD:
        assert unavailable[category.value] == "not-held"
    # Held categories are either produced or explained; nothing is silently dropped.
    for category in HELD:
        assert (category.value in alice["records"]) != (category.value in unavailable)
    # No ciphertext body, no private key, anywhere in the signed document.
    text = json.dumps(outcome.package)
    assert "body" not in text
    assert "private" not in text.replace("Private keys", "")


async def test_subpoena_gets_basic_subscriber_records_only(world: World) -> None:
    request = world.request(process_type="subpoena", categories=["subscriber", "connection"])
    outcome = await world.submit(world.document(request))
    assert outcome.accepted, outcome.detail
    records = outcome.package["package"]["accounts"][0]["records"]
    assert set(records) == {"subscriber", "connection"}
    assert records["connection"] == {"last_connection_day": "2026-11-21"}


async def test_connection_outside_the_date_range_is_not_retained(world: World) -> None:
    request = world.request(
        process_type="subpoena",
        categories=["connection"],
        date_range={"from": "2025-01-01", "to": "2025-12-31"},
    )
    outcome = await world.submit(world.document(request))
    [entry] = outcome.package["package"]["accounts"][0]["unavailable"]
    assert entry["category"] == "connection" and entry["reason"] == "not-retained"


async def test_unknown_account_is_answered_not_held(world: World) -> None:
    request = world.request(process_type="subpoena", accounts=[{"app": "chat", "handle": "nobody"}])
    outcome = await world.submit(world.document(request))
    [account] = outcome.package["package"]["accounts"]
    assert account["found"] is False and account["records"] == {}
    assert account["unavailable"][0]["reason"] == "not-held"


async def test_emergency_discloses_basic_records_and_refuses_the_rest(world: World) -> None:
    request = world.request(
        process_type="emergency",
        issuing_authority="us-ems",
        categories=["subscriber", "devices", "queued_counts", "message_content"],
        emergency_justification="A missing person has threatened self-harm tonight.",
    )
    outcome = await world.submit(world.document(request, issuer="us-ems"))
    assert outcome.accepted, outcome.detail
    package = outcome.package["package"]
    assert package["kind"] == "emergency-disclosure"
    account = package["accounts"][0]
    assert set(account["records"]) == {"subscriber", "devices"}
    reasons = {u["category"]: u["reason"] for u in account["unavailable"]}
    assert reasons == {"queued_counts": "not-compellable", "message_content": "not-held"}
    events = [e for e in await world.audit_events() if e["event"] == "request-verified"]
    assert events[-1]["emergency"] is True


async def test_html_rendering_embeds_the_signed_document(world: World) -> None:
    request = world.request(categories=EVERY_CATEGORY)
    outcome = await world.submit(world.document(request, judicial="us-court"))
    assert outcome.html == render_package_html(outcome.package)
    embedded = embedded_document(outcome.html)
    assert embedded is not None
    verify_package(embedded, world.desk.operator_key.public)
    assert "end-to-end" in outcome.html
    assert "<script>" not in outcome.html  # only the inert JSON data block


async def test_foreign_order_under_its_agreement(world: World) -> None:
    request = world.request(
        process_type="foreign_order",
        issuing_authority="uk-police",
        agreement="us-uk",
        legal_basis="Crime (Overseas Production Orders) Act 2019",
        accounts=[{"app": "photos", "handle": "bob"}],
        categories=["subscriber", "devices"],
    )
    outcome = await world.submit(world.document(request, issuer="uk-police", judicial="uk-ipc"))
    assert outcome.accepted, outcome.detail
    assert set(outcome.package["package"]["accounts"][0]["records"]) == {"subscriber", "devices"}
