"""Property tests: long two-way conversations over a network that reorders, drops and repeats.

Whatever the delivery order, every delivered message decrypts exactly once to
what was sent, and every repeat is rejected without changing the session.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from sottovoce.protocol.bundle import PreKeyBundle
from sottovoce.protocol.errors import DecryptionError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import (
    InMemoryPreKeyStore,
    generate_kem_prekeys,
    generate_one_time_prekeys,
    generate_signed_prekey,
)
from sottovoce.protocol.session import Session


@dataclass(frozen=True)
class Parties:
    alice: IdentityKeyPair
    bob: IdentityKeyPair
    store: InMemoryPreKeyStore
    bundle: PreKeyBundle


@functools.cache
def parties() -> Parties:
    """Identities and prekeys shared by all examples; the store never deletes, so reuse is safe."""
    alice, bob = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    store = InMemoryPreKeyStore()
    signed = generate_signed_prekey(bob, 1)
    (one_time,) = generate_one_time_prekeys(1, 1)
    (kem_key,) = generate_kem_prekeys(bob, 1, 1)
    store.add_signed(signed)
    store.add_one_time([one_time])
    store.add_kem([kem_key])
    bundle = PreKeyBundle(
        bob.public,
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
    return Parties(alice, bob, store, bundle)


@dataclass
class Sent:
    wire: bytes
    plaintext: bytes


class LossyNetwork(RuleBasedStateMachine):
    """Alice and Bob talk; the network delivers any in-flight message, drops it, or repeats it."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, Session | None] = {}
        self.in_flight: dict[str, list[Sent]] = {"alice": [], "bob": []}  # keyed by recipient
        self.delivered: dict[str, list[Sent]] = {"alice": [], "bob": []}
        self.counter = 0

    @initialize()
    def start(self) -> None:
        p = parties()
        self.sessions = {"alice": Session.initiate(p.alice, p.bundle), "bob": None}

    @staticmethod
    def peer(name: str) -> str:
        return "bob" if name == "alice" else "alice"

    @rule(sender=st.sampled_from(["alice", "bob"]), size=st.integers(0, 400))
    def send(self, sender: str, size: int) -> None:
        session = self.sessions[sender]
        if session is None:
            return
        self.counter += 1
        plaintext = self.counter.to_bytes(4, "big") * (size // 4 + 1)
        self.in_flight[self.peer(sender)].append(Sent(session.encrypt(plaintext), plaintext))

    def _receive(self, recipient: str, message: bytes) -> bytes:
        session = self.sessions[recipient]
        if session is None:
            p = parties()
            inbound = Session.respond(p.bob, p.store, message)
            self.sessions[recipient] = inbound.session
            return inbound.plaintext
        return session.decrypt(message)

    @precondition(lambda self: any(self.in_flight.values()))
    @rule(recipient=st.sampled_from(["alice", "bob"]), pick=st.integers(0, 10_000))
    def deliver(self, recipient: str, pick: int) -> None:
        queue = self.in_flight[recipient] or self.in_flight[self.peer(recipient)]
        recipient = recipient if self.in_flight[recipient] else self.peer(recipient)
        sent = queue.pop(pick % len(queue))
        assert self._receive(recipient, sent.wire) == sent.plaintext
        self.delivered[recipient].append(sent)

    @precondition(lambda self: any(self.in_flight.values()))
    @rule(recipient=st.sampled_from(["alice", "bob"]), pick=st.integers(0, 10_000))
    def drop(self, recipient: str, pick: int) -> None:
        queue = self.in_flight[recipient] or self.in_flight[self.peer(recipient)]
        queue.pop(pick % len(queue))

    @precondition(lambda self: any(self.delivered.values()))
    @rule(recipient=st.sampled_from(["alice", "bob"]), pick=st.integers(0, 10_000))
    def repeat(self, recipient: str, pick: int) -> None:
        recipient = recipient if self.delivered[recipient] else self.peer(recipient)
        history = self.delivered[recipient]
        session = self.sessions[recipient]
        assert session is not None
        before = session.to_bytes()
        try:
            session.decrypt(history[pick % len(history)].wire)
        except DecryptionError:
            pass
        else:
            raise AssertionError("a repeated message decrypted a second time")
        assert session.to_bytes() == before

    @rule(who=st.sampled_from(["alice", "bob"]))
    def persist(self, who: str) -> None:
        session = self.sessions[who]
        if session is not None:
            self.sessions[who] = Session.from_bytes(session.to_bytes())

    @invariant()
    def identities_stay_pinned(self) -> None:
        p = parties()
        alice, bob = self.sessions.get("alice"), self.sessions.get("bob")
        if alice is not None:
            assert alice.remote_identity == p.bob.public
        if bob is not None:
            assert bob.remote_identity == p.alice.public


TestLossyNetwork = LossyNetwork.TestCase
TestLossyNetwork.settings = settings(
    max_examples=60,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@settings(max_examples=40, deadline=None)
@given(
    epochs=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    data=st.data(),
)
def test_any_delivery_order_of_many_chains(epochs: list[int], data: st.DataObject) -> None:
    """Alice sends several chains (Bob replies between them, in order); Bob then gets all of
    Alice's messages in an arbitrary order with arbitrary repeats mixed in."""
    p = parties()
    alice = Session.initiate(p.alice, p.bundle)
    bob = Session.respond(p.bob, p.store, alice.encrypt(b"hello")).session
    sent: list[tuple[bytes, bytes]] = []
    for epoch, count in enumerate(epochs):
        for i in range(count):
            plaintext = b"%d/%d" % (epoch, i)
            sent.append((alice.encrypt(plaintext), plaintext))
        assert alice.decrypt(bob.encrypt(b"reply %d" % epoch)) == b"reply %d" % epoch
    order = data.draw(st.permutations(range(len(sent))), label="order")
    repeats = data.draw(st.lists(st.integers(0, len(sent) - 1), max_size=10), label="repeats")
    seen: set[int] = set()
    schedule = list(order)
    for position, index in enumerate(repeats):
        schedule.insert(min(len(schedule), 2 * position + 1), index)
    for index in schedule:
        wire, plaintext = sent[index]
        if index in seen:
            before = bob.to_bytes()
            try:
                bob.decrypt(wire)
            except DecryptionError:
                pass
            else:
                raise AssertionError("a repeated message decrypted a second time")
            assert bob.to_bytes() == before
            continue
        assert bob.decrypt(wire) == plaintext
        seen.add(index)
    assert seen == set(range(len(sent)))
