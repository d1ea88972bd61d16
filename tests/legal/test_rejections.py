"""Every refusal has its own reason, lands in the audit chain, and stores nothing else."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from sottovoce.crypto import signing
from sottovoce.protocol.public.legal import ROLE_ISSUER, sign_request
from sottovoce.server import limits
from sottovoce.server.legal.errors import RejectionReason
from tests.legal.world import World, stamp

Case = Callable[[World], Awaitable[bytes]]


async def forged(w: World) -> bytes:
    impostor = signing.SigningKey.generate()
    return json.dumps(
        sign_request(w.request(process_type="subpoena"), [(ROLE_ISSUER, "us-fbi", impostor)])
    ).encode()


async def tampered(w: World) -> bytes:
    document = json.loads(w.document(w.request(process_type="subpoena")))
    document["request"]["accounts"] = [{"app": "photos", "handle": "bob"}]
    return json.dumps(document).encode()


async def unsigned(w: World) -> bytes:
    return w.document(w.request(process_type="subpoena"), issuer=None)


async def signature_not_base64(w: World) -> bytes:
    document = json.loads(w.document(w.request(process_type="subpoena")))
    document["signatures"][0]["signature"] = "not base64!"
    return json.dumps(document).encode()


async def unknown_authority(w: World) -> bytes:
    key = signing.SigningKey.generate()
    request = w.request(process_type="subpoena", issuing_authority="xx-unknown")
    return json.dumps(sign_request(request, [(ROLE_ISSUER, "xx-unknown", key)])).encode()


async def revoked_authority(w: World) -> bytes:
    await w.authority("us-old", "US", "law-enforcement")
    await w.store.revoke_authority("us-old", int(w.now.timestamp() // 86_400))
    request = w.request(process_type="subpoena", issuing_authority="us-old")
    return w.document(request, issuer="us-old")


async def wrong_kind(w: World) -> bytes:
    request = w.request(process_type="subpoena", issuing_authority="us-ems")
    return w.document(request, issuer="us-ems")


async def foreign_domestic_process(w: World) -> bytes:
    request = w.request(process_type="subpoena", issuing_authority="uk-police")
    return w.document(request, issuer="uk-police")


async def foreign_order_without_agreement(w: World) -> bytes:
    request = w.request(process_type="foreign_order", issuing_authority="uk-police")
    return w.document(request, issuer="uk-police", judicial="uk-ipc")


async def foreign_order_unknown_agreement(w: World) -> bytes:
    request = w.request(
        process_type="foreign_order", issuing_authority="uk-police", agreement="uk-mars"
    )
    return w.document(request, issuer="uk-police", judicial="uk-ipc")


async def agreement_not_of_the_authority(w: World) -> bytes:
    await w.authority("gb-other", "GB", "law-enforcement")
    request = w.request(
        process_type="foreign_order",
        issuing_authority="gb-other",
        agreement="us-uk",
        accounts=[{"app": "photos", "handle": "bob"}],
    )
    return w.document(request, issuer="gb-other", judicial="uk-ipc")


async def agreement_country_not_party(w: World) -> bytes:
    await w.authority("fr-police", "FR", "law-enforcement", ("us-uk",))
    request = w.request(
        process_type="foreign_order", issuing_authority="fr-police", agreement="us-uk"
    )
    return w.document(request, issuer="fr-police")


async def warrant_without_judge(w: World) -> bytes:
    return w.document(w.request(process_type="warrant"))


async def warrant_signed_by_police_twice(w: World) -> bytes:
    await w.authority("us-dea", "US", "law-enforcement")
    return w.document(w.request(process_type="warrant"), judicial="us-dea")


async def judge_of_another_country(w: World) -> bytes:
    return w.document(w.request(process_type="court_order"), judicial="uk-ipc")


async def expired(w: World) -> bytes:
    request = w.request(
        process_type="subpoena",
        issued_at=stamp(w.now - timedelta(days=30)),
        expires_at=stamp(w.now - timedelta(days=1)),
    )
    return w.document(request)


async def not_yet_valid(w: World) -> bytes:
    request = w.request(
        process_type="subpoena",
        issued_at=stamp(w.now + timedelta(days=1)),
        expires_at=stamp(w.now + timedelta(days=30)),
    )
    return w.document(request)


async def replayed(w: World) -> bytes:
    data = w.document(w.request(process_type="subpoena"))
    first = await w.submit(data)
    assert first.accepted, first.detail
    return data


async def no_account(w: World) -> bytes:
    return w.document(w.request(process_type="subpoena", accounts=[]))


async def wildcard(w: World) -> bytes:
    return w.document(w.request(process_type="subpoena", accounts=[{"app": "chat", "handle": "*"}]))


async def too_many(w: World) -> bytes:
    accounts = [
        {"app": "chat", "handle": f"user{n}"}
        for n in range(limits.MAX_ACCOUNTS_PER_LEGAL_REQUEST + 1)
    ]
    return w.document(w.request(process_type="subpoena", accounts=accounts))


async def subpoena_for_devices(w: World) -> bytes:
    return w.document(w.request(process_type="subpoena", categories=["subscriber", "devices"]))


async def subpoena_for_content(w: World) -> bytes:
    return w.document(w.request(process_type="subpoena", categories=["message_content"]))


async def foreign_order_beyond_agreement(w: World) -> bytes:
    request = w.request(
        process_type="foreign_order",
        issuing_authority="uk-police",
        agreement="us-uk",
        accounts=[{"app": "photos", "handle": "bob"}],
        categories=["group_membership"],
    )
    return w.document(request, issuer="uk-police", judicial="uk-ipc")


async def emergency_without_justification(w: World) -> bytes:
    request = w.request(process_type="emergency", issuing_authority="us-ems")
    return w.document(request, issuer="us-ems")


def foreign_order_targeting(app: str, handle: str) -> Case:
    async def case(w: World) -> bytes:
        request = w.request(
            process_type="foreign_order",
            issuing_authority="uk-police",
            agreement="us-uk",
            accounts=[{"app": app, "handle": handle}],
        )
        return w.document(request, issuer="uk-police", judicial="uk-ipc")

    return case


async def not_json(w: World) -> bytes:
    return b"\xff\xfe this is not JSON {"


async def empty(w: World) -> bytes:
    return b""


async def huge(w: World) -> bytes:
    request = w.request(
        process_type="subpoena", legal_basis="x" * (limits.MAX_LEGAL_DOCUMENT_BYTES)
    )
    return w.document(request)


async def deeply_nested(w: World) -> bytes:
    return (
        b'{"format": "sottovoce-legal-request/1", "request": '
        + b"[" * 20_000
        + b"]" * 20_000
        + b"}"
    )


async def wrong_format(w: World) -> bytes:
    document = json.loads(w.document(w.request()))
    document["format"] = "sottovoce-legal-request/9"
    return json.dumps(document).encode()


async def missing_field(w: World) -> bytes:
    request = w.request(process_type="subpoena")
    del request["legal_basis"]
    return w.document(request)


async def bad_date(w: World) -> bytes:
    return w.document(w.request(process_type="subpoena", expires_at="next tuesday"))


async def duplicate_keys(w: World) -> bytes:
    text = w.document(w.request(process_type="subpoena")).decode()
    return text.replace(
        '"process_type": "subpoena"', '"process_type": "subpoena", "process_type": "warrant"'
    ).encode()


async def unknown_category(w: World) -> bytes:
    return w.document(w.request(process_type="subpoena", categories=["everything"]))


async def not_an_object(w: World) -> bytes:
    return b'["sottovoce-legal-request/1"]'


async def nan_number(w: World) -> bytes:
    text = w.document(w.request(process_type="preservation")).decode()
    return text.replace('"process_type"', '"preserve_days": NaN, "process_type"').encode()


R = RejectionReason
CASES: list[tuple[str, Case, RejectionReason]] = [
    ("forged", forged, R.BAD_SIGNATURE),
    ("tampered", tampered, R.BAD_SIGNATURE),
    ("unsigned", unsigned, R.MISSING_SIGNATURE),
    ("signature-not-base64", signature_not_base64, R.MALFORMED),
    ("unknown-authority", unknown_authority, R.UNKNOWN_AUTHORITY),
    ("revoked-authority", revoked_authority, R.REVOKED_AUTHORITY),
    ("wrong-kind", wrong_kind, R.AUTHORITY_KIND),
    ("foreign-domestic-process", foreign_domestic_process, R.OUTSIDE_JURISDICTION),
    ("foreign-order-without-agreement", foreign_order_without_agreement, R.OUTSIDE_AGREEMENT),
    ("unknown-agreement", foreign_order_unknown_agreement, R.OUTSIDE_AGREEMENT),
    ("agreement-not-registered", agreement_not_of_the_authority, R.OUTSIDE_AGREEMENT),
    ("country-not-party", agreement_country_not_party, R.OUTSIDE_JURISDICTION),
    ("warrant-without-judge", warrant_without_judge, R.MISSING_JUDICIAL_COUNTERSIGNATURE),
    ("police-as-judge", warrant_signed_by_police_twice, R.MISSING_JUDICIAL_COUNTERSIGNATURE),
    ("judge-of-another-country", judge_of_another_country, R.OUTSIDE_JURISDICTION),
    ("expired", expired, R.EXPIRED),
    ("not-yet-valid", not_yet_valid, R.NOT_YET_VALID),
    ("replayed", replayed, R.REPLAYED),
    ("no-account", no_account, R.NO_SPECIFIC_ACCOUNT),
    ("wildcard", wildcard, R.WILDCARD_ACCOUNT),
    ("too-many-accounts", too_many, R.TOO_MANY_ACCOUNTS),
    ("subpoena-for-devices", subpoena_for_devices, R.NOT_COMPELLABLE),
    ("subpoena-for-content", subpoena_for_content, R.NOT_COMPELLABLE),
    ("beyond-agreement", foreign_order_beyond_agreement, R.NOT_COMPELLABLE),
    ("emergency-unjustified", emergency_without_justification, R.MISSING_EMERGENCY_JUSTIFICATION),
    ("excluded-app", foreign_order_targeting("chat", "alice"), R.EXCLUDED_BY_AGREEMENT),
    ("excluded-account", foreign_order_targeting("photos", "excluded"), R.EXCLUDED_BY_AGREEMENT),
    ("excluded-minor", foreign_order_targeting("photos", "kid"), R.EXCLUDED_BY_AGREEMENT),
    ("not-json", not_json, R.NOT_JSON),
    ("empty", empty, R.NOT_JSON),
    ("huge", huge, R.TOO_LARGE),
    ("deeply-nested", deeply_nested, R.TOO_DEEPLY_NESTED),
    ("wrong-format", wrong_format, R.UNSUPPORTED_FORMAT),
    ("missing-field", missing_field, R.MALFORMED),
    ("bad-date", bad_date, R.MALFORMED),
    ("duplicate-keys", duplicate_keys, R.NOT_JSON),
    ("unknown-category", unknown_category, R.MALFORMED),
    ("not-an-object", not_an_object, R.MALFORMED),
    ("nan", nan_number, R.NOT_JSON),
]


@pytest.mark.parametrize(("name", "case", "reason"), CASES, ids=[c[0] for c in CASES])
async def test_rejected_with_its_reason_and_audited(
    world: World, name: str, case: Case, reason: RejectionReason
) -> None:
    data = await case(world)
    before = len(await world.audit_events())
    notices = await world.store.due_notices(10**6)
    preserved = await world.store.preserved_device_pks(0)
    outcome = await world.submit(data)
    assert not outcome.accepted
    assert outcome.reason == reason.value, outcome.detail
    assert outcome.package is None
    events = await world.audit_events()
    assert len(events) == before + 1
    assert events[-1]["event"] == "request-rejected"
    assert events[-1]["reason"] == reason.value
    assert events[-1]["document_bytes"] == len(data)
    # A refused request preserves nothing and schedules no notice.
    assert await world.store.preserved_device_pks(0) == preserved
    assert await world.store.due_notices(10**6) == notices


def test_every_reason_has_a_case() -> None:
    assert {reason for _, _, reason in CASES} == set(RejectionReason)


async def test_a_forged_copy_does_not_use_up_the_real_request_id(world: World) -> None:
    request = world.request(process_type="subpoena")
    impostor = signing.SigningKey.generate()
    fake = json.dumps(sign_request(request, [(ROLE_ISSUER, "us-fbi", impostor)])).encode()
    assert (await world.submit(fake)).reason == "bad-signature"
    assert (await world.submit(world.document(request))).accepted


async def test_keys_are_checked_against_the_registered_authority(world: World) -> None:
    public = base64.b64encode(world.signers["us-fbi"].key.public).decode()
    stored = await world.store.authority("us-fbi")
    assert stored is not None and base64.b64encode(stored.public_key).decode() == public
