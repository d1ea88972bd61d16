"""Security alerts: what the device found the server doing that no one it trusts did.

An alert is kept in the local store until the person has seen it, and the
operation that found it fails with :class:`SecurityAlert` at once, so the CLI
shows it in a red box whatever command was running. Kinds:

- ``ghost-device``: a device list that the account key did not sign, for a
  contact (the client refuses to encrypt to it) or for the person's own account;
- ``key-mismatch``: a key or device list served that is not what the log holds;
- ``log-fork``: two signed heads that cannot belong to one append-only log (the
  server's against this device's, or a contact's gossiped one against this
  device's: ``client.head_gossip``); the alert keeps both heads as evidence;
- ``foreign-log``: a contact gossiped a well-formed tree head that the pinned log
  key did not sign (``client.head_gossip``): their device or this one may have been
  given another log's key; nothing proves who signed it, comparing safety numbers
  tells;
- ``replay``: an older device list served as the current one;
- ``own-devices``: a change to the person's own device list (a device added or
  removed), shown so that a device no one here linked cannot stay hidden.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sottovoce.client import server_json as sj
from sottovoce.client.errors import SecurityError
from sottovoce.client.store import Store
from sottovoce.crypto.hashing import sha256
from sottovoce.crypto.random import random_bytes

ALERT = "alert"
# Alerts that came with evidence, kept after they are dismissed (shown once by the
# CLI, the heads of a fork must stay to be reported), one record per set of evidence.
EVIDENCE = "alert-evidence"
# Kinds that mean an attack (the rest are notices about one's own devices).
ATTACKS = frozenset({"ghost-device", "key-mismatch", "log-fork", "foreign-log", "replay"})


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    kind: str
    address: str
    detail: str
    at_ms: int
    # What proves it, e.g. the two signed tree heads of a fork (their wire bytes),
    # checkable by anyone with the log's key.
    evidence: tuple[bytes, ...] = ()

    @property
    def is_attack(self) -> bool:
        return self.kind in ATTACKS


class SecurityAlert(SecurityError):
    """The server served something that fails verification; the alert is recorded."""

    def __init__(self, alert: Alert) -> None:
        super().__init__(f"security alert about {alert.address}: {alert.detail}")
        self.alert = alert


class Alerts:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(
        self, kind: str, address: str, detail: str, evidence: tuple[bytes, ...] = ()
    ) -> Alert:
        alert = Alert(
            random_bytes(8).hex(), kind, address, detail, int(time.time() * 1000), evidence
        )
        record: dict[str, object] = {
            "id": alert.id,
            "kind": kind,
            "address": address,
            "detail": detail,
            "at_ms": alert.at_ms,
            **({"evidence": [sj.b64(e) for e in evidence]} if evidence else {}),
        }
        with self._store.transaction():
            self._store.put_json(ALERT, alert.id, record)
            if evidence:
                key = sha256(b"".join(sorted(evidence))).hex()
                if self._store.get_json(EVIDENCE, key) is None:
                    self._store.put_json(EVIDENCE, key, record)
        return alert

    def raise_alert(
        self, kind: str, address: str, detail: str, evidence: tuple[bytes, ...] = ()
    ) -> SecurityAlert:
        """Record the alert and return the exception to raise."""
        return SecurityAlert(self.record(kind, address, detail, evidence))

    def unseen(self) -> list[Alert]:
        return self._load(ALERT)

    def with_evidence(self) -> list[Alert]:
        """Every alert that came with evidence, dismissed or not, oldest first (the
        first alert of each set of evidence)."""
        return self._load(EVIDENCE)

    def _load(self, kind: str) -> list[Alert]:
        alerts = [
            Alert(
                str(r.get("id")),
                str(r.get("kind")),
                str(r.get("address")),
                str(r.get("detail")),
                int(str(r.get("at_ms", 0))),
                tuple(
                    sj.unb64(str(e), "alert") for e in sj.as_list(r.get("evidence", []), "alert")
                ),
            )
            for r in self._store.all_json(kind)
        ]
        return sorted(alerts, key=lambda a: a.at_ms)

    def dismiss(self, alerts: list[Alert]) -> None:
        with self._store.transaction():
            for alert in alerts:
                self._store.delete(ALERT, alert.id)
