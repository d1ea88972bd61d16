"""Franking on the device: checking each received message's commitment, keeping the
evidence, and reporting messages with it (docs/safety.md).

Every message carries a franking key inside the encryption and a commitment
outside it; the server adds its tag. A received message is accepted only if the
commitment opens to exactly the content (and, sealed, the certificate) this
device decrypted; otherwise it is dropped, because a report of it could not be
verified — or worse, would verify for different content than was shown. The
evidence of each accepted message stays in the encrypted local store until the
person reports the message, revealing it (and nothing else) to the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sottovoce.client import server_json as sj
from sottovoce.client.envelope import InboundEnvelope
from sottovoce.client.errors import ClientError, SecurityError
from sottovoce.client.store import Store
from sottovoce.client.transport import Transport
from sottovoce.protocol.errors import DecodeError
from sottovoce.protocol.franking import FrankedPlaintext
from sottovoce.protocol.public.franking import FrankingMismatch

REPORTS_PATH = "/v1/reports"
# Record kind of the local store: one per received message, by its message id.
_EVIDENCE = "franking"
# Fields of the evidence that stay on the device: the report does not need them.
_LOCAL_ONLY = frozenset({"shown_sender", "content_id"})


class NotReportable(ClientError):
    """This device holds no franking evidence for a message id (never received here,
    sent by this device, or from before franking)."""


@dataclass(frozen=True, slots=True)
class Franked:
    """A decrypted message whose commitment opened, with the server's tag for it."""

    plaintext: FrankedPlaintext
    commitment: bytes
    tag: bytes

    @property
    def content(self) -> bytes:
        return self.plaintext.content

    @property
    def profile_key(self) -> bytes | None:
        return self.plaintext.profile_key


def open_franked(envelope: InboundEnvelope, plaintext: bytes, certificate: bytes) -> Franked:
    """The franked plaintext, if the envelope's commitment opens to it; else
    :class:`SecurityError`, and the message is dropped."""
    try:
        franked = FrankedPlaintext.from_bytes(plaintext)
    except DecodeError as exc:
        raise SecurityError(f"a message from {envelope.sender} is not franked: {exc}") from exc
    if envelope.commitment is None or envelope.franking_tag is None:
        raise SecurityError(f"a message from {envelope.sender} came without its franking")
    try:
        franked.check(envelope.commitment, certificate)
    except FrankingMismatch as exc:
        raise SecurityError(
            f"a message from {envelope.sender} does not match its franking commitment"
        ) from exc
    return Franked(franked, envelope.commitment, envelope.franking_tag)


@dataclass(frozen=True, slots=True)
class FrankingEvidence:
    store: Store
    own_device: int

    def keep(
        self,
        content_id: str,
        envelope: InboundEnvelope,
        franked: Franked,
        certificate: bytes | None,
    ) -> None:
        """Keep what a report of this message needs (inside the caller's transaction)."""
        self.store.put_json(
            _EVIDENCE,
            content_id,
            {
                "message_id": envelope.message_id,
                "sender": None if envelope.sealed else envelope.sender,
                "sender_device": None if envelope.sealed else envelope.sender_device,
                "shown_sender": envelope.sender,
                "recipient_device": self.own_device,
                "server_ts": envelope.server_ts,
                "content": sj.b64(franked.content),
                "franking_key": sj.b64(franked.plaintext.franking_key),
                "commitment": sj.b64(franked.commitment),
                "franking_tag": sj.b64(franked.tag),
                "sender_certificate": None if certificate is None else sj.b64(certificate),
                "content_id": content_id,
            },
        )

    def keep_revealed(self, content_id: str, shown_sender: str, revealed: dict[str, Any]) -> None:
        """Keep evidence built elsewhere, already in the shape ``POST /v1/reports``
        takes (group messages: ``client.group_franking``); ``forget(shown_sender)``
        deletes it."""
        self.store.put_json(
            _EVIDENCE,
            content_id,
            {**revealed, "shown_sender": shown_sender, "content_id": content_id},
        )

    def forget(self, peer: str) -> None:
        """Delete the evidence of every message from ``peer`` (inside the caller's
        transaction): when their messages are deleted, their content goes too."""
        for record in self.store.all_json(_EVIDENCE):
            if record.get("shown_sender") == peer:
                self.store.delete(_EVIDENCE, sj.string(record, "content_id", "franking evidence"))

    def revealed(self, content_id: str) -> dict[str, Any]:
        """One message as ``POST /v1/reports`` takes it."""
        record = self.store.get_json(_EVIDENCE, content_id)
        if record is None:
            raise NotReportable(f"no received message {content_id!r} can be reported from here")
        return {k: v for k, v in record.items() if k not in _LOCAL_ONLY}

    def sender_of(self, content_id: str) -> str:
        record = self.store.get_json(_EVIDENCE, content_id)
        if record is None:
            raise NotReportable(f"no received message {content_id!r} can be reported from here")
        return sj.string(record, "shown_sender", "franking evidence")


@dataclass(frozen=True, slots=True)
class FiledReport:
    """The server's answer to a report: its id, whom it names, how it knows the sender."""

    report_id: int
    reported: str
    verification: str


async def file_report(
    transport: Transport, evidence: FrankingEvidence, message_ids: list[str], reason: str
) -> FiledReport:
    """Reveal ``message_ids`` (content, franking keys, tags) to the server as one report."""
    if not message_ids:
        raise ClientError("a report names at least one message")
    if not reason.strip():
        raise ClientError("a report needs a reason")
    messages = [evidence.revealed(i) for i in message_ids]
    answer = await transport.request("POST", REPORTS_PATH, {"reason": reason, "messages": messages})
    return FiledReport(
        sj.integer(answer, "report_id", "report"),
        sj.string(answer, "reported", "report"),
        sj.string(answer, "verification", "report"),
    )
