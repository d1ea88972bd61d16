"""Prekey bundles from a claim (``POST /v1/keys/claim``), checked against the device list.

The server chooses which keys it hands out, so a bundle is trusted only as far
as signatures reach: its identity must be the one the contact's device list
(signed by the pinned account key) names for that device, and its prekey
signatures must verify under that identity (``PreKeyBundle.verify``, PQXDH
§3.3, run by ``Session.initiate``).
"""

from __future__ import annotations

from collections.abc import Collection

from sottovoce.client import server_json as sj
from sottovoce.client.errors import MalformedResponse, SecurityError
from sottovoce.protocol.bundle import PreKeyBundle
from sottovoce.protocol.public.device_list import DeviceList


def bundles_from_claim(
    claim: dict[str, object], devices: DeviceList, wanted: Collection[int]
) -> dict[int, PreKeyBundle]:
    """The claimed bundles by device id, each bound to its device-list identity."""
    bundles: dict[int, PreKeyBundle] = {}
    for i, raw in enumerate(sj.as_list(sj.field(claim, "bundles", "claim"), "claim.bundles")):
        where = f"claim.bundles[{i}]"
        obj = sj.as_object(raw, where)
        device_id = sj.integer(obj, "device_id", where)
        if device_id not in wanted or device_id in bundles:
            raise MalformedResponse(f"{where} is for device {device_id}, which was not asked for")
        entry = devices.device(device_id)
        if entry is None or sj.binary(obj, "identity", where) != entry.identity.to_bytes():
            raise SecurityError(
                f"the server sent a key for {devices.address} device {device_id} "
                "that its owner did not sign"
            )
        signed = sj.child(obj, "signed_prekey", where)
        kem = sj.child(obj, "kem_prekey", where)
        one_time_raw = obj.get("one_time_prekey")
        one_time = None if one_time_raw is None else sj.as_object(one_time_raw, where)
        bundles[device_id] = PreKeyBundle(
            identity=entry.identity,
            signed_prekey_id=sj.integer(signed, "id", where + ".signed_prekey"),
            signed_prekey=sj.binary(signed, "public", where + ".signed_prekey"),
            signed_prekey_signature=sj.binary(signed, "signature", where + ".signed_prekey"),
            kem_prekey_id=sj.integer(kem, "id", where + ".kem_prekey"),
            kem_prekey=sj.binary(kem, "public", where + ".kem_prekey"),
            kem_prekey_signature=sj.binary(kem, "signature", where + ".kem_prekey"),
            kem_prekey_last_resort=sj.boolean(kem, "last_resort", where + ".kem_prekey"),
            one_time_prekey_id=(
                None if one_time is None else sj.integer(one_time, "id", where + ".one_time")
            ),
            one_time_prekey=(
                None if one_time is None else sj.binary(one_time, "public", where + ".one_time")
            ),
        )
    return bundles
