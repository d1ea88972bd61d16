"""Who may drive the local app process: only this session's browser tab.

A process listening on 127.0.0.1 can be reached by every local user and, through
the browser, by every web page the person visits. Three checks keep both out:

- **A per-session secret.** The process makes a random token and shows it once,
  in the URL's fragment (``#k=…``), which browsers never send over the network.
  The page posts it to ``/api/session`` and gets back an ``HttpOnly;
  SameSite=Strict`` cookie holding a second random value; the token is then
  spent. Every API request and WebSocket upgrade must carry that cookie.
- **Host.** Only ``127.0.0.1:<port>`` or ``localhost:<port>``: a DNS-rebinding
  page whose name resolves to 127.0.0.1 sends its own name and is refused.
- **Origin.** When a browser names an origin (every POST and WebSocket does) it
  must be this app's own; ``Sec-Fetch-Site`` must not say ``cross-site``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from sottovoce.crypto.hashing import constant_time_equal

COOKIE = "sv_session"
# 256 random bits each: guessing either is hopeless.
SECRET_BYTES = 32
# Browsers send these on requests a page makes; anything else is not ours.
_FOREIGN_FETCH_SITES = {"cross-site", "same-site"}


@dataclass
class Guard:
    """The session's secrets and the checks every request goes through."""

    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(SECRET_BYTES))
    _cookie: str = field(default_factory=lambda: secrets.token_urlsafe(SECRET_BYTES))
    _token_spent: bool = False

    def __repr__(self) -> str:
        return f"Guard(port={self.port})"

    @property
    def hosts(self) -> tuple[str, ...]:
        return (f"127.0.0.1:{self.port}", f"localhost:{self.port}")

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(f"http://{host}" for host in self.hosts)

    def launch_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/#k={self.token}"

    def exchange(self, token: str) -> str | None:
        """The cookie value for the one right token, once; None otherwise."""
        if self._token_spent or not constant_time_equal(token.encode(), self.token.encode()):
            return None
        self._token_spent = True
        return self._cookie

    def refusal(
        self, headers: Mapping[str, str], cookies: Mapping[str, str], *, need_cookie: bool = True
    ) -> str | None:
        """Why this request is refused, or None when it may go on."""
        if headers.get("host", "") not in self.hosts:
            return "wrong Host header"
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins:
            return "cross-origin request"
        if headers.get("sec-fetch-site") in _FOREIGN_FETCH_SITES:
            return "cross-site request"
        if need_cookie:
            presented = cookies.get(COOKIE, "")
            if not constant_time_equal(presented.encode(), self._cookie.encode()):
                return "no valid session cookie"
        return None

    def refusal_for_write(
        self, headers: Mapping[str, str], cookies: Mapping[str, str]
    ) -> str | None:
        """Writes and WebSocket upgrades must also name their origin: every browser
        does, so a missing one is a client that is not this app's page."""
        if headers.get("origin") is None:
            return "no Origin header"
        return self.refusal(headers, cookies)
