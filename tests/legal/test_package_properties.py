"""Property: whatever the request and whatever the server holds, a package carries
only whitelisted fields, and every requested category is produced or explained."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import tempfile
from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import column, insert, inspect, table

from sottovoce.protocol.public.legal import canonical_json, verify_package
from sottovoce.server.legal.compellability import (
    COMPELLABLE,
    HELD,
    NEEDS_JUDICIAL_AUTHORIZATION,
    Category,
    ProcessType,
)
from sottovoce.server.legal.fields import ALLOWED_PATHS, field_paths
from tests.legal.world import World, make_world, queue_for

_loop = asyncio.new_event_loop()
_world: World | None = None
_counter = itertools.count()


def world() -> World:
    global _world
    if _world is None:
        _world = _loop.run_until_complete(make_world(Path(tempfile.mkdtemp(prefix="legal-prop-"))))
    return _world


ACCOUNT = st.fixed_dictionaries(
    {
        "app": st.sampled_from(["chat", "photos"]),
        "minor": st.booleans(),
        "devices_in_groups": st.integers(0, 3),
        "queued": st.integers(0, 4),
        "queued_days_ago": st.integers(0, 60),
        "exists": st.booleans(),
    }
)
PROCESS = st.sampled_from(
    [
        ProcessType.SUBPOENA,
        ProcessType.COURT_ORDER,
        ProcessType.WARRANT,
        ProcessType.EMERGENCY,
        ProcessType.PRESERVATION,
    ]
)


async def _groups(w: World, app: str, handle: str, count: int) -> None:
    def has(sync_conn: object) -> bool:
        return inspect(sync_conn).has_table("mls_group_members")

    async with w.repo.engine.begin() as conn:
        if not await conn.run_sync(has):
            return
    account = await w.repo.account(app, handle)
    assert account is not None
    groups = table("mls_groups", column("id"), column("group_id"), column("epoch"))
    members = table("mls_group_members", column("group_pk"), column("device_pk"))
    async with w.repo.engine.begin() as conn:
        for _ in range(count):
            result = await conn.execute(
                insert(groups)
                .values(group_id=secrets.token_bytes(16), epoch=3)
                .returning(groups.c.id)
            )
            await conn.execute(
                insert(members).values(
                    group_pk=result.scalar_one(), device_pk=account.devices[0].pk
                )
            )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    accounts=st.lists(ACCOUNT, min_size=1, max_size=4),
    process=PROCESS,
    data=st.data(),
    range_start=st.integers(0, 400),
    range_length=st.integers(0, 400),
    preserved_first=st.booleans(),
)
def test_package_fields_are_a_subset_of_the_whitelist(
    accounts: list[dict],
    process: ProcessType,
    data: st.DataObject,
    range_start: int,
    range_length: int,
    preserved_first: bool,
) -> None:
    w = world()
    allowed = sorted(COMPELLABLE[process], key=lambda c: c.value)
    categories = data.draw(st.lists(st.sampled_from(allowed), min_size=1, unique=True))

    async def run() -> dict:
        names = []
        for spec in accounts:
            handle = f"p{next(_counter)}"
            names.append({"app": spec["app"], "handle": handle})
            if not spec["exists"]:
                continue
            await w.account(spec["app"], handle, minor=spec["minor"])
            now_ms = int(w.now.timestamp() * 1000)
            await queue_for(
                w,
                spec["app"],
                handle,
                spec["queued"],
                now_ms - spec["queued_days_ago"] * 86_400_000,
            )
            await _groups(w, spec["app"], handle, spec["devices_in_groups"])
        start = date(2026, 12, 1) - timedelta(days=range_start)
        request = w.request(
            process_type=process.value,
            issuing_authority="us-ems" if process is ProcessType.EMERGENCY else "us-fbi",
            accounts=names,
            categories=[c.value for c in categories],
            date_range={
                "from": start.isoformat(),
                "to": (start + timedelta(days=range_length)).isoformat(),
            },
            emergency_justification="imminent danger" if process is ProcessType.EMERGENCY else None,
            preserve_days=30 if process is ProcessType.PRESERVATION else None,
        )
        if preserved_first:  # a preservation of any held categories came before
            held = [c.value for c in COMPELLABLE[ProcessType.PRESERVATION] if c in HELD]
            earlier = w.request(
                process_type="preservation", accounts=names, categories=held, preserve_days=60
            )
            assert (await w.submit(w.document(earlier))).accepted
        issuer = request["issuing_authority"]
        judicial = "us-court" if process in NEEDS_JUDICIAL_AUTHORIZATION else None
        outcome = await w.submit(w.document(request, issuer=issuer, judicial=judicial))
        assert outcome.accepted, outcome.detail
        assert outcome.package is not None
        return outcome.package

    document = _loop.run_until_complete(run())
    package = verify_package(canonical_json(document), w.desk.operator_key.public).body
    for account in package["accounts"]:
        records = [account["records"]] + [
            p["records"] for p in account.get("preserved_records", [])
        ]
        paths = {f"{c}.{p}" for rs in records for c, r in rs.items() for p in field_paths(r)}
        assert paths <= ALLOWED_PATHS
        explained = {u["category"] for u in account["unavailable"]}
        produced = set(account["records"]) | set(account.get("preserved_categories", []))
        assert produced.isdisjoint(explained)
        assert produced | explained == {c.value for c in categories}
        if process is ProcessType.PRESERVATION:
            assert account["records"] == {}
    assert set(Category) >= {Category(c) for c in package["request"]["categories_requested"]}
