"""What sealed sender and franking add to one message, per device copy.

Run ``python bench/sealed_franking.py``. One JSON object per line:
``{"bench": "sealed_franking", "metric": ..., "value": ..., "unit": ..., "impl": "sottovoce"}``.
Each figure is the best of ``REPEATS`` runs of at least ``MIN_RUN_SECONDS`` on one core.

- ``seal_per_s`` / ``open_per_s``: wrapping one inner ratchet message of a 100-byte
  text (one padding block) with its sender certificate in HPKE, and opening it.
- ``certificate_verify_per_s``: the recipient's check of a sender certificate.
- ``commitment_per_s``: the sender's franking commitment (also the recipient's check).
- ``tag_per_s``: the server's tag for one delivered copy.
- ``report_verify_per_s``: the server verifying one revealed sealed message
  (commitment, tag and certificate).
- ``sealed_overhead_bytes``: how many bytes sealing adds to one device copy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from sottovoce.crypto.random import random_bytes
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.abuse_report import RevealedMessage, verify_revealed
from sottovoce.protocol.public.franking import Delivery, commitment, delivery_tag
from sottovoce.protocol.public.sender_certificate import SenderCertificate
from sottovoce.protocol.sealed_sender import open_sealed, seal
from sottovoce.protocol.wire import RATCHET_PREFIX

REPEATS = 3
MIN_RUN_SECONDS = 0.5


def rate(operation: Callable[[], object]) -> float:
    best = 0.0
    for _ in range(REPEATS):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < MIN_RUN_SECONDS:
            for _ in range(100):
                operation()
            count += 100
        best = max(best, count / elapsed)
    return best


def emit(metric: str, value: float, unit: str) -> None:
    print(
        json.dumps(
            {
                "bench": "sealed_franking",
                "metric": metric,
                "value": round(value, 1),
                "unit": unit,
                "impl": "sottovoce",
            }
        )
    )


def main() -> None:
    server_key, franking_key = SigningKey.generate(), random_bytes(32)
    sender, recipient = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    certificate = SenderCertificate.issue(
        server_key,
        1,
        address="demo-a@chat",
        device_id=1,
        identity=sender.public,
        expires_ms=2**62,
    ).encoded
    inner = RATCHET_PREFIX + random_bytes(40) + random_bytes(160 + 16)
    sealed = seal(recipient.public, certificate, inner)
    content, key = random_bytes(100), random_bytes(32)
    c = commitment(key, content, certificate)
    delivery = Delivery("demo-b@photos", 1, int(time.time() * 1000), None, None, "m" * 22)
    tag = delivery_tag(franking_key, c, delivery)
    revealed = RevealedMessage(
        delivery.message_id, None, None, 1, delivery.server_ts, content, key, c, tag, certificate
    )
    parsed = SenderCertificate.from_bytes(certificate)

    def verify_report() -> None:
        verify_revealed(
            revealed,
            reporter=delivery.recipient,
            franking_key=franking_key,
            certificate_key=server_key.public,
            certificate_key_id=1,
        )

    emit("seal_per_s", rate(lambda: seal(recipient.public, certificate, inner)), "copy/s")
    emit(
        "open_per_s",
        rate(lambda: open_sealed(recipient.dh_key, recipient.public, sealed)),
        "copy/s",
    )
    emit(
        "certificate_verify_per_s",
        rate(lambda: parsed.verify(server_key.public, 1, 0)),
        "verify/s",
    )
    emit("commitment_per_s", rate(lambda: commitment(key, content, certificate)), "msg/s")
    emit("tag_per_s", rate(lambda: delivery_tag(franking_key, c, delivery)), "copy/s")
    emit("report_verify_per_s", rate(verify_report), "msg/s")
    emit("sealed_overhead_bytes", len(sealed) - len(inner), "bytes")


if __name__ == "__main__":
    main()
