"""The client side of key transparency: verify every key used, monitor one's own account.

The device pins the log's key (at account creation, or handed over when it was
linked) and follows the whole log with a :class:`LogFollower`: on every sync it
reads the entries appended since its last one and checks that they extend what
it read before into the root of the newest signed head. While reading it keeps,
per account commitment, the latest logged account key and device-list version,
and checks every entry of its own account against what the account key signed.

A lookup of a contact is then used only if its entries are included in a head
consistent with the device's (RFC 9162 §2.1.3, §2.1.4), open to the contact's
address, match the key and list served, and are the latest the log holds for
that account (docs/transparency.md, "What a client verifies"). Anything else is a
security alert (``alerts``) and the key is not used.

A head a contact gossiped (``client.head_gossip``) must be one log with the
device's own as well (``check_gossiped``): it is how a split view shown to this
device, or to the contact, from the very start is found.

State (one local-store record, kind ``kt``)::

    {"log_key", "head", "heads": [...], "follower",
     "latest": {commitment hex: {"k"?, "v"?, "d"?}},
     "own_salt"?, "own_versions": [...], "own_list"?, "pins": {address: commitment hex}}
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sottovoce.client import server_json as sj
from sottovoce.client.address import Address
from sottovoce.client.alerts import Alerts, SecurityAlert
from sottovoce.client.errors import ClientError, MalformedResponse, ServerError
from sottovoce.client.store import Store
from sottovoce.client.transport import Transport
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.log_follower import LogFollower
from sottovoce.protocol.public.device_list import DeviceList, parse_device_list
from sottovoce.protocol.public.merkle import ConsistencyProof, InclusionProof
from sottovoce.protocol.public.transparency_entry import (
    AccountClosedEntry,
    AccountKeyEntry,
    DeviceListEntry,
    TransparencyEntry,
    account_commitment,
    parse_entry,
    verify_account_commitment,
)
from sottovoce.protocol.public.tree_head import (
    SignedTreeHead,
    parse_signed_tree_head,
    verify_consistent_heads,
)

KT = "kt"
_SELF = "self"
# Entries per page when catching up (the server's MAX_LOG_ENTRIES_PER_PAGE).
_PAGE = 1000
# Signed heads kept as evidence (two that contradict each other prove a fork):
# at one epoch every few seconds, the last 64 cover any recent split view.
KEPT_HEADS = 64


@dataclass(frozen=True, slots=True)
class Lookup:
    """An account's key and device list as served, with the log view that came with them."""

    address: str
    account_key: bytes
    signed_list: bytes
    devices: DeviceList
    transparency: dict[str, object]
    # The key pinned for the address before this lookup, if any.
    pinned_key: bytes | None = None


def _diff(old: DeviceList | None, new: DeviceList) -> str:
    before = set() if old is None else set(old.device_ids())
    added = sorted(new.device_ids() - before)
    removed = sorted(before - new.device_ids())
    parts = []
    if added:
        parts.append(f"device {', '.join(map(str, added))} added")
    if removed:
        parts.append(f"device {', '.join(map(str, removed))} removed")
    return "; ".join(parts) or "devices re-signed unchanged"


class LogMonitor:
    def __init__(
        self, store: Store, transport: Transport, alerts: Alerts, account_key: bytes
    ) -> None:
        self._store = store
        self._transport = transport
        self._alerts = alerts
        self._account_key = account_key
        # One catch-up at a time: two lookups running at once must not each read the
        # state, follow the log, and save over the other's newer view.
        self._following = asyncio.Lock()
        # The stored newest head, kept in memory: read on every send (client.head_gossip)
        # without parsing the whole state. Every write of the state goes through _save.
        self._held_bytes: bytes | None = None
        self._held_read = False

    # -- state ---------------------------------------------------------------------

    def _state(self) -> dict[str, object]:
        return self._store.get_json(KT, _SELF) or {}

    def _save(self, state: dict[str, object]) -> None:
        with self._store.transaction():
            self._store.put_json(KT, _SELF, state)
        self._held_bytes = sj.binary(state, "head", "kt") if "head" in state else None
        self._held_read = True

    def _log_key(self, state: dict[str, object]) -> bytes:
        if "log_key" not in state:
            raise ClientError("this device has not pinned the server's transparency log key")
        return sj.binary(state, "log_key", "kt")

    async def _pinned_state(self) -> dict[str, object]:
        """The state, pinning the log key first in a profile made before the log existed."""
        state = self._state()
        if "log_key" not in state:
            await self.pin_log_key()
            state = self._state()
        return state

    def _head(self, state: dict[str, object]) -> SignedTreeHead | None:
        if "head" not in state:
            return None
        return parse_signed_tree_head(sj.binary(state, "head", "kt"), self._log_key(state))

    def export(self) -> dict[str, object]:
        """What a newly linked device needs to continue exactly where this one is."""
        return self._state()

    def adopt(self, state: dict[str, object]) -> None:
        self._save(state)

    async def pin_log_key(self) -> None:
        """Trust on first use of the log key, when the account is created."""
        answer = await self._transport.request("GET", "/v1/transparency/head")
        self._save(
            {
                "log_key": sj.string(answer, "log_key", "head"),
                "latest": {},
                "own_versions": [1],
                "pins": {},
            }
        )

    def record_own_list(self, signed_list: bytes, version: int) -> None:
        """A list this device signed itself: no notice when the log shows it."""
        state = self._state()
        versions = [int(str(v)) for v in sj.as_list(state.get("own_versions", []), "kt")]
        state["own_versions"] = sorted({*versions, version})
        state["own_list"] = sj.b64(signed_list)
        self._save(state)

    def latest_own_version(self) -> int:
        """The newest version of this account's device list this device has published
        or seen logged (0 before any): a change to follow in its groups."""
        versions = sj.as_list(self._state().get("own_versions", []), "kt")
        return max((int(str(v)) for v in versions), default=0)

    # -- following the log -----------------------------------------------------------

    async def sync(self) -> None:
        """Catch up with the newest head; raise :class:`SecurityAlert` on anything wrong."""
        state = await self._pinned_state()
        log_key = self._log_key(state)
        async with self._following:
            answer = await self._transport.request("GET", "/v1/transparency/head")
            try:
                head = parse_signed_tree_head(sj.binary(answer, "head", "head"), log_key)
            except ProtocolError as exc:
                raise self._alerts.raise_alert(
                    "log-fork", self._transport.address, f"the server's tree head fails: {exc}"
                ) from exc
            await self._advance(self._state(), head)

    async def _advance(self, state: dict[str, object], head: SignedTreeHead) -> None:
        held = self._head(state)
        if held is not None:
            if head.epoch < held.epoch:
                return
            if head.epoch == held.epoch and head.head == held.head:
                return
            await self._check_consistent(held, head)
        follower = (
            LogFollower.from_bytes(sj.binary(state, "follower", "kt"))
            if "follower" in state
            else LogFollower()
        )
        if head.tree_size < follower.size:
            raise self._fork(f"epoch {head.epoch} covers fewer entries than this device read")
        entries: list[bytes] = []
        while follower.size + len(entries) < head.tree_size:
            start = follower.size + len(entries)
            end = min(head.tree_size, start + _PAGE)
            page = await self._transport.request(
                "GET", f"/v1/transparency/entries?start={start}&end={end}"
            )
            got = [
                sj.unb64(str(e), "entries")
                for e in sj.as_list(sj.field(page, "entries", "entries"), "entries")
            ]
            if not got:
                raise MalformedResponse("the server returned no log entries")
            entries.extend(got[: head.tree_size - start])
        follower.extend(entries)
        if follower.root() != head.root_hash:
            raise self._fork(
                f"the log's entries do not add up to the root of epoch {head.epoch}: "
                "the server rewrote entries this device already read, or shows it a forked log"
            )
        latest = dict(sj.as_object(state.get("latest", {}), "kt.latest"))
        parsed = []
        for raw in entries:
            try:
                parsed.append(parse_entry(raw))
            except ProtocolError as exc:
                raise self._fork(f"the log holds an entry that does not parse: {exc}") from exc
        for entry in parsed:
            _index(latest, entry)
        # Saved over the state as it is now: what the awaits above let other calls
        # record (this device's own list versions) stays.
        kept = sj.as_list(state.get("heads", []), "kt.heads")
        state = self._state()
        state["latest"] = latest
        state["follower"] = sj.b64(follower.to_bytes())
        state["head"] = sj.b64(head.to_bytes())
        state["heads"] = [*kept, sj.b64(head.to_bytes())][-KEPT_HEADS:]
        self._save(state)
        await self._monitor_own(parsed)

    async def _check_consistent(
        self, old: SignedTreeHead, new: SignedTreeHead, witness: str | None = None
    ) -> None:
        """RFC 9162 §2.1.4: one log, by the server's consistency proof (none is needed
        between heads of one size). ``witness`` is the contact who gossiped ``new``: a
        fork is then reported about them, with both heads as the evidence."""
        small, large = (old, new) if old.tree_size <= new.tree_size else (new, old)
        evidence = (old.to_bytes(), new.to_bytes())
        problem = (
            f"heads {old.describe()} and {new.describe()} are not one log"
            if witness is None
            else f"{witness} holds the log's head {new.describe()}, which this device's "
            f"{old.describe()} contradicts: the server shows you two different logs"
        )
        try:
            if small.tree_size == large.tree_size:
                proof = ConsistencyProof(small.tree_size, large.tree_size, ())
            else:
                answer = await self._transport.request(
                    "GET",
                    "/v1/transparency/consistency"
                    f"?first={small.tree_size}&second={large.tree_size}",
                )
                proof = ConsistencyProof.from_bytes(sj.binary(answer, "proof", "consistency"))
            verify_consistent_heads(old, new, proof)
        except ProtocolError as exc:
            raise self._fork(f"{problem}: {exc}", evidence, witness) from exc
        except ServerError as exc:
            # Both heads carry the log's signature, so an honest server can prove them
            # consistent; refusing to (4xx) for a head it signed is refusing to answer
            # for a fork. Anything else is an outage, left to the caller.
            if witness is None or not 400 <= exc.status < 500:
                raise
            raise self._fork(
                f"{problem}: the server refuses a consistency proof ({exc.status})",
                evidence,
                witness,
            ) from exc

    def _fork(
        self, detail: str, evidence: tuple[bytes, ...] = (), about: str | None = None
    ) -> SecurityAlert:
        return self._alerts.raise_alert(
            "log-fork", about or self._transport.address, detail, evidence
        )

    # -- heads gossiped by contacts (client.head_gossip) -------------------------------

    def foreign_log(self, witness: str, detail: str) -> SecurityAlert:
        """Record that contact ``witness`` gossiped a head of another log (``foreign-log``)."""
        return self._alerts.raise_alert("foreign-log", witness, detail)

    def parse_head(self, data: bytes) -> SignedTreeHead:
        """A head as the log's pinned key signed it; :class:`ProtocolError` otherwise."""
        return parse_signed_tree_head(data, self._log_key(self._state()))

    async def check_gossiped(self, witness: str, head: SignedTreeHead) -> None:
        """Check a head that contact ``witness`` verified against this device's view.

        A newer one first makes the device catch up (``sync``: its LogFollower reads
        the entries up to the server's newest head); then the two must be one log
        (``_check_consistent``). A head this device verified itself settles at once.
        A fork raises :class:`SecurityAlert` (kind ``log-fork``, both heads kept)."""
        held = self._head(await self._pinned_state())
        if held is None or head.epoch > held.epoch:
            await self.sync()
            held = self._head(self._state())
        if held is None or head.head == held.head:
            return
        if sj.b64(head.to_bytes()) in sj.as_list(self._state().get("heads", []), "kt.heads"):
            return  # one this device verified itself
        await self._check_consistent(held, head, witness)

    # -- one's own account -------------------------------------------------------------

    async def own_salt(self) -> bytes:
        state = self._state()
        if "own_salt" in state:
            return sj.binary(state, "own_salt", "kt")
        target = Address.parse(self._transport.address)
        view = await self._transport.request("GET", f"/v1/accounts/{target.app}/{target.handle}")
        salt = sj.binary(sj.child(view, "transparency", "account"), "salt", "transparency")
        state = self._state()
        state["own_salt"] = sj.b64(salt)
        self._save(state)
        return salt

    async def _monitor_own(self, entries: list[TransparencyEntry]) -> None:
        """Every entry of this device's own account must be one its account key made."""
        address = self._transport.address
        commitment = account_commitment(address, await self.own_salt())
        mine = [e for e in entries if e.account == commitment]
        if not mine:
            return
        state = self._state()
        known = {int(str(v)) for v in sj.as_list(state.get("own_versions", []), "kt")}
        previous = (
            parse_device_list(sj.binary(state, "own_list", "kt"), self._account_key)
            if "own_list" in state
            else None
        )
        notices: list[str] = []
        for entry in mine:
            if isinstance(entry, AccountKeyEntry) and entry.account_key != self._account_key:
                raise self._alerts.raise_alert(
                    "key-mismatch",
                    address,
                    "the log holds an account key for your account that is not yours",
                )
            if isinstance(entry, AccountClosedEntry):
                raise self._alerts.raise_alert(
                    "key-mismatch", address, "the log says your account was closed"
                )
            if isinstance(entry, DeviceListEntry):
                devices, signed = await self._own_logged_list(entry)
                if entry.version not in known:
                    notices.append(
                        f"device list version {entry.version}: {_diff(previous, devices)}"
                    )
                    known.add(entry.version)
                previous = devices
                state["own_list"] = sj.b64(signed)
        state["own_versions"] = sorted(known)
        self._save(state)
        for notice in notices:
            self._alerts.record("own-devices", address, notice)

    async def _own_logged_list(self, entry: DeviceListEntry) -> tuple[DeviceList, bytes]:
        address = self._transport.address
        target = Address.parse(address)
        try:
            answer = await self._transport.request(
                "GET",
                f"/v1/transparency/device-lists/{target.app}/{target.handle}/{entry.version}",
            )
            signed = sj.binary(answer, "device_list", "device list")
            entry.verify_device_list(signed)
            devices = parse_device_list(signed, self._account_key)
        except (ProtocolError, ServerError, MalformedResponse) as exc:
            raise self._alerts.raise_alert(
                "ghost-device",
                address,
                f"the log holds device list version {entry.version} for your account, "
                f"which your account key did not sign ({exc})",
            ) from exc
        if devices.address != address or devices.version != entry.version:
            raise self._alerts.raise_alert(
                "ghost-device",
                address,
                f"the log's device list version {entry.version} is not your account's",
            )
        return devices, signed

    # -- lookups ------------------------------------------------------------------------

    async def verify(self, lookup: Lookup) -> None:
        """Use ``lookup`` only if the log proves it (see the module docstring)."""
        tv = lookup.transparency
        address = lookup.address
        state = await self._pinned_state()
        try:
            head = parse_signed_tree_head(
                sj.binary(tv, "head", "transparency"), self._log_key(state)
            )
            salt = sj.binary(tv, "salt", "transparency")
            key_entry = self._proven(head, sj.child(tv, "account_key", "transparency"))
            list_entry = self._proven(head, sj.child(tv, "device_list", "transparency"))
        except (ProtocolError, MalformedResponse) as exc:
            raise self._mismatch(address, f"the log's proof for it fails: {exc}") from exc
        if not isinstance(key_entry, AccountKeyEntry) or not isinstance(
            list_entry, DeviceListEntry
        ):
            raise self._mismatch(address, "the log entries served are of the wrong kind")
        try:
            verify_account_commitment(key_entry.account, address, salt)
            verify_account_commitment(list_entry.account, address, salt)
        except ProtocolError as exc:
            raise self._mismatch(address, f"the logged entries are not its own: {exc}") from exc
        if key_entry.account_key != lookup.account_key:
            raise self._mismatch(address, "the account key served is not the one the log holds")
        try:
            list_entry.verify_device_list(lookup.signed_list)
        except ProtocolError as exc:
            raise self._mismatch(address, f"the logged entries are not these keys: {exc}") from exc
        if list_entry.version != lookup.devices.version:
            raise self._mismatch(address, "the device list served is not the logged version")
        # Bring the device's view up to (at least) this head, checking consistency.
        held = self._head(state)
        if held is None or held.tree_size < head.tree_size or held.epoch < head.epoch:
            await self.sync()
            held = self._head(self._state())
        if held is not None and held.head != head.head:
            await self._check_consistent(held, head)
        state = self._state()
        commitment = key_entry.account.hex()
        indexed = sj.as_object(state.get("latest", {}), "kt").get(commitment)
        if indexed is None:
            raise self._mismatch(address, "the log this device follows holds no entry for it")
        latest = sj.as_object(indexed, "kt.latest")
        if latest.get("k") != lookup.account_key.hex():
            raise self._mismatch(address, "the log holds a newer account key for it")
        if latest.get("v") != lookup.devices.version:
            raise self._alerts.raise_alert(
                "replay",
                address,
                f"the server served device list version {lookup.devices.version}; "
                f"the log holds version {latest.get('v')}",
            )
        # A new commitment for an address is a new account (a re-registered handle): it
        # comes with a new key, which the contacts policy holds until trusted. The same
        # key under a new commitment is a second history the owner never sees.
        pins = dict(sj.as_object(state.get("pins", {}), "kt.pins"))
        if pins.get(address, commitment) != commitment and lookup.pinned_key == lookup.account_key:
            raise self._mismatch(address, "the server moved it to another entry of the log")
        if pins.get(address) != commitment:
            pins[address] = commitment
            state["pins"] = pins
            self._save(state)

    def _proven(self, head: SignedTreeHead, item: dict[str, object]) -> TransparencyEntry:
        leaf = sj.binary(item, "entry", "entry")
        head.verify_inclusion(leaf, InclusionProof.from_bytes(sj.binary(item, "proof", "entry")))
        return parse_entry(leaf)

    def _mismatch(self, address: str, detail: str) -> SecurityAlert:
        return self._alerts.raise_alert("key-mismatch", address, detail)

    def latest_head(self) -> SignedTreeHead | None:
        return self._head(self._state())

    def latest_head_bytes(self) -> bytes | None:
        """The newest head this device verified, as stored (not verified again)."""
        if not self._held_read:
            state = self._state()
            self._held_bytes = sj.binary(state, "head", "kt") if "head" in state else None
            self._held_read = True
        return self._held_bytes

    def heads(self) -> list[SignedTreeHead]:
        """The signed heads this device verified, oldest first: evidence to compare."""
        state = self._state()
        key = self._log_key(state)
        return [
            parse_signed_tree_head(sj.unb64(str(h), "kt.heads"), key)
            for h in sj.as_list(state.get("heads", []), "kt.heads")
        ]


def _index(latest: dict[str, object], entry: TransparencyEntry) -> None:
    """Record the newest logged key and device list of each account commitment."""
    key = entry.account.hex()
    record = dict(sj.as_object(latest.get(key, {}), "kt.latest"))
    if isinstance(entry, AccountKeyEntry):
        record["k"] = entry.account_key.hex()
    elif isinstance(entry, DeviceListEntry):
        if int(str(record.get("v", 0))) < entry.version:
            record["v"] = entry.version
            record["d"] = entry.digest.hex()
    else:
        record = {"closed": True}
    latest[key] = record
