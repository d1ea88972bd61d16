"""Minors on an app that marks them: invisible and unreachable to adults they have
not connected with, by look-up, key claim, unsealed message or group KeyPackage."""

from __future__ import annotations

from tests.safety.conftest import SafetyRelay


async def test_an_adult_cannot_find_claim_or_message_a_minor(relay: SafetyRelay) -> None:
    adult = await relay.account("adult", "chat")
    minor = await relay.account("minor", "kids", minor=True)
    lookup = await adult.arequest(relay.http, "GET", f"/v1/accounts/kids/{minor.handle}")
    claim = await adult.arequest(relay.http, "POST", "/v1/keys/claim", {"address": minor.address})
    sent = await relay.send(adult, minor)
    for answer in (lookup, claim, sent):
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "unknown-account"
    assert await relay.fetch(minor) == []


async def test_the_refusal_looks_exactly_like_an_unknown_account(relay: SafetyRelay) -> None:
    adult = await relay.account("adult", "chat")
    minor = await relay.account("minor", "kids", minor=True)
    shielded = await adult.arequest(relay.http, "GET", f"/v1/accounts/kids/{minor.handle}")
    absent = await adult.arequest(relay.http, "GET", "/v1/accounts/kids/nobody-here")
    assert shielded.status_code == absent.status_code == 404
    strip = lambda body: {k: v for k, v in body.items() if k != "detail"}  # noqa: E731
    assert strip(shielded.json()) == strip(absent.json())


async def test_a_minor_writing_first_accepts_the_connection(relay: SafetyRelay) -> None:
    adult = await relay.account("aunt", "chat")
    minor = await relay.account("niece", "kids", minor=True)
    assert (await relay.send(minor, adult)).status_code == 200
    assert len(await relay.fetch(adult)) == 1
    lookup = await adult.arequest(relay.http, "GET", f"/v1/accounts/kids/{minor.handle}")
    assert lookup.status_code == 200
    assert (await relay.send(adult, minor)).status_code == 200
    assert len(await relay.fetch(minor)) == 1


async def test_an_explicit_connection_and_its_withdrawal(relay: SafetyRelay) -> None:
    adult = await relay.account("coach", "photos")
    minor = await relay.account("player", "kids", minor=True)
    path = f"/v1/connections/{adult.address}"
    assert (await minor.arequest(relay.http, "PUT", path)).status_code == 200
    assert (await relay.send(adult, minor)).status_code == 200
    assert (await minor.arequest(relay.http, "DELETE", path)).status_code == 200
    assert (await relay.send(adult, minor)).status_code == 404


async def test_minors_reach_minors_and_adults_reach_adults(relay: SafetyRelay) -> None:
    one = await relay.account("kid-one", "kids", minor=True)
    two = await relay.account("kid-two", "kids", minor=True)
    grown = await relay.account("grown", "kids")
    other = await relay.account("other", "chat")
    assert (await relay.send(one, two)).status_code == 200
    assert (await relay.send(grown, other)).status_code == 200
    assert (await relay.send(other, grown)).status_code == 200


async def test_only_an_app_that_marks_minors_may_create_minors(relay: SafetyRelay) -> None:
    from tests.support.api_device import ApiDevice

    device = ApiDevice("not-on-chat", "chat")
    body = {**device.registration(), "minor": True}
    answer = await device.arequest(relay.http, "POST", "/v1/accounts", body)
    assert answer.status_code == 400
    assert answer.json()["type"] == "app-does-not-mark-minors"


async def test_adults_record_no_connections(relay: SafetyRelay) -> None:
    adult = await relay.account("adult", "chat")
    other = await relay.account("friend", "chat")
    answer = await adult.arequest(relay.http, "PUT", f"/v1/connections/{other.address}")
    assert answer.status_code == 400
    assert answer.json()["type"] == "not-a-minor"


async def test_an_adult_cannot_claim_a_minors_key_packages_for_a_group(
    relay: SafetyRelay,
) -> None:
    adult = await relay.account("adult", "chat")
    minor = await relay.account("minor", "kids", minor=True)
    answer = await adult.arequest(
        relay.http,
        "POST",
        "/v1/key-packages/claim",
        {"address": minor.address, "cipher_suite": 1},
    )
    assert answer.status_code == 404
    assert answer.json()["type"] == "unknown-account"


async def test_the_logged_device_list_of_a_minor_is_not_served_to_adults(
    relay: SafetyRelay,
) -> None:
    adult = await relay.account("adult", "chat")
    minor = await relay.account("minor", "kids", minor=True)
    path = f"/v1/transparency/device-lists/kids/{minor.handle}/1"
    refused = await adult.arequest(relay.http, "GET", path)
    absent = await adult.arequest(relay.http, "GET", "/v1/transparency/device-lists/kids/nobody/1")
    assert refused.status_code == absent.status_code == 404
    assert refused.json()["type"] == absent.json()["type"]
    assert (await minor.arequest(relay.http, "GET", path)).status_code == 200
