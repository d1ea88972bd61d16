"""Errors the SDK raises. ``str(error)`` is one sentence a person can act on.

Messages name what was wrong (a field, a file, an address) and never carry key
material or message text.
"""

from __future__ import annotations


class ClientError(Exception):
    """Base class for every SDK failure."""


class ProfileError(ClientError):
    """The local profile is missing, locked, damaged, or the passphrase is wrong."""


class InvalidAddress(ClientError):
    """An address is not ``handle@app``."""


class InvalidMessage(ClientError):
    """A message to send is empty, too large, or a received payload is malformed."""


class NetworkError(ClientError):
    """The server could not be reached, or the connection broke mid-request."""


class ServerError(ClientError):
    """The server answered with an RFC 9457 problem document."""

    def __init__(
        self, status: int, problem_type: str, detail: str, problem: dict[str, object] | None = None
    ) -> None:
        super().__init__(f"the server refused ({status} {problem_type}): {detail}")
        self.status = status
        self.problem_type = problem_type
        self.detail = detail
        self.problem = problem or {}


class MalformedResponse(ClientError):
    """The server answered with JSON that does not have the shape docs/api.md gives."""


class UnknownAccount(ClientError):
    def __init__(self, address: str) -> None:
        super().__init__(f"{address} does not exist on this server")
        self.address = address


class IdentityChanged(ClientError):
    """A contact's account key differs from the one pinned on first contact.

    Sending to the contact is refused and messages from it stay queued on the
    server until :meth:`Client.trust_identity` accepts the new key.
    """

    def __init__(self, address: str) -> None:
        super().__init__(
            f"the identity key of {address} has changed; check it with them, then run "
            f"`sottovoce contact trust {address}` to accept it"
        )
        self.address = address


class SecurityError(ClientError):
    """Keys served for a contact do not match what that contact signed."""
