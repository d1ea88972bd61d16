"""Double Ratchet and PQXDH throughput of Sottovoce, next to python-olm and vodozemac.

Run ``python bench/ratchet.py``. Each figure is one JSON object per line:
``{"bench": "ratchet", "metric": ..., "value": ..., "unit": ..., "impl": ...}``.
Sottovoce rows carry the issue's target; ``impl: "sottovoce-primitives"`` rows
time only the ``sottovoce.crypto`` calls one operation needs, i.e. the ceiling
any Python code on these wrappers could reach; ratio rows compare Sottovoce with
each peer. Every figure is the best of ``REPEATS`` runs of at least
``MIN_RUN_SECONDS`` each on one core, so the whole run stays under two minutes.

What each metric times, for every implementation:

- ``encrypt_msgs_per_s``: encrypting 100-byte messages in one direction on an
  established session (no PreKey wrapping, no DH step).
- ``decrypt_msgs_per_s``: decrypting those messages in order.
- ``pingpong_roundtrips_per_s``: A encrypts, B decrypts, B encrypts, A decrypts;
  every message starts a new DH ratchet step.
- ``session_setups_per_s``: a complete key agreement with prekeys already
  published (their generation and signing is not timed): the initiator checks
  the prekey signatures, builds the session and encrypts a first message; the
  responder builds its session from that message and decrypts it. Sottovoce
  runs PQXDH (X25519 + ML-KEM-1024, two prekey signatures plus the identity
  binding on each side); Olm has no post-quantum part and one signed one-time
  key, which is verified with Ed25519 as Matrix clients do.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

from sottovoce.crypto import aead, dh, hashing, kem, signing
from sottovoce.protocol.bundle import PreKeyBundle
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.padding import pad
from sottovoce.protocol.prekeys import (
    InMemoryPreKeyStore,
    generate_kem_prekeys,
    generate_one_time_prekeys,
    generate_signed_prekey,
)
from sottovoce.protocol.public.identity import binding_message
from sottovoce.protocol.public.prekeys import PrekeyKind, prekey_signature_message
from sottovoce.protocol.session import Session

# Three runs expose the machine's best case without letting a burst of load
# from other processes set a figure; one second per run makes timer resolution
# and warm-up negligible.
REPEATS = 3
MIN_RUN_SECONDS = 1.0
# Decrypt runs need their messages encrypted first, untimed; where encryption is
# ten times slower than decryption (vodozemac) a one-second run would spend ten
# seconds preparing, so decrypt runs are shorter.
DECRYPT_RUN_SECONDS = 0.25
MESSAGE = b"m" * 100
MESSAGE_TEXT = MESSAGE.decode()
# Messages per timed batch: large enough to amortise the loop, small enough
# that a run ends close to MIN_RUN_SECONDS.
MESSAGE_BATCH = 1000
ROUNDTRIP_BATCH = 50
# vodozemac keeps at most 50 unpublished one-time keys.
SETUP_BATCH = 50
TARGETS = {
    "encrypt_msgs_per_s": 60_000.0,
    "decrypt_msgs_per_s": 60_000.0,
    "pingpong_roundtrips_per_s": 3_000.0,
    "session_setups_per_s": 1_000.0,
}
UNITS = {
    "encrypt_msgs_per_s": "msg/s",
    "decrypt_msgs_per_s": "msg/s",
    "pingpong_roundtrips_per_s": "roundtrip/s",
    "session_setups_per_s": "setup/s",
}

Batch = Callable[[], tuple[int, float]]


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "ratchet", **row}), flush=True)


def best_rate(batch: Batch, run_seconds: float = MIN_RUN_SECONDS) -> float:
    """Operations per second; ``batch()`` runs once and returns (operations, timed seconds)."""
    best = 0.0
    for _ in range(REPEATS):
        operations, seconds = 0, 0.0
        while seconds < run_seconds:
            done, spent = batch()
            operations += done
            seconds += spent
        best = max(best, operations / seconds)
    return best


def timed(loop: Callable[[int], object], size: int) -> Batch:
    def batch() -> tuple[int, float]:
        started = time.perf_counter()
        loop(size)
        return size, time.perf_counter() - started

    return batch


def stream(encrypt: Callable[[Any], Any], decrypt: Callable[[Any], Any], message: Any) -> Batch:
    """Encrypt a batch untimed, then time decrypting it in order."""

    def batch() -> tuple[int, float]:
        messages = [encrypt(message) for _ in range(MESSAGE_BATCH)]
        started = time.perf_counter()
        for wire in messages:
            decrypt(wire)
        return len(messages), time.perf_counter() - started

    return batch


# -- Sottovoce -----------------------------------------------------------------


class SottovoceDevice:
    def __init__(self) -> None:
        self.identity = IdentityKeyPair.generate()
        self.store = InMemoryPreKeyStore()
        signed = generate_signed_prekey(self.identity, 1)
        (one_time,) = generate_one_time_prekeys(1, 1)
        (kem_key,) = generate_kem_prekeys(self.identity, 1, 1)
        self.store.add_signed(signed)
        self.store.add_one_time([one_time])
        self.store.add_kem([kem_key])
        self.bundle = PreKeyBundle(
            self.identity.public,
            signed.key_id,
            signed.public,
            signed.signature,
            kem_key.key_id,
            kem_key.public,
            kem_key.signature,
            False,
            one_time.key_id,
            one_time.public,
        )


def sottovoce_pair() -> tuple[Session, Session]:
    """An established session in which both sides have sent, so no PreKey wrapping remains."""
    alice, bob = SottovoceDevice(), SottovoceDevice()
    a = Session.initiate(alice.identity, bob.bundle)
    b = Session.respond(bob.identity, bob.store, a.encrypt(b"hello")).session
    a.decrypt(b.encrypt(b"hi"))
    b.decrypt(a.encrypt(b"on a's new chain"))
    return a, b


def sottovoce_rates() -> dict[str, float]:
    a, _ = sottovoce_pair()

    def encrypt_loop(n: int) -> None:
        for _ in range(n):
            a.encrypt(MESSAGE)

    rates = {"encrypt_msgs_per_s": best_rate(timed(encrypt_loop, MESSAGE_BATCH))}
    sender, receiver = sottovoce_pair()
    rates["decrypt_msgs_per_s"] = best_rate(
        stream(sender.encrypt, receiver.decrypt, MESSAGE), DECRYPT_RUN_SECONDS
    )
    a, b = sottovoce_pair()

    def pingpong_loop(n: int) -> None:
        for _ in range(n):
            b.decrypt(a.encrypt(MESSAGE))
            a.decrypt(b.encrypt(MESSAGE))

    rates["pingpong_roundtrips_per_s"] = best_rate(timed(pingpong_loop, ROUNDTRIP_BATCH))
    alice, bob = SottovoceDevice(), SottovoceDevice()

    def setup_loop(n: int) -> None:
        for _ in range(n):
            session = Session.initiate(alice.identity, bob.bundle)
            Session.respond(bob.identity, bob.store, session.encrypt(MESSAGE))

    rates["session_setups_per_s"] = best_rate(timed(setup_loop, SETUP_BATCH))
    return rates


def primitive_ceilings() -> dict[str, float]:
    """The same metrics counting only the sottovoce.crypto calls each operation makes."""
    key, info, ad = os.urandom(32), b"Sottovoce_Ratchet_MessageKeys", bytes(2 * 129 + 42)
    padded = pad(MESSAGE)
    okm = hashing.hkdf_expand_sha256(key, info, 44)
    sealed = aead.aes_gcm(okm[:32]).seal(okm[32:], padded, ad)

    def message_keys() -> aead.Aead:  # KDF_CK, then HKDF-Expand to key and nonce
        hashing.hmac_sha256_pair(key, b"\x02", b"\x01")
        okm = hashing.hkdf_expand_sha256(key, info, 44)
        return aead.aes_gcm(okm[:32])

    def seal_one() -> None:
        message_keys().seal(okm[32:], padded, ad)

    def open_one() -> None:
        message_keys().open(okm[32:], sealed, ad)

    pair = dh.DHKeyPair.generate()
    peer = dh.DHKeyPair.generate().public

    def dh_step() -> None:  # receive side of §3.5 DHRatchet: DH, KDF_RK, new key, DH, KDF_RK
        hashing.hkdf_sha256(pair.exchange(peer), salt=key, info=info, length=64)
        hashing.hkdf_sha256(dh.DHKeyPair.generate().exchange(peer), salt=key, info=info, length=64)

    def roundtrip_loop(n: int) -> None:
        for _ in range(2 * n):
            seal_one()
            dh_step()
            open_one()

    bob = SottovoceDevice()
    bundle = bob.bundle
    signed = [  # (message, signature) pairs the two sides verify, as the protocol builds them
        (binding_message(bundle.identity.dh_public), bundle.identity.binding_signature),
        (
            prekey_signature_message(
                PrekeyKind.SIGNED_EC, bundle.signed_prekey_id, bundle.signed_prekey
            ),
            bundle.signed_prekey_signature,
        ),
        (
            prekey_signature_message(
                PrekeyKind.KEM_ONE_TIME, bundle.kem_prekey_id, bundle.kem_prekey
            ),
            bundle.kem_prekey_signature,
        ),
        (binding_message(bundle.identity.dh_public), bundle.identity.binding_signature),
    ]
    kem_pair = bob.store.kem_prekey(bundle.kem_prekey_id).key_pair

    def setup_loop(n: int) -> None:
        for _ in range(n):
            for message, signature in signed:
                signing.verify(bundle.identity.sign_public, signature, message)
            dh.DHKeyPair.generate()  # EK_A
            for _ in range(8):  # DH1..DH4 on each side
                pair.exchange(peer)
            ciphertext, _ = kem.encapsulate(bundle.kem_prekey)
            kem_pair.decapsulate(ciphertext)
            hashing.hkdf_sha256(key, salt=bytes(32), info=info, length=32)
            hashing.hkdf_sha256(key, salt=bytes(32), info=info, length=32)
            # RatchetInitAlice: a ratchet key, DH with SPK_B, KDF_RK
            hashing.hkdf_sha256(
                dh.DHKeyPair.generate().exchange(peer), salt=key, info=info, length=64
            )
            seal_one()
            dh_step()
            open_one()

    def seal_loop(n: int) -> None:
        for _ in range(n):
            seal_one()

    def open_loop(n: int) -> None:
        for _ in range(n):
            open_one()

    return {
        "encrypt_msgs_per_s": best_rate(timed(seal_loop, MESSAGE_BATCH)),
        "decrypt_msgs_per_s": best_rate(timed(open_loop, MESSAGE_BATCH), DECRYPT_RUN_SECONDS),
        "pingpong_roundtrips_per_s": best_rate(timed(roundtrip_loop, ROUNDTRIP_BATCH)),
        "session_setups_per_s": best_rate(timed(setup_loop, SETUP_BATCH)),
    }


# -- python-olm (libolm) and vodozemac -----------------------------------------


def olm_rates() -> dict[str, float]:
    import olm

    def pair() -> tuple[Any, Any]:
        alice, bob = olm.Account(), olm.Account()
        bob.generate_one_time_keys(1)
        one_time = next(iter(bob.one_time_keys["curve25519"].values()))
        a = olm.OutboundSession(alice, bob.identity_keys["curve25519"], one_time)
        first = a.encrypt("hello")
        b = olm.InboundSession(bob, first, alice.identity_keys["curve25519"])
        b.decrypt(first)
        a.decrypt(b.encrypt("hi"))
        b.decrypt(a.encrypt("on a's new chain"))
        return a, b

    a, _ = pair()

    def encrypt_loop(n: int) -> None:
        for _ in range(n):
            a.encrypt(MESSAGE_TEXT)

    rates = {"encrypt_msgs_per_s": best_rate(timed(encrypt_loop, MESSAGE_BATCH))}
    sender, receiver = pair()
    rates["decrypt_msgs_per_s"] = best_rate(
        stream(sender.encrypt, receiver.decrypt, MESSAGE_TEXT), DECRYPT_RUN_SECONDS
    )
    a, b = pair()

    def pingpong_loop(n: int) -> None:
        for _ in range(n):
            b.decrypt(a.encrypt(MESSAGE_TEXT))
            a.decrypt(b.encrypt(MESSAGE_TEXT))

    rates["pingpong_roundtrips_per_s"] = best_rate(timed(pingpong_loop, ROUNDTRIP_BATCH))
    alice, bob = olm.Account(), olm.Account()
    alice_key, bob_key = alice.identity_keys["curve25519"], bob.identity_keys["curve25519"]
    bob_signing_key = bob.identity_keys["ed25519"]

    def setup_batch() -> tuple[int, float]:
        bob.generate_one_time_keys(SETUP_BATCH)
        keys = list(bob.one_time_keys["curve25519"].values())
        bob.mark_keys_as_published()
        signed = [(key, bob.sign(key)) for key in keys]
        started = time.perf_counter()
        for key, signature in signed:
            olm.ed25519_verify(bob_signing_key, key, signature)
            session = olm.OutboundSession(alice, bob_key, key)
            first = session.encrypt(MESSAGE_TEXT)
            inbound = olm.InboundSession(bob, first, alice_key)
            inbound.decrypt(first)
            bob.remove_one_time_keys(inbound)
        return len(signed), time.perf_counter() - started

    rates["session_setups_per_s"] = best_rate(setup_batch)
    return rates


def vodozemac_rates() -> dict[str, float]:
    import vodozemac

    def pair() -> tuple[Any, Any]:
        alice, bob = vodozemac.Account(), vodozemac.Account()
        bob.generate_one_time_keys(1)
        one_time = next(iter(bob.one_time_keys.values()))
        a = alice.create_outbound_session(bob.curve25519_key, one_time)
        b, _ = bob.create_inbound_session(alice.curve25519_key, a.encrypt(b"hello").to_pre_key())
        a.decrypt(b.encrypt(b"hi"))
        b.decrypt(a.encrypt(b"on a's new chain"))
        return a, b

    a, _ = pair()

    def encrypt_loop(n: int) -> None:
        for _ in range(n):
            a.encrypt(MESSAGE)

    rates = {"encrypt_msgs_per_s": best_rate(timed(encrypt_loop, MESSAGE_BATCH))}
    sender, receiver = pair()
    rates["decrypt_msgs_per_s"] = best_rate(
        stream(sender.encrypt, receiver.decrypt, MESSAGE), DECRYPT_RUN_SECONDS
    )
    a, b = pair()

    def pingpong_loop(n: int) -> None:
        for _ in range(n):
            b.decrypt(a.encrypt(MESSAGE))
            a.decrypt(b.encrypt(MESSAGE))

    rates["pingpong_roundtrips_per_s"] = best_rate(timed(pingpong_loop, ROUNDTRIP_BATCH))
    alice, bob = vodozemac.Account(), vodozemac.Account()

    def setup_batch() -> tuple[int, float]:
        bob.generate_one_time_keys(SETUP_BATCH)
        keys = list(bob.one_time_keys.values())
        bob.mark_keys_as_published()
        signed = [(key, bob.sign(key.to_bytes())) for key in keys]
        started = time.perf_counter()
        for key, signature in signed:
            bob.ed25519_key.verify_signature(key.to_bytes(), signature)
            session = alice.create_outbound_session(bob.curve25519_key, key)
            bob.create_inbound_session(alice.curve25519_key, session.encrypt(MESSAGE).to_pre_key())
        return len(signed), time.perf_counter() - started

    rates["session_setups_per_s"] = best_rate(setup_batch)
    return rates


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    emit(
        metric="environment",
        value=None,
        unit=None,
        impl="sottovoce",
        python=platform.python_version(),
        cpu=cpu_model(),
        nproc=os.cpu_count(),
    )
    ours = sottovoce_rates()
    for metric, value in ours.items():
        emit(
            metric=metric,
            value=round(value, 1),
            unit=UNITS[metric],
            impl="sottovoce",
            target=TARGETS[metric],
            meets_target=value >= TARGETS[metric],
        )
    for metric, value in primitive_ceilings().items():
        emit(metric=metric, value=round(value, 1), unit=UNITS[metric], impl="sottovoce-primitives")
    for impl, measure in (("python-olm", olm_rates), ("vodozemac", vodozemac_rates)):
        try:
            theirs = measure()
        except ImportError:
            emit(metric="skipped", value=None, unit=None, impl=impl, reason="not installed")
            continue
        for metric, value in theirs.items():
            emit(metric=metric, value=round(value, 1), unit=UNITS[metric], impl=impl)
            emit(
                metric=f"{metric}_ratio_vs_{impl}",
                value=round(ours[metric] / value, 3),
                unit="x",
                impl="sottovoce",
            )


if __name__ == "__main__":
    main()
