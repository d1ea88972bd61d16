"""Prekey upload, status and the bundle claim that hands each one-time key out once."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from sottovoce.crypto import signing
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.public.identity import PublicIdentity
from sottovoce.protocol.public.prekeys import PrekeyKind, verify_prekey_signature
from sottovoce.server import limits
from sottovoce.server.encoding import b64decode, b64encode
from sottovoce.server.problems import Problem
from sottovoce.server.routes.accounts import lookup_account
from sottovoce.server.routes.dependencies import authenticated_device
from sottovoce.server.routes.transparency import TransparencyView, transparency_view
from sottovoce.server.state import ServerState, key_directory, server_state
from sottovoce.server.transparency.directory import KeyDirectory
from sottovoce.storage.repository import DeviceRecord, DuplicatePrekey, PrekeyRecord

X25519_LEN = 32
MLKEM1024_LEN = 1568

router = APIRouter()


class SignedKey(BaseModel):
    id: int = Field(ge=0, le=limits.MAX_KEY_ID)
    public: str = Field(max_length=4096)
    signature: str = Field(max_length=128)


class UnsignedKey(BaseModel):
    id: int = Field(ge=0, le=limits.MAX_KEY_ID)
    public: str = Field(max_length=64)


class UploadPrekeys(BaseModel):
    signed_prekey: SignedKey | None = None
    kem_last_resort: SignedKey | None = None
    one_time_prekeys: list[UnsignedKey] = Field(
        default_factory=list, max_length=limits.MAX_PREKEYS_PER_UPLOAD
    )
    kem_one_time_prekeys: list[SignedKey] = Field(
        default_factory=list, max_length=limits.MAX_PREKEYS_PER_UPLOAD
    )


class PrekeyCounts(BaseModel):
    one_time_prekeys: int
    kem_one_time_prekeys: int


class PrekeyStatus(PrekeyCounts):
    signed_prekey_id: int | None
    kem_last_resort_id: int | None


class ClaimRequest(BaseModel):
    address: str = Field(max_length=80)
    device_ids: list[int] | None = Field(default=None, max_length=limits.MAX_CLAIM_DEVICES)


class KeyView(BaseModel):
    id: int
    public: str
    signature: str


class OneTimeKeyView(BaseModel):
    """PQXDH's one-time curve prekeys are unsigned (§2.4): just ``{id, public}``."""

    id: int
    public: str


class KemKeyView(BaseModel):
    id: int
    public: str
    signature: str
    last_resort: bool


class BundleView(BaseModel):
    device_id: int
    identity: str
    signed_prekey: KeyView
    kem_prekey: KemKeyView
    one_time_prekey: OneTimeKeyView | None


class ClaimResponse(BaseModel):
    address: str
    account_key: str
    device_list: str
    bundles: list[BundleView]
    # The log's proofs for this key and list, as with an account look-up.
    transparency: TransparencyView


def _signed(
    key: SignedKey, identity: PublicIdentity, kind: PrekeyKind, key_len: int, field: str
) -> PrekeyRecord:
    public = b64decode(key.public, f"{field}.public")
    signature = b64decode(key.signature, f"{field}.signature")
    if len(public) != key_len:
        raise Problem(400, "bad-prekey", f"{field}.public must be {key_len} bytes")
    if len(signature) != signing.SIGNATURE_LEN:
        raise Problem(
            400, "bad-prekey-signature", f"{field}.signature must be {signing.SIGNATURE_LEN} bytes"
        )
    try:
        verify_prekey_signature(identity, kind, key.id, public, signature)
    except ProtocolError as exc:
        raise Problem(400, "bad-prekey-signature", f"{field}: {exc}") from exc
    return PrekeyRecord(key.id, public, signature)


@router.put("/v1/devices/self/prekeys", response_model=PrekeyCounts)
async def upload_prekeys(
    body: UploadPrekeys,
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> PrekeyCounts:
    identity = PublicIdentity.from_bytes(device.identity)
    signed = (
        _signed(body.signed_prekey, identity, PrekeyKind.SIGNED_EC, X25519_LEN, "signed_prekey")
        if body.signed_prekey
        else None
    )
    last_resort = (
        _signed(
            body.kem_last_resort,
            identity,
            PrekeyKind.KEM_LAST_RESORT,
            MLKEM1024_LEN,
            "kem_last_resort",
        )
        if body.kem_last_resort
        else None
    )
    one_time = []
    for i, key in enumerate(body.one_time_prekeys):
        public = b64decode(key.public, f"one_time_prekeys[{i}].public")
        if len(public) != X25519_LEN:
            raise Problem(400, "bad-prekey", f"one_time_prekeys[{i}].public must be 32 bytes")
        one_time.append(PrekeyRecord(key.id, public, None))
    kem_one_time = [
        _signed(key, identity, PrekeyKind.KEM_ONE_TIME, MLKEM1024_LEN, f"kem_one_time_prekeys[{i}]")
        for i, key in enumerate(body.kem_one_time_prekeys)
    ]
    for name, records in (("one_time_prekeys", one_time), ("kem_one_time_prekeys", kem_one_time)):
        if len({r.key_id for r in records}) != len(records):
            raise Problem(400, "duplicate-prekey", f"{name} repeats a key id")
    held = await state.repo.prekey_status(device.pk)
    if (held["one_time_prekeys"] or 0) + len(one_time) > limits.MAX_PREKEYS_HELD or (
        held["kem_one_time_prekeys"] or 0
    ) + len(kem_one_time) > limits.MAX_PREKEYS_HELD:
        raise Problem(
            400, "too-many-prekeys", f"a device holds at most {limits.MAX_PREKEYS_HELD} of each"
        )
    try:
        counts = await state.repo.store_prekeys(
            device.pk,
            signed_ec=signed,
            kem_last_resort=last_resort,
            one_time_ec=one_time,
            one_time_kem=kem_one_time,
        )
    except DuplicatePrekey as exc:
        raise Problem(409, "duplicate-prekey", str(exc)) from exc
    return PrekeyCounts(**counts)


@router.get("/v1/devices/self/prekeys", response_model=PrekeyStatus)
async def prekey_status(
    device: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
) -> PrekeyStatus:
    return PrekeyStatus(**await state.repo.prekey_status(device.pk))  # type: ignore[arg-type]


@router.post("/v1/keys/claim", response_model=ClaimResponse)
async def claim(
    body: ClaimRequest,
    claimer: DeviceRecord = Depends(authenticated_device),
    state: ServerState = Depends(server_state),
    directory: KeyDirectory = Depends(key_directory),
) -> ClaimResponse:
    account = await lookup_account(state, body.address)
    await state.safety.require_reachable(claimer, account, "adults_may_contact")
    targets = [
        d for d in account.devices if body.device_ids is None or d.device_id in body.device_ids
    ]
    bundles = await state.repo.claim_bundles(targets)
    for target in targets:
        # Wakes the device's WebSocket, which re-checks its prekey count.
        await state.fanout.publish(target.pk)
    views = [
        BundleView(
            device_id=b.device_id,
            identity=b64encode(b.identity),
            signed_prekey=KeyView(
                id=b.signed_prekey.key_id,
                public=b64encode(b.signed_prekey.public),
                signature=b64encode(b.signed_prekey.signature or b""),
            ),
            kem_prekey=KemKeyView(
                id=b.kem_prekey.key_id,
                public=b64encode(b.kem_prekey.public),
                signature=b64encode(b.kem_prekey.signature or b""),
                last_resort=b.kem_last_resort,
            ),
            one_time_prekey=None
            if b.one_time_prekey is None
            else OneTimeKeyView(
                id=b.one_time_prekey.key_id, public=b64encode(b.one_time_prekey.public)
            ),
        )
        for b in bundles
    ]
    return ClaimResponse(
        address=account.address,
        account_key=b64encode(account.account_key),
        device_list=b64encode(account.device_list),
        bundles=views,
        transparency=await transparency_view(directory, account.id),
    )
