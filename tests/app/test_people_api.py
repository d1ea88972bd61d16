"""Through the real app process: a group's members added and removed across apps
(adding one's own account is explained, not refused as "already in"), each member's
verification state, leaving; a device linked by its code and removed."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from sottovoce.client import Client
from tests.app.app_process import AppProcess
from tests.app.test_api import _signed_up
from tests.support.live_server import LiveServer


async def test_group_members_verification_leaving_and_devices(
    app_server: LiveServer, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    bob = await Client.create_account(tmp_path / "bob", app_server.url, "photos", f"bob-{tag}")
    carol = await Client.create_account(tmp_path / "carol", app_server.url, "chat", f"c-{tag}")
    app = AppProcess(tmp_path / "alice", app_server.url, tmp_path / "alice.log")
    app.start()
    laptop: Client | None = None
    try:
        with _signed_up(app, "chat", f"alice-{tag}") as http:
            assert http.post("/api/groups", json={"name": "trip"}).json() == {"id": "#trip"}
            for member in (bob.address, carol.address):
                added = http.post("/api/groups/trip/members", json={"address": member})
                assert added.status_code == 200, added.text
            # One's own account is in the group on every device already: said as such.
            again = http.post("/api/groups/trip/members", json={"address": f"alice-{tag}@chat"})
            assert again.status_code == 400
            assert "you are in 'trip' already" in again.json()["error"]
            assert "a device you link joins your groups by itself" in again.json()["error"]
            number = http.get(f"/api/verify/{bob.address}").json()
            verified = http.post(
                f"/api/verify/{bob.address}", json={"digits": "".join(number["groups"])}
            )
            assert verified.json() == {"verified": True}
            members = http.get("/api/groups/trip/members").json()["members"]
            states = {m["address"]: (m["you"], m["verified"]) for m in members}
            assert states == {
                f"alice-{tag}@chat": (True, False),
                bob.address: (False, True),
                carol.address: (False, False),
            }

            removed = http.delete(f"/api/groups/trip/members/{carol.address}")
            assert removed.status_code == 200, removed.text
            assert carol.address not in removed.json()["members"]
            assert http.post("/api/groups/trip/leave").json() == {"ok": True}
            ids = [c["id"] for c in http.get("/api/conversations").json()["conversations"]]
            assert "#trip" not in ids

            pending = await Client.begin_link(app_server.url)
            finishing = asyncio.create_task(
                Client.finish_link(pending, tmp_path / "laptop", app_server.url)
            )
            linked = await asyncio.to_thread(
                http.post, "/api/devices/link", json={"code": pending.code_text}
            )
            assert linked.json() == {"device_id": 2}
            laptop = await finishing
            devices = http.get("/api/devices").json()["devices"]
            assert [(d["id"], d["this_device"]) for d in devices] == [(1, True), (2, False)]
            assert http.delete("/api/devices/2").json() == {"ok": True}
            assert [d["id"] for d in http.get("/api/devices").json()["devices"]] == [1]
            assert http.delete("/api/devices/1").status_code == 400  # not this one
    finally:
        app.stop()
        for client in (bob, carol, *([laptop] if laptop else [])):
            await client.close()
