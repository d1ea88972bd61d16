"""Verified reports drive automatic action; the operator reviews and acts through
``sottovoce moderation`` on the server's database, and every action is audited."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from sottovoce.cli.main import app
from sottovoce.client.errors import ServerError
from sottovoce.server import limits
from tests.safety.sdk import MakeClient, make_client, safety_server
from tests.support.live_server import LiveServer

__all__ = ["make_client", "safety_server"]
runner = CliRunner()


def moderation_now(server: LiveServer, *args: str) -> tuple[int, str, str]:
    db = server.db_url or str(server.db_path)
    result = runner.invoke(app, ["moderation", *args, "--db", db])
    return result.exit_code, result.stdout, result.stderr


async def moderation(server: LiveServer, *args: str) -> tuple[int, str, str]:
    """The operator's command, run beside the test's event loop as its own process
    would run it."""
    return await asyncio.to_thread(moderation_now, server, *args)


async def test_verified_reports_from_distinct_accounts_restrict_then_suspend(
    make_client: MakeClient, safety_server: LiveServer
) -> None:
    spammer = await make_client("spammer")
    victims = [
        await make_client(f"victim{i}", "photos") for i in range(limits.SUSPEND_AFTER_REPORTERS)
    ]
    sent = [await spammer.send(v.address, f"cheap pills #{i}") for i, v in enumerate(victims)]
    standings = []
    for victim, message in zip(victims, sent, strict=True):
        await victim.fetch()
        await victim.report([message.message_id], "spam")
        code, out, err = await moderation(safety_server, "standing", spammer.address)
        assert code == 0, err
        standings.append(out.split(": ")[-1].strip())
    restrict_at = limits.RESTRICT_AFTER_REPORTERS - 1
    assert standings[:restrict_at] == ["ok"] * restrict_at
    assert standings[restrict_at] == "restricted"
    assert standings[-1] == "suspended"
    with pytest.raises(ServerError) as refused:
        await spammer.send(victims[0].address, "still here?")
    assert refused.value.status == 403
    assert refused.value.problem_type == "account-suspended"
    code, out, _ = await moderation(safety_server, "audit", spammer.address)
    assert code == 0
    assert "automatic" in out and "suspend" in out and "restrict" in out
    assert "verified_reports_from" in out


async def test_the_operator_reviews_a_verified_report_and_acts_on_it(
    make_client: MakeClient, safety_server: LiveServer
) -> None:
    stranger = await make_client("stranger")
    bob = await make_client("bob", "photos")
    sent = await stranger.send(bob.address, "send me a photo of yourself")
    await bob.fetch()
    assert bob.is_request(stranger.address)
    filed = await bob.report([sent.message_id], "grooming")
    await bob.block(stranger.address)

    code, out, err = await moderation(safety_server, "reports", "--account", stranger.address)
    assert code == 0, err
    assert f"report {filed.report_id}" in out
    assert "send me a photo of yourself" in out and "grooming" in out
    assert bob.address in out and stranger.address in out

    code, out, err = await moderation(
        safety_server,
        "act",
        stranger.address,
        "suspend",
        "--reason",
        "grooming, confirmed",
        "--report",
        str(filed.report_id),
    )
    assert code == 0, err
    with pytest.raises(ServerError) as refused:
        await stranger.fetch()
    assert refused.value.status == 403
    with pytest.raises(ServerError):  # the live connection is refused too
        async for _ in stranger.listen():
            pass
    assert (
        await moderation(safety_server, "act", stranger.address, "restore", "--reason", "appeal")
    )[0] == 0
    assert await stranger.fetch() == []
    code, out, _ = await moderation(safety_server, "audit", stranger.address)
    assert "grooming, confirmed" in out and "appeal" in out and "operator" in out
    assert f'"report_id": {filed.report_id}' in out


async def test_a_warned_account_sees_why(
    make_client: MakeClient, safety_server: LiveServer
) -> None:
    account = await make_client("rude")
    warned = await moderation(safety_server, "act", account.address, "warn", "--reason", "be kind")
    assert warned[0] == 0
    status = await account.safety_status()
    assert (status.standing, status.reason) == ("warned", "be kind")


def test_operator_mistakes_are_one_line_errors(safety_server: LiveServer) -> None:
    for args in (
        ("act", "nobody@chat", "suspend", "--reason", "x"),
        ("act", "nobody@chat", "erase", "--reason", "x"),
        ("reports", "--account", "nobody@chat"),
    ):
        code, _, err = moderation_now(safety_server, *args)
        assert code == 1, err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
