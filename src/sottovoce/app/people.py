"""App routes for who is in a conversation: groups, safety numbers, devices, safety.

Each route is one SDK call (``Client.groups``, ``safety_number``/``mark_verified``,
``devices``/``accept_link``/``remove_device``, ``block``/``report``,
``security_alerts``); this module only shapes JSON for the page.
"""

from __future__ import annotations

import base64
from typing import Any

import segno
from fastapi import Body, FastAPI

from sottovoce.app.session import AppSession
from sottovoce.client.address import Address
from sottovoce.client.errors import ClientError


def _qr_data_uri(payload: bytes) -> str:
    """A PNG data URL of the QR code the CLI shows too (``sottovoce verify``)."""
    code = segno.make(base64.b64encode(payload).decode(), error="m")
    return str(code.png_data_uri(scale=5, border=2))


def add_people_routes(api: FastAPI, session: AppSession) -> None:
    # -- groups -------------------------------------------------------------------------

    @api.post("/api/groups")
    async def create_group(name: str = Body(embed=True)) -> dict[str, Any]:
        info = await session.client.groups.create(name)
        session.changed(f"#{info.name}")
        return {"id": f"#{info.name}"}

    @api.post("/api/groups/{name}/members")
    async def add_member(name: str, address: str = Body(embed=True)) -> dict[str, Any]:
        client = session.client
        try:
            info = await client.groups.add(name, address)
        except ClientError as exc:
            # Adding one's own account adds its devices that are not members yet (one
            # linked since); with none left, say why rather than "already in". As in
            # Signal and WhatsApp, a person's devices join their groups by themselves.
            if type(exc) is ClientError and str(Address.parse(address)) == client.address:
                raise ClientError(
                    f"you are in {name!r} already, on every device of {client.address}: "
                    "a device you link joins your groups by itself"
                ) from None
            raise
        session.changed(f"#{name}")
        return {"members": list(info.members)}

    @api.delete("/api/groups/{name}/members/{address}")
    async def remove_member(name: str, address: str) -> dict[str, Any]:
        info = await session.client.groups.remove(name, address)
        session.changed(f"#{name}")
        return {"members": list(info.members)}

    @api.post("/api/groups/{name}/leave")
    async def leave(name: str) -> dict[str, Any]:
        await session.client.groups.leave(name)
        session.changed(f"#{name}")
        return {"ok": True}

    @api.get("/api/groups/{name}/members")
    async def members(name: str) -> dict[str, Any]:
        client = session.client
        info = client.groups.info(name)
        return {
            "members": [
                {
                    "address": m,
                    "you": m == client.address,
                    "verified": m != client.address and client.is_verified(m),
                }
                for m in info.members
            ]
        }

    # -- verification -------------------------------------------------------------------

    @api.get("/api/verify/{peer}")
    async def safety_number(peer: str) -> dict[str, Any]:
        client = session.client
        number = await client.safety_number(peer)
        return {
            "peer": str(Address.parse(peer)),
            "groups": number.groups(),
            "qr": _qr_data_uri(number.scannable()),
            # Verified only if this is the number that was compared.
            "verified": client.is_verified(peer) and not await client.verification_lapsed(peer),
        }

    @api.get("/api/verify/{peer}/lapsed")
    async def verification_lapsed(peer: str) -> dict[str, Any]:
        """A verified contact whose key or devices changed: the page shows a banner."""
        return {"lapsed": await session.client.verification_lapsed(peer)}

    @api.post("/api/verify/{peer}")
    async def mark_verified(peer: str, digits: str = Body(embed=True)) -> dict[str, Any]:
        """The page sends the digits it showed: if the number changed meanwhile, the
        person compared another one, and nothing is marked."""
        client = session.client
        number = await client.safety_number(peer)
        if digits.replace(" ", "") != number.digits():
            raise ClientError("the safety number changed while you compared it; compare again")
        client.mark_verified(peer, number)
        session.changed(str(Address.parse(peer)))
        return {"verified": True}

    @api.post("/api/contacts/{peer}/trust")
    async def trust(peer: str) -> dict[str, Any]:
        session.client.trust_identity(peer)
        session.changed(str(Address.parse(peer)))
        return {"ok": True}

    @api.get("/api/alerts")
    async def alerts() -> dict[str, Any]:
        return {
            "alerts": [
                {
                    "id": a.id,
                    "kind": a.kind,
                    "address": a.address,
                    "detail": a.detail,
                    "attack": a.is_attack,
                    "at": a.at_ms,
                }
                for a in session.client.security_alerts()
            ]
        }

    @api.post("/api/alerts/dismiss")
    async def dismiss() -> dict[str, Any]:
        client = session.client
        client.dismiss_alerts(client.security_alerts())
        return {"ok": True}

    # -- devices ------------------------------------------------------------------------

    @api.get("/api/devices")
    async def devices() -> dict[str, Any]:
        return {
            "devices": [
                {
                    "id": d.device_id,
                    "added_day": d.added_day,
                    "this_device": d.this_device,
                    "identity": base64.b16encode(d.identity_key[:8]).decode().lower(),
                }
                for d in await session.client.devices()
            ]
        }

    @api.post("/api/devices/link")
    async def link(code: str = Body(embed=True)) -> dict[str, Any]:
        return {"device_id": await session.client.accept_link(code.strip())}

    @api.delete("/api/devices/{device_id}")
    async def remove_device(device_id: int) -> dict[str, Any]:
        await session.client.remove_device(device_id)
        return {"ok": True}

    # -- report and block ---------------------------------------------------------------

    @api.post("/api/messages/{message_id}/report")
    async def report(message_id: str, reason: str = Body(embed=True)) -> dict[str, Any]:
        filed = await session.client.report([message_id], reason)
        return {"report_id": filed.report_id, "reported": filed.reported}

    @api.post("/api/block/{peer}")
    async def block(peer: str, report: bool = Body(False, embed=True)) -> dict[str, Any]:
        await session.client.block(peer, report=report)
        session.changed(str(Address.parse(peer)))
        return {"ok": True}
