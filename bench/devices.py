"""Sending to many devices: one request per message, and what each extra device costs.

Run ``python bench/devices.py``. It starts the real server on loopback, links
devices the way people do (``Client.begin_link`` / ``accept_link``), and prints
one JSON object per line: ``{"bench": "devices", "metric", "value", "unit", "impl"}``.

- ``requests_per_send``: HTTP requests one ``Client.send`` makes from a sender
  with 3 devices to a recipient with 5, sessions established (target: 1).
- ``envelopes_per_send``: device copies in that one request (5 + the sender's 2 others).
- ``send_ms_5x3``: wall time of that send, client encryption and server storage
  included, mean over ``SENDS`` sends, best of ``ROUNDS`` interleaved rounds.
- ``send_ms_per_extra_device``: least-squares slope of send time against the
  number of device copies, over recipients with 1 to 5 devices.
- ``encrypt_ms_per_device`` / ``body_bytes_per_device``: the client's share of
  that cost (one Double Ratchet encryption and its state write), and the request
  bytes each copy adds.
"""

from __future__ import annotations

import asyncio
import json
import platform
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from sottovoce.client import Client
from sottovoce.server.process import ServerProcess

SENDS = 10
# Rounds interleave the recipients, and each figure is the best round: load from
# other processes on a shared machine then moves every recipient alike.
ROUNDS = 6
RECIPIENT_DEVICES = (1, 2, 3, 4, 5)
SENDER_DEVICES = 3
TEXT = "a message of ordinary length, about as long as most chat messages are"


def result(metric: str, value: float, unit: str, **extra: Any) -> None:
    row = {"bench": "devices", "metric": metric, "value": round(value, 4), "unit": unit}
    print(json.dumps({**row, "impl": "sottovoce", **extra}), flush=True)


async def account(root: Path, url: str, app: str, devices: int) -> list[Client]:
    handle = f"bench-{secrets.token_hex(4)}"
    first = await Client.create_account(root / handle, url, app, handle)
    clients = [first]
    for i in range(1, devices):
        pending = await Client.begin_link(url)
        finishing = asyncio.create_task(Client.finish_link(pending, root / f"{handle}-{i}", url))
        await first.accept_link(pending.code_text)
        clients.append(await finishing)
    return clients


def count_requests(client: Client) -> list[tuple[str, str, int]]:
    """Record (method, path, body bytes) of every request the client's transport makes."""
    seen: list[tuple[str, str, int]] = []
    original = client._transport.request

    async def counted(method: str, path: str, payload: Any = None) -> Any:
        size = 0 if payload is None else len(json.dumps(payload, separators=(",", ":")))
        seen.append((method, path, size))
        return await original(method, path, payload)

    client._transport.request = counted  # type: ignore[method-assign]
    return seen


async def timed_sends(sender: Client, recipient: str) -> float:
    started = time.perf_counter()
    for _ in range(SENDS):
        await sender.send(recipient, TEXT)
    return (time.perf_counter() - started) / SENDS * 1000


async def best_times(sender: Client, recipients: list[str]) -> list[float]:
    for recipient in recipients:
        await sender.send(recipient, TEXT)  # sessions and device lists in place
    best = [float("inf")] * len(recipients)
    for _ in range(ROUNDS):
        for i, recipient in enumerate(recipients):
            best[i] = min(best[i], await timed_sends(sender, recipient))
    return best


def slope(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


async def run(root: Path, url: str) -> None:
    senders = await account(root, url, "chat", SENDER_DEVICES)
    sender = senders[0]
    recipients = {n: await account(root, url, "photos", n) for n in RECIPIENT_DEVICES}
    best = await best_times(sender, [recipients[n][0].address for n in RECIPIENT_DEVICES])
    times = dict(zip(RECIPIENT_DEVICES, best, strict=True))

    seen = count_requests(sender)
    await sender.send(recipients[5][0].address, TEXT)
    posts = [s for s in seen if s[1] == "/v1/messages"]
    result("requests_per_send", len(seen), "requests", recipient_devices=5, sender_devices=3)
    copies = 5 + SENDER_DEVICES - 1
    result("envelopes_per_send", copies, "envelopes", requests=len(posts))
    result("send_ms_5x3", times[5], "ms", copies=copies)
    xs = [float(n + SENDER_DEVICES - 1) for n in RECIPIENT_DEVICES]
    result("send_ms_per_extra_device", slope(xs, [times[n] for n in RECIPIENT_DEVICES]), "ms")

    sizes = []
    for n in (1, 5):
        seen.clear()
        await sender.send(recipients[n][0].address, TEXT)
        sizes.append(next(s[2] for s in seen if s[1] == "/v1/messages"))
    result("body_bytes_per_device", (sizes[1] - sizes[0]) / 4, "bytes")

    target = recipients[5][0].address
    devices = sender._contacts.device_list(target)
    assert devices is not None
    payload = b"x" * 200
    started = time.perf_counter()
    for _ in range(SENDS):
        await sender._outgoing.encrypt_for(target, devices, payload)
    result(
        "encrypt_ms_per_device",
        (time.perf_counter() - started) / SENDS / len(devices.devices) * 1000,
        "ms",
    )
    for clients in [senders, *recipients.values()]:
        for client in clients:
            await client.close()


def main() -> None:
    print(
        json.dumps(
            {
                "bench": "devices",
                "metric": "environment",
                "value": None,
                "unit": None,
                "impl": "sottovoce",
                "python": platform.python_version(),
                "machine": platform.machine(),
            }
        ),
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "server").mkdir()
        with ServerProcess(root / "server") as server:
            asyncio.run(run(root, server.url))


if __name__ == "__main__":
    main()
