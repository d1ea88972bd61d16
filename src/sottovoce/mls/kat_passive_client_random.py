"""Known answers for a passive client: passive-client-random.json (RFC 9420 §12.4.2),
checked as :mod:`sottovoce.mls.kat_passive_client_welcome` describes."""

from __future__ import annotations

from sottovoce.mls.kat_passive_client_welcome import follow

FILE = "passive-client-random.json"

check = follow
