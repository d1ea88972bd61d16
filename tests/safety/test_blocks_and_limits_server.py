"""Reported blocks, stranger and group rate limits, standing: the server side."""

from __future__ import annotations

import base64
import json
import secrets
import time

import pytest

from sottovoce.server import limits
from sottovoce.server.abuse.controls import SafetyControls
from sottovoce.storage.safety import AUTOMATIC
from tests.safety.conftest import SafetyRelay
from tests.support.api_device import signed_headers


async def test_a_reported_block_drops_messages_and_the_sender_cannot_tell(
    relay: SafetyRelay,
) -> None:
    pest = await relay.account("pest", "chat")
    victim = await relay.account("victim", "photos")
    before = await relay.send(pest, victim)
    assert (
        await victim.arequest(relay.http, "PUT", f"/v1/blocks/{pest.address}")
    ).status_code == 200
    after = await relay.send(pest, victim)
    assert before.status_code == after.status_code == 200
    assert before.json()["stored"] == after.json()["stored"] == 1
    assert after.json()["duplicate"] is False
    assert len(await relay.fetch(victim)) == 1  # only the message sent before the block


async def test_unblocking_lets_messages_through_again(relay: SafetyRelay) -> None:
    pest = await relay.account("pest", "chat")
    victim = await relay.account("victim", "chat")
    path = f"/v1/blocks/{pest.address}"
    assert (await victim.arequest(relay.http, "PUT", path)).status_code == 200
    await relay.send(pest, victim)
    assert (await victim.arequest(relay.http, "DELETE", path)).status_code == 200
    await relay.send(pest, victim)
    assert len(await relay.fetch(victim)) == 1


async def test_a_block_holds_against_every_device_of_the_blocked_account(
    relay: SafetyRelay,
) -> None:
    """The block names the account, so a device added later is blocked as well."""
    from sottovoce.storage.schema import devices

    pest = await relay.account("pest", "chat")
    victim = await relay.account("victim", "chat")
    await victim.arequest(relay.http, "PUT", f"/v1/blocks/{pest.address}")
    # A second device of the blocked account, as linking one would add it.
    second = pest.__class__(pest.handle, pest.app)
    repo = relay.state.repo
    first = await repo.device(pest.app, pest.handle, 1)
    assert first is not None
    async with repo.engine.begin() as conn:
        await conn.execute(
            devices.insert().values(
                account_id=first.account_id,
                device_id=2,
                identity=second.identity.public.to_bytes(),
                created_day=0,
                last_seen_day=0,
            )
        )
    copy = [{"device_id": 1, "type": "message", "body": base64.b64encode(b"x").decode()}]
    body = json.dumps(
        {
            "message_id": secrets.token_hex(8),
            "recipient": victim.address,
            "envelopes": copy,
            "own_envelopes": copy,
        }
    ).encode()
    headers = signed_headers(
        second.identity.signing_key, pest.address, "POST", "/v1/messages", body, device_id=2
    )
    answer = await relay.http.post("/v1/messages", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == 2
    assert await relay.fetch(victim) == []
    # The sender's own copy still reaches its other device: nothing shows the block.
    assert len(await relay.fetch(pest)) == 1


async def test_new_accounts_reach_few_strangers_a_day(relay: SafetyRelay) -> None:
    spammer = await relay.account("spammer", "chat")
    targets = [
        await relay.account(f"t{i}", "chat")
        for i in range(limits.NEW_RECIPIENTS_PER_DAY_NEW_ACCOUNT + 1)
    ]
    for target in targets[:-1]:
        assert (await relay.send(spammer, target)).status_code == 200
    # Writing again to someone already reached is not a new stranger.
    assert (await relay.send(spammer, targets[0])).status_code == 200
    refused = await relay.send(spammer, targets[-1])
    assert refused.status_code == 429
    assert refused.json()["type"] == "too-many-new-recipients"


async def test_restricted_accounts_reach_even_fewer(relay: SafetyRelay) -> None:
    account = await relay.account("flagged", "chat")
    facts = await relay.state.safety.store.account_by_address(account.app, account.handle)
    assert facts is not None
    await relay.state.safety.store.act(
        facts.id, "restrict", actor="operator", reason="test", signals={}, now_ms=0
    )
    targets = [
        await relay.account(f"r{i}", "chat")
        for i in range(limits.NEW_RECIPIENTS_PER_DAY_RESTRICTED + 1)
    ]
    statuses = [(await relay.send(account, t)).status_code for t in targets]
    assert statuses == [200] * limits.NEW_RECIPIENTS_PER_DAY_RESTRICTED + [429]


async def test_group_creation_is_bounded_for_new_accounts(relay: SafetyRelay) -> None:
    creator = await relay.account("raider", "chat")
    codes = []
    for _ in range(limits.GROUPS_PER_DAY_NEW_ACCOUNT + 1):
        answer = await creator.arequest(
            relay.http,
            "POST",
            "/v1/groups",
            {"group_id": base64.b64encode(secrets.token_bytes(32)).decode()},
        )
        codes.append(answer.status_code)
    assert codes == [201] * limits.GROUPS_PER_DAY_NEW_ACCOUNT + [429]


async def test_a_suspended_account_gets_403_problems_everywhere(relay: SafetyRelay) -> None:
    account = await relay.account("banned", "chat")
    other = await relay.account("other", "chat")
    facts = await relay.state.safety.store.account_by_address(account.app, account.handle)
    assert facts is not None
    await relay.state.safety.store.act(
        facts.id, "suspend", actor="operator", reason="spam", signals={}, now_ms=0
    )
    for answer in (
        await relay.send(account, other),
        await account.arequest(relay.http, "GET", "/v1/messages"),
        await account.arequest(relay.http, "GET", f"/v1/accounts/chat/{other.handle}"),
    ):
        assert answer.status_code == 403
        assert answer.json()["type"] == "account-suspended"
    await relay.state.safety.store.act(
        facts.id, "restore", actor="operator", reason="appeal upheld", signals={}, now_ms=1
    )
    assert (await relay.send(account, other)).status_code == 200


async def test_reported_blocks_from_distinct_accounts_escalate_with_a_recorded_reason(
    relay: SafetyRelay,
) -> None:
    pest = await relay.account("pest", "chat")
    safety: SafetyControls = relay.state.safety
    facts = await safety.store.account_by_address(pest.app, pest.handle)
    assert facts is not None
    standings = []
    for i in range(limits.SUSPEND_AFTER_REPORTERS):
        blocker = await relay.account(f"b{i}", "chat")
        await blocker.arequest(relay.http, "PUT", f"/v1/blocks/{pest.address}")
        standings.append(await safety.store.standing(facts.id))
    restrict_at = limits.RESTRICT_AFTER_REPORTERS - 1
    assert standings[:restrict_at] == ["ok"] * restrict_at
    assert standings[restrict_at] == "restricted"
    assert standings[-1] == "suspended"
    trail = await safety.store.actions(facts.id)
    assert [a.action for a in trail] == ["suspend", "restrict"]
    assert all(a.actor == AUTOMATIC for a in trail)
    assert trail[0].signals["reported_blocks_from"] == limits.SUSPEND_AFTER_REPORTERS
    assert trail[0].signals["threshold"] == limits.SUSPEND_AFTER_REPORTERS
    assert "distinct accounts" in trail[0].reason


async def test_the_same_blocker_twice_is_one_signal(relay: SafetyRelay) -> None:
    pest = await relay.account("pest", "chat")
    blocker = await relay.account("angry", "chat")
    for _ in range(limits.RESTRICT_AFTER_REPORTERS + 1):
        await blocker.arequest(relay.http, "PUT", f"/v1/blocks/{pest.address}")
        await blocker.arequest(relay.http, "DELETE", f"/v1/blocks/{pest.address}")
    facts = await relay.state.safety.store.account_by_address(pest.app, pest.handle)
    assert facts is not None
    assert await relay.state.safety.store.standing(facts.id) == "ok"


@pytest.mark.parametrize("action", ["delete", "erase", ""])
async def test_unknown_actions_are_refused(relay: SafetyRelay, action: str) -> None:
    account = await relay.account("x", "chat")
    facts = await relay.state.safety.store.account_by_address(account.app, account.handle)
    assert facts is not None
    with pytest.raises(ValueError):
        await relay.state.safety.store.act(
            facts.id, action, actor="operator", reason="r", signals={}, now_ms=0
        )


async def test_an_operators_restore_is_not_undone_by_the_old_signals(
    relay: SafetyRelay,
) -> None:
    pest = await relay.account("pest", "chat")
    safety: SafetyControls = relay.state.safety
    facts = await safety.store.account_by_address(pest.app, pest.handle)
    assert facts is not None
    for i in range(limits.SUSPEND_AFTER_REPORTERS):
        blocker = await relay.account(f"b{i}", "chat")
        await blocker.arequest(relay.http, "PUT", f"/v1/blocks/{pest.address}")
    assert await safety.store.standing(facts.id) == "suspended"
    await safety.store.act(
        facts.id,
        "restore",
        actor="operator",
        reason="reviewed",
        signals={},
        now_ms=int(time.time() * 1000),
    )
    late = await relay.account("late", "chat")
    await late.arequest(relay.http, "PUT", f"/v1/blocks/{pest.address}")
    assert await safety.store.standing(facts.id) == "ok"
    assert (await safety.store.actions(facts.id))[0].action == "restore"


async def test_established_accounts_get_the_wider_bounds(relay: SafetyRelay) -> None:
    from sqlalchemy import update

    from sottovoce.storage.schema import accounts

    account = await relay.account("veteran", "chat")
    facts = await relay.state.safety.store.account_by_address(account.app, account.handle)
    assert facts is not None
    allowance = relay.state.safety._allowance  # the bound each kind of account gets
    bounds = (limits.NEW_RECIPIENTS_PER_DAY, limits.NEW_RECIPIENTS_PER_DAY_NEW_ACCOUNT, 0)
    assert await allowance(facts.id, *bounds) == limits.NEW_RECIPIENTS_PER_DAY_NEW_ACCOUNT
    async with relay.state.repo.engine.begin() as conn:
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == facts.id)
            .values(created_day=facts.created_day - limits.NEW_ACCOUNT_DAYS)
        )
    assert await allowance(facts.id, *bounds) == limits.NEW_RECIPIENTS_PER_DAY


@pytest.mark.parametrize(
    ("address", "status"),
    [
        ("no-at-sign", 400),
        ("@chat", 400),
        ("nobody@chat", 404),
        ("x" * 5000 + "@chat", 404),
        ("ünï@çødé", 404),
    ],
)
async def test_bad_addresses_get_problems_and_change_nothing(
    relay: SafetyRelay, address: str, status: int
) -> None:
    device = await relay.account("careful", "kids", minor=True)
    for method, path in (
        ("PUT", f"/v1/blocks/{address}"),
        ("DELETE", f"/v1/blocks/{address}"),
        ("PUT", f"/v1/connections/{address}"),
        ("DELETE", f"/v1/connections/{address}"),
    ):
        answer = await device.arequest(relay.http, method, path)
        assert answer.status_code == status, (method, path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert await relay.state.safety.store.blockers_since(0, 0) == set()


async def test_blocking_or_connecting_with_oneself_is_refused(relay: SafetyRelay) -> None:
    minor = await relay.account("self", "kids", minor=True)
    for path in (f"/v1/blocks/{minor.address}", f"/v1/connections/{minor.address}"):
        answer = await minor.arequest(relay.http, "PUT", path)
        assert answer.status_code == 400
        assert answer.json()["type"] in ("cannot-block-self", "cannot-connect-self")
