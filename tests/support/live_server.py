"""The server process the tests start (the same launcher the demo uses)."""

from sottovoce.server.process import ServerProcess as LiveServer
from sottovoce.server.process import free_port

__all__ = ["LiveServer", "free_port"]
