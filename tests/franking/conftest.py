"""The sealed-sender fixtures: one real server whose database the tests read."""

from tests.sealed.conftest import make_client, relay

__all__ = ["make_client", "relay"]
