"""The server as MLS Delivery Service, spoken to directly (no SDK): the KeyPackage
directory, commit ordering per epoch, fan-out and its bounds."""

from __future__ import annotations

import asyncio
import base64
import secrets
from typing import Any

import httpx
import pytest

from sottovoce.server import limits
from tests.groups import mls_bytes
from tests.server.conftest import Relay
from tests.support.device import BareDevice, assert_problem, b64

KEY_PACKAGES = "/v1/devices/self/key-packages"
CLAIM = "/v1/key-packages/claim"
GROUPS = "/v1/groups"


def path_id(group_id: bytes) -> str:
    return base64.urlsafe_b64encode(group_id).decode().rstrip("=")


async def devices(http: httpx.AsyncClient, n: int, app: str = "chat") -> list[BareDevice]:
    return [await BareDevice(app=app).register(http) for _ in range(n)]


async def fetch(http: httpx.AsyncClient, device: BareDevice) -> list[dict[str, Any]]:
    response = await device.call(http, "GET", "/v1/messages")
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


async def ack_all(http: httpx.AsyncClient, device: BareDevice) -> list[dict[str, Any]]:
    messages = await fetch(http, device)
    if messages:
        response = await device.call(
            http, "POST", "/v1/messages/ack", {"ids": [m["id"] for m in messages]}
        )
        assert response.status_code == 200
    return messages


def member(device: BareDevice) -> dict[str, Any]:
    return {"address": device.address, "device_id": device.device_id}


async def create(http: httpx.AsyncClient, creator: BareDevice) -> bytes:
    group_id = secrets.token_bytes(32)
    response = await creator.call(http, "POST", GROUPS, {"group_id": b64(group_id)})
    assert response.status_code == 201, response.text
    assert response.json()["epoch"] == 0
    return group_id


def commit_body(
    group_id: bytes,
    epoch: int,
    *,
    added: list[BareDevice] = (),  # type: ignore[assignment]
    removed: list[BareDevice] = (),  # type: ignore[assignment]
    message_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": message_id or secrets.token_hex(8),
        "epoch": epoch,
        "commit": b64(mls_bytes.commit(group_id, epoch)),
        "added": [member(d) for d in added],
        "removed": [member(d) for d in removed],
    }
    if added:
        body["welcome"] = b64(mls_bytes.welcome())
    return body


async def post_commit(
    http: httpx.AsyncClient, sender: BareDevice, group_id: bytes, body: dict[str, Any]
) -> httpx.Response:
    return await sender.call(http, "POST", f"{GROUPS}/{path_id(group_id)}/commits", body)


async def post_message(
    http: httpx.AsyncClient,
    sender: BareDevice,
    group_id: bytes,
    epoch: int,
    *,
    kind: str = "application",
    message: bytes | None = None,
    leave: bool = False,
) -> httpx.Response:
    content = mls_bytes.APPLICATION if kind == "application" else mls_bytes.PROPOSAL
    data = message or mls_bytes.private_message(group_id, epoch, content)
    body = {
        "message_id": secrets.token_hex(8),
        "epoch": epoch,
        "type": kind,
        "message": b64(data),
        "leave": leave,
    }
    return await sender.call(http, "POST", f"{GROUPS}/{path_id(group_id)}/messages", body)


async def group_of(http: httpx.AsyncClient, creator: BareDevice, others: list[BareDevice]) -> bytes:
    """A group at epoch 1 holding ``creator`` and ``others``, queues emptied."""
    group_id = await create(http, creator)
    response = await post_commit(http, creator, group_id, commit_body(group_id, 0, added=others))
    assert response.status_code == 200, response.text
    for device in others:
        await ack_all(http, device)
    return group_id


# -- KeyPackage directory ----------------------------------------------------------------


async def test_each_key_package_is_claimed_once_then_the_last_resort_is_reused(
    relay: Relay,
) -> None:
    owner, claimer = await devices(relay.http, 2)
    uploaded = [mls_bytes.key_package() for _ in range(3)]
    last_resort = mls_bytes.key_package()
    response = await owner.call(
        relay.http,
        "PUT",
        KEY_PACKAGES,
        {"key_packages": [b64(k) for k in uploaded], "last_resort": b64(last_resort)},
    )
    assert response.json() == {"key_packages": 3, "last_resort": True, "low": True}
    handed = []
    for _ in range(5):
        response = await claimer.call(
            relay.http, "POST", CLAIM, {"address": owner.address, "cipher_suite": 1}
        )
        assert response.status_code == 200, response.text
        (claimed,) = response.json()["key_packages"]
        handed.append((base64.b64decode(claimed["key_package"]), claimed["last_resort"]))
    assert handed[:3] == [(k, False) for k in uploaded]
    assert handed[3:] == [(last_resort, True), (last_resort, True)]
    status = await owner.call(relay.http, "GET", KEY_PACKAGES)
    assert status.json() == {"key_packages": 0, "last_resort": True, "low": True}
    fetched = await owner.call(relay.http, "GET", "/v1/messages")
    assert fetched.json()["key_packages_low"] is True


async def test_concurrent_claims_never_share_a_key_package(relay: Relay) -> None:
    owner = (await devices(relay.http, 1))[0]
    claimers = await devices(relay.http, 8)
    uploaded = {mls_bytes.key_package() for _ in range(8)}
    await owner.call(relay.http, "PUT", KEY_PACKAGES, {"key_packages": [b64(k) for k in uploaded]})
    answers = await asyncio.gather(
        *(
            c.call(relay.http, "POST", CLAIM, {"address": owner.address, "cipher_suite": 1})
            for c in claimers
        )
    )
    got = [base64.b64decode(a.json()["key_packages"][0]["key_package"]) for a in answers]
    assert sorted(got) == sorted(uploaded)


async def test_a_claim_filters_by_cipher_suite_and_names_the_device_list(relay: Relay) -> None:
    owner, claimer = await devices(relay.http, 2)
    suite3 = mls_bytes.key_package(3)
    await owner.call(relay.http, "PUT", KEY_PACKAGES, {"key_packages": [b64(suite3)]})
    none = await claimer.call(
        relay.http, "POST", CLAIM, {"address": owner.address, "cipher_suite": 1}
    )
    assert none.json()["key_packages"] == []
    some = await claimer.call(
        relay.http, "POST", CLAIM, {"address": owner.address, "cipher_suite": 3}
    )
    answer = some.json()
    assert base64.b64decode(answer["key_packages"][0]["key_package"]) == suite3
    assert base64.b64decode(answer["device_list"]) == owner.device_list()


async def test_key_package_uploads_are_bounded_and_checked(relay: Relay) -> None:
    (owner,) = await devices(relay.http, 1)
    not_kp = mls_bytes.welcome()
    assert_problem(
        await owner.call(relay.http, "PUT", KEY_PACKAGES, {"key_packages": [b64(not_kp)]}),
        400,
        "malformed-mls",
    )
    assert_problem(
        await owner.call(relay.http, "PUT", KEY_PACKAGES, {"key_packages": ["not base64!"]}),
        400,
        "malformed-body",
    )
    huge = mls_bytes.key_package() + bytes(limits.MAX_KEY_PACKAGE_BYTES)
    assert_problem(
        await owner.call(relay.http, "PUT", KEY_PACKAGES, {"key_packages": [b64(huge)]}),
        413,
        "field-too-large",
    )
    batch = [b64(mls_bytes.key_package()) for _ in range(limits.MAX_KEY_PACKAGES_PER_UPLOAD)]
    for _ in range(limits.MAX_KEY_PACKAGES_HELD // limits.MAX_KEY_PACKAGES_PER_UPLOAD):
        ok = await owner.call(relay.http, "PUT", KEY_PACKAGES, {"key_packages": batch})
        assert ok.status_code == 200
    assert_problem(
        await owner.call(relay.http, "PUT", KEY_PACKAGES, {"key_packages": batch[:1]}),
        400,
        "too-many-key-packages",
    )
    status = await owner.call(relay.http, "GET", KEY_PACKAGES)
    assert status.json()["key_packages"] == limits.MAX_KEY_PACKAGES_HELD


# -- commits: one per epoch ---------------------------------------------------------------


async def test_a_commit_fans_out_to_members_and_its_welcome_to_the_added(relay: Relay) -> None:
    alice, bob, carol = await devices(relay.http, 3)
    group_id = await group_of(relay.http, alice, [bob])
    body = commit_body(group_id, 1, added=[carol])
    response = await post_commit(relay.http, alice, group_id, body)
    assert response.json() == {"epoch": 2, "stored": 2, "duplicate": False}
    (to_bob,) = await fetch(relay.http, bob)
    (to_carol,) = await fetch(relay.http, carol)
    assert to_bob["type"] == "mls-commit" and to_bob["body"] == body["commit"]
    assert to_carol["type"] == "mls-welcome" and to_carol["body"] == body["welcome"]
    assert to_bob["sender"] == alice.address and to_bob["sender_device"] == 1
    assert await fetch(relay.http, alice) == []
    view = await carol.call(relay.http, "GET", f"{GROUPS}/{path_id(group_id)}")
    assert view.json()["epoch"] == 2
    assert sorted(m["address"] for m in view.json()["members"]) == sorted(
        d.address for d in (alice, bob, carol)
    )
    listed = await bob.call(relay.http, "GET", GROUPS)
    assert listed.json()["groups"] == [{"group_id": b64(group_id), "epoch": 2, "member_devices": 3}]


async def test_a_commit_on_an_old_epoch_is_refused_naming_the_current_one(relay: Relay) -> None:
    alice, bob = await devices(relay.http, 2)
    group_id = await group_of(relay.http, alice, [bob])
    assert (
        await post_commit(relay.http, bob, group_id, commit_body(group_id, 1))
    ).status_code == 200
    problem = assert_problem(
        await post_commit(relay.http, alice, group_id, commit_body(group_id, 1)), 409, "stale-epoch"
    )
    assert problem["epoch"] == 2
    # Rebased on epoch 2 (after processing bob's commit), alice's commit goes through.
    again = await post_commit(relay.http, alice, group_id, commit_body(group_id, 2))
    assert again.json()["epoch"] == 3


async def test_of_concurrent_commits_on_one_epoch_exactly_one_wins(relay: Relay) -> None:
    creator, *others = await devices(relay.http, 6)
    group_id = await group_of(relay.http, creator, others)
    members = [creator, *others]
    answers = await asyncio.gather(
        *(post_commit(relay.http, m, group_id, commit_body(group_id, 1)) for m in members)
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 5
    assert all(a.json()["epoch"] == 2 for a in answers)
    # Each member that lost receives the winner's commit, the winner nothing.
    winner = members[[a.status_code for a in answers].index(200)]
    for device in members:
        queued = await fetch(relay.http, device)
        assert len(queued) == (0 if device is winner else 1)


async def test_a_retried_commit_is_recognised_not_refused(relay: Relay) -> None:
    alice, bob = await devices(relay.http, 2)
    group_id = await group_of(relay.http, alice, [bob])
    body = commit_body(group_id, 1)
    first = await post_commit(relay.http, alice, group_id, body)
    assert first.json()["duplicate"] is False
    await ack_all(relay.http, bob)
    retry = await post_commit(relay.http, alice, group_id, body)
    assert retry.json() == {"epoch": 2, "stored": 0, "duplicate": True}
    assert await fetch(relay.http, bob) == []


async def test_a_removed_device_gets_the_commit_then_nothing(relay: Relay) -> None:
    alice, bob, carol = await devices(relay.http, 3)
    group_id = await group_of(relay.http, alice, [bob, carol])
    response = await post_commit(
        relay.http, alice, group_id, commit_body(group_id, 1, removed=[carol])
    )
    assert response.json()["stored"] == 2
    (last,) = await ack_all(relay.http, carol)
    assert last["type"] == "mls-commit"
    assert (await post_message(relay.http, alice, group_id, 2)).json()["stored"] == 1
    assert await fetch(relay.http, carol) == []
    assert_problem(await post_message(relay.http, carol, group_id, 2), 404, "unknown-group")
    assert_problem(
        await carol.call(relay.http, "GET", f"{GROUPS}/{path_id(group_id)}"), 404, "unknown-group"
    )


async def test_membership_changes_are_checked(relay: Relay) -> None:
    alice, bob, outsider = await devices(relay.http, 3)
    group_id = await group_of(relay.http, alice, [bob])
    assert_problem(
        await post_commit(relay.http, alice, group_id, commit_body(group_id, 1, added=[bob])),
        409,
        "membership-conflict",
    )
    assert_problem(
        await post_commit(relay.http, alice, group_id, commit_body(group_id, 1, removed=[alice])),
        409,
        "membership-conflict",
    )
    assert_problem(
        await post_commit(relay.http, outsider, group_id, commit_body(group_id, 1)),
        404,
        "unknown-group",
    )
    no_welcome = commit_body(group_id, 1, added=[outsider])
    del no_welcome["welcome"]
    assert_problem(
        await post_commit(relay.http, alice, group_id, no_welcome), 400, "malformed-body"
    )
    ghost = commit_body(group_id, 1)
    ghost["added"] = [{"address": "nobody@chat", "device_id": 1}]
    ghost["welcome"] = b64(mls_bytes.welcome())
    assert_problem(await post_commit(relay.http, alice, group_id, ghost), 404, "unknown-device")
    # None of the refusals moved the epoch.
    view = await alice.call(relay.http, "GET", f"{GROUPS}/{path_id(group_id)}")
    assert view.json()["epoch"] == 1


async def test_a_group_has_a_size_bound(relay: Relay, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_GROUP_DEVICES", 3)
    alice, bob, carol, dave = await devices(relay.http, 4)
    group_id = await group_of(relay.http, alice, [bob, carol])
    assert_problem(
        await post_commit(relay.http, alice, group_id, commit_body(group_id, 1, added=[dave])),
        409,
        "group-full",
    )


async def test_the_clear_header_must_match_what_it_is_sent_as(relay: Relay) -> None:
    alice, bob = await devices(relay.http, 2)
    group_id = await group_of(relay.http, alice, [bob])
    other = secrets.token_bytes(32)
    cases = [
        mls_bytes.private_message(other, 1, mls_bytes.APPLICATION),  # another group
        mls_bytes.private_message(group_id, 7, mls_bytes.APPLICATION),  # another epoch
        mls_bytes.private_message(group_id, 1, mls_bytes.COMMIT),  # another type
        mls_bytes.public_message(group_id, 1, mls_bytes.APPLICATION),  # §6.2: not public
        mls_bytes.private_message(group_id, 1, mls_bytes.APPLICATION)[:12],  # truncated
        b"\x00\x02" + mls_bytes.private_message(group_id, 1, 1)[2:],  # not MLS 1.0
        mls_bytes.welcome(),
    ]
    for data in cases:
        assert_problem(
            await post_message(relay.http, alice, group_id, 1, message=data), 400, "malformed-mls"
        )
    bad_commit = commit_body(group_id, 1)
    bad_commit["commit"] = b64(mls_bytes.private_message(group_id, 1, mls_bytes.APPLICATION))
    assert_problem(await post_commit(relay.http, alice, group_id, bad_commit), 400, "malformed-mls")
    assert await fetch(relay.http, bob) == []


async def test_messages_are_accepted_only_in_the_current_epoch(relay: Relay) -> None:
    alice, bob = await devices(relay.http, 2)
    group_id = await group_of(relay.http, alice, [bob])
    await post_commit(relay.http, bob, group_id, commit_body(group_id, 1))
    problem = assert_problem(await post_message(relay.http, alice, group_id, 1), 409, "stale-epoch")
    assert problem["epoch"] == 2
    proposal = await post_message(relay.http, alice, group_id, 2, kind="proposal")
    assert proposal.json() == {"stored": 1, "duplicate": False}
    assert [m["type"] for m in await fetch(relay.http, alice)] == ["mls-commit"]
    assert [m["type"] for m in await fetch(relay.http, bob)] == ["mls-proposal"]


async def test_leaving_stops_delivery_and_the_last_one_out_drops_the_group(relay: Relay) -> None:
    alice, bob = await devices(relay.http, 2)
    group_id = await group_of(relay.http, alice, [bob])
    left = await post_message(relay.http, bob, group_id, 1, kind="proposal", leave=True)
    assert left.json()["stored"] == 1
    (proposal,) = await fetch(relay.http, alice)
    assert proposal["type"] == "mls-proposal"
    await post_message(relay.http, alice, group_id, 1)
    assert await fetch(relay.http, bob) == []
    # Alice commits bob's removal; the server already took bob out of the fan-out.
    removal = await post_commit(
        relay.http, alice, group_id, commit_body(group_id, 1, removed=[bob])
    )
    assert removal.json()["stored"] == 0
    assert_problem(
        await post_message(relay.http, alice, group_id, 2, kind="application", leave=True),
        400,
        "malformed-body",
    )
    await post_message(relay.http, alice, group_id, 2, kind="proposal", leave=True)
    assert (await alice.call(relay.http, "GET", GROUPS)).json()["groups"] == []
    again = await alice.call(relay.http, "POST", GROUPS, {"group_id": b64(group_id)})
    assert again.status_code == 201


async def test_group_ids_and_bodies_are_validated(relay: Relay) -> None:
    (alice,) = await devices(relay.http, 1)
    group_id = await create(relay.http, alice)
    assert_problem(
        await alice.call(relay.http, "POST", GROUPS, {"group_id": b64(group_id)}),
        409,
        "group-exists",
    )
    for bad in ("", "!!", b64(bytes(limits.MAX_GROUP_ID_BYTES + 1))):
        response = await alice.call(relay.http, "POST", GROUPS, {"group_id": bad})
        assert 400 <= response.status_code < 500
        assert response.headers["content-type"].startswith("application/problem+json")
    assert_problem(await alice.call(relay.http, "GET", f"{GROUPS}/a.b"), 400, "malformed-body")
    assert_problem(
        await alice.call(relay.http, "GET", f"{GROUPS}/{path_id(b'nope')}"), 404, "unknown-group"
    )
    wrong = commit_body(group_id, 0)
    wrong["message_id"] = "has spaces"
    assert_problem(await post_commit(relay.http, alice, group_id, wrong), 422, "malformed-body")
