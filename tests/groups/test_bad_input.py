"""Bad input at the Delivery Service: the header parser raises only its typed error,
and arbitrary JSON or bytes at every group endpoint never yield a 5xx."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sottovoce.server import mls_header
from tests.groups import mls_bytes
from tests.support.device import BareDevice, b64
from tests.support.in_process import in_process


@given(st.binary(max_size=200))
def test_the_header_parser_raises_only_its_typed_error(data: bytes) -> None:
    for parse in (
        mls_header.message_header,
        mls_header.check_welcome,
        mls_header.key_package_suite,
    ):
        with contextlib.suppress(mls_header.HeaderError):
            parse(data)


@given(st.integers(0, 2**64 - 1), st.binary(min_size=1, max_size=64), st.sampled_from([1, 2, 3]))
def test_the_header_parser_reads_what_was_written(epoch: int, group_id: bytes, kind: int) -> None:
    for data in (
        mls_bytes.private_message(group_id, epoch, kind),
        mls_bytes.public_message(group_id, epoch, kind),
    ):
        header = mls_header.message_header(data)
        assert (header.group_id, header.epoch, header.content_type) == (group_id, epoch, kind)
        # Every strict prefix of the header is refused as truncated.
        cut = 4 + 1 + len(group_id) + 8
        for end in range(cut):
            try:
                mls_header.message_header(data[:end])
            except mls_header.HeaderError:
                continue
            raise AssertionError(f"a {end}-byte prefix parsed")


FIELDS = [
    "group_id", "message_id", "epoch", "commit", "welcome", "added", "removed", "address",
    "device_id", "type", "message", "leave", "key_packages", "last_resort", "cipher_suite",
    "device_ids",
]  # fmt: skip
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=30)
    | st.binary(max_size=40).map(b64),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), children, max_size=7)
    ),
    max_leaves=16,
)


def test_arbitrary_bodies_at_group_endpoints_never_fail_the_server(tmp_path: Path) -> None:
    async def run() -> None:
        async with in_process(tmp_path / "fuzz.db") as relay:
            alice = await BareDevice().register(relay.http)
            bob = await BareDevice(app="photos").register(relay.http)
            group_id = secrets.token_bytes(32)
            await alice.call(relay.http, "POST", "/v1/groups", {"group_id": b64(group_id)})
            path = base64.urlsafe_b64encode(group_id).decode().rstrip("=")
            endpoints = [
                ("POST", "/v1/groups"),
                ("POST", f"/v1/groups/{path}/commits"),
                ("POST", f"/v1/groups/{path}/messages"),
                ("PUT", "/v1/devices/self/key-packages"),
                ("POST", "/v1/key-packages/claim"),
            ]
            payloads: list[tuple[tuple[str, str], object]] = []

            @settings(
                max_examples=150,
                deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            )
            @given(st.sampled_from(endpoints), json_values)
            def collect(endpoint: tuple[str, str], payload: object) -> None:
                payloads.append((endpoint, payload))

            collect()
            # A well-formed body around bytes that are nearly MLS: right header, wrong rest.
            for epoch in (0, 1, 2**63 - 2):
                payloads.append(
                    (
                        endpoints[1],
                        {
                            "message_id": "m" + secrets.token_hex(4),
                            "epoch": epoch,
                            "commit": b64(mls_bytes.commit(group_id, epoch)[:-70]),
                            "added": [{"address": bob.address, "device_id": 1}],
                            "welcome": b64(mls_bytes.welcome()[:4]),
                        },
                    )
                )
            for (method, url), payload in payloads:
                response = await alice.call(relay.http, method, url, payload)
                assert response.status_code < 500, (url, payload, response.text)
                if response.status_code >= 400:
                    assert response.headers["content-type"].startswith("application/problem+json")
            assert (await alice.call(relay.http, "GET", "/v1/groups")).status_code == 200

    asyncio.run(run())
