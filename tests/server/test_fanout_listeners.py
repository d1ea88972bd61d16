"""A node's local listeners: who is first and last for a device (Redis subscribes and
unsubscribes on those), and wake-ups that reach exactly the right connections."""

from __future__ import annotations

from sottovoce.fanout.listeners import LocalListeners


def test_first_and_last_connection_of_a_device() -> None:
    listeners = LocalListeners()
    one, first = listeners.add(5)
    two, second_is_first = listeners.add(5)
    other, other_first = listeners.add(6)
    assert (first, second_is_first, other_first) == (True, False, True)
    assert sorted(listeners.devices()) == [5, 6] and len(listeners) == 2
    assert listeners.remove(5, one) is False  # two still listens
    assert listeners.remove(5, two) is True
    assert listeners.remove(5, two) is False  # already gone: not the last twice
    assert list(listeners.devices()) == [6]
    _, again_first = listeners.add(5)
    assert again_first
    assert not other.is_set()


def test_wake_reaches_one_device_and_wake_all_everyone() -> None:
    listeners = LocalListeners()
    a1, _ = listeners.add(1)
    a2, _ = listeners.add(1)
    b, _ = listeners.add(2)
    listeners.wake(1)
    assert a1.is_set() and a2.is_set() and not b.is_set()
    listeners.wake(3)  # nobody connected: nothing happens, nothing is kept
    assert len(listeners) == 2
    listeners.wake_all()
    assert b.is_set()
