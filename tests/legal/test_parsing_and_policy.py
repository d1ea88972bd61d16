"""Pieces on their own: nesting measure, policy file, report period, in-process routes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import column, insert, table, update

from sottovoce.server.legal.documents import nesting_depth
from sottovoce.server.legal.errors import LegalConfigError
from sottovoce.server.legal.policy import load_policy, parse_policy
from sottovoce.server.legal.report import parse_period
from sottovoce.storage.schema import legal_audit
from tests.legal.world import World
from tests.support.in_process import in_process


def test_nesting_depth_ignores_brackets_inside_strings() -> None:
    assert nesting_depth(b'{"a": "[[[{{{", "b": [1, [2]]}') == 3
    assert nesting_depth(b'"\\"[[["') == 0
    assert nesting_depth(b"[" * 40) == 40


def test_default_policy_when_the_file_is_absent(tmp_path: Path) -> None:
    policy = load_policy(tmp_path)
    assert policy.home_jurisdictions == {"US"} and policy.agreements == {}


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"home_jurisdictions": ["usa"]},
        {"agreements": [{"id": "x"}]},
        {"agreements": [{"id": "x", "parties": ["GB"], "categories": ["everything"]}]},
        {"agreements": [{"id": "x", "parties": ["GB"], "exclude": {"minors": "yes"}}]},
        {"agreements": [{"id": "x", "parties": ["GB"], "exclude": {"people": []}}]},
        {"other": 1},
    ],
)
def test_a_bad_policy_is_refused_with_a_reason(bad: object) -> None:
    with pytest.raises(LegalConfigError):
        parse_policy(bad)


def test_an_unreadable_policy_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text("{not json")
    with pytest.raises(LegalConfigError, match="not readable JSON"):
        load_policy(tmp_path)


def test_report_period() -> None:
    today = date(2026, 12, 1)
    assert parse_period(None, None, today) == (date(2025, 12, 1), today)
    assert parse_period("2026-01-01", "2026-02-01", today) == (date(2026, 1, 1), date(2026, 2, 1))
    for start, end in (("2026-02-01", "2026-01-01"), ("yesterday", None)):
        with pytest.raises(ValueError):
            parse_period(start, end, today)


async def test_group_membership_as_mls_exposes_it(world: World) -> None:
    account = await world.repo.account("chat", "alice")
    other = await world.repo.account("photos", "bob")
    groups = table("mls_groups", column("id"), column("group_id"), column("epoch"))
    members = table("mls_group_members", column("group_pk"), column("device_pk"))
    async with world.repo.engine.begin() as conn:
        group_pk = (
            await conn.execute(
                insert(groups).values(group_id=b"G" * 16, epoch=7).returning(groups.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(members),
            [
                {"group_pk": group_pk, "device_pk": account.devices[0].pk},
                {"group_pk": group_pk, "device_pk": other.devices[0].pk},
            ],
        )
    request = world.request(process_type="court_order", categories=["group_membership"])
    outcome = await world.submit(world.document(request, judicial="us-court"))
    assert outcome.accepted, outcome.detail
    record = outcome.package["package"]["accounts"][0]["records"]["group_membership"]
    assert record == {
        "groups": [
            {
                "group_id": "R0dHR0dHR0dHR0dHR0dHRw==",
                "epoch": 7,
                "member_devices": 2,
                "account_devices": [1],
            }
        ]
    }


async def test_routes_in_process(tmp_path: Path) -> None:
    async with in_process(tmp_path / "relay.db") as relay:
        key = (await relay.http.get("/v1/legal/operator-key")).json()["operator_key"]
        assert len(key) == 44
        assert (tmp_path / "legal" / "operator.key").exists()
        bad = await relay.http.get("/transparency.json", params={"from": "2026-13-01"})
        assert bad.status_code == 400 and bad.json()["type"] == "bad-period"
        refused = await relay.http.post("/v1/legal/requests", content=b"[]")
        assert refused.status_code == 400 and refused.json()["reason"] == "malformed"
        report = (await relay.http.get("/transparency.json")).json()
        assert report["rejections"] == {"total": 1, "by_reason": {"malformed": 1}}
        csv_answer = await relay.http.get("/transparency.csv")
        assert csv_answer.headers["content-type"].startswith("text/csv")
        assert "rejections,,,malformed,1" in csv_answer.text
        page = await relay.http.get("/transparency")
        assert "Rejections by reason" in page.text and "<script" not in page.text
        # An entry edited into garbage is left out of the report, not a crash.
        async with relay.state.repo.engine.begin() as conn:
            await conn.execute(update(legal_audit).values(entry=b"\xff not json"))
        assert (await relay.http.get("/transparency")).status_code == 200
        after = (await relay.http.get("/transparency.json")).json()
        assert after["rejections"]["total"] == 0
        assert report["audit_head"].startswith("1:")
