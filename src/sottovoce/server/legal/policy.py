"""The operator's legal policy: where it answers domestic process, and its agreements.

Read from ``policy.json`` in the legal directory (docs/legal.md "Policy file")::

    {"home_jurisdictions": ["US"],
     "agreements": [{"id": "us-uk-data-access",
                     "parties": ["GB"],
                     "categories": ["subscriber", "connection", "devices", ...],
                     "exclude": {"apps": ["chat"], "accounts": ["alice@photos"],
                                 "minors": true}}]}

Domestic process (subpoena, court order, warrant, emergency, preservation) is
answered only from authorities of a home jurisdiction. An authority of another
country is answered only with a foreign order under an agreement that lists its
country as a party and that the operator registered the authority under. An
agreement's exclusions name the accounts its orders may not target: for the
US–UK agreement, US persons (18 U.S.C. § 2523(b)(4)(A)), which the operator
can only know by declaration — an app offered only in the US, or accounts it
has established belong to US persons — and, by the operator's own rule, minors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sottovoce.server.legal.compellability import HELD, Category
from sottovoce.server.legal.errors import LegalConfigError

COUNTRY = re.compile(r"[A-Z]{2}")
POLICY_FILE = "policy.json"
DEFAULT_HOME = ("US",)


@dataclass(frozen=True)
class Exclusions:
    """Accounts an agreement's orders may not target."""

    apps: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()  # handle@app
    minors: bool = False

    def excludes(self, app: str, handle: str, is_minor: bool) -> str | None:
        """Why the account is excluded, or None."""
        if app in self.apps:
            return f"the agreement excludes every account of the app {app!r}"
        if f"{handle}@{app}" in self.accounts:
            return "the agreement excludes this account by name"
        if self.minors and is_minor:
            return "the agreement excludes accounts of minors"
        return None


@dataclass(frozen=True)
class Agreement:
    id: str
    parties: frozenset[str]
    categories: frozenset[Category]
    exclude: Exclusions = field(default_factory=Exclusions)


@dataclass(frozen=True)
class LegalPolicy:
    home_jurisdictions: frozenset[str] = frozenset(DEFAULT_HOME)
    agreements: dict[str, Agreement] = field(default_factory=dict)

    def agreement(self, agreement_id: str | None) -> Agreement | None:
        return None if agreement_id is None else self.agreements.get(agreement_id)


def _countries(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(
        isinstance(c, str) and COUNTRY.fullmatch(c) for c in value
    ):
        raise LegalConfigError(f"{where} must be a list of ISO 3166 alpha-2 codes like 'US'")
    return frozenset(value)


def _strings(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise LegalConfigError(f"{where} must be a list of strings")
    return frozenset(value)


def parse_policy(data: Any) -> LegalPolicy:
    if not isinstance(data, dict) or not set(data) <= {"home_jurisdictions", "agreements"}:
        raise LegalConfigError("the policy is an object of home_jurisdictions and agreements")
    home = _countries(data.get("home_jurisdictions", list(DEFAULT_HOME)), "home_jurisdictions")
    agreements: dict[str, Agreement] = {}
    raw_agreements = data.get("agreements", [])
    if not isinstance(raw_agreements, list):
        raise LegalConfigError("agreements must be a list")
    for index, raw in enumerate(raw_agreements):
        where = f"agreements[{index}]"
        if not isinstance(raw, dict) or not {"id", "parties"} <= set(raw):
            raise LegalConfigError(f"{where} needs at least id and parties")
        agreement_id = raw["id"]
        if not isinstance(agreement_id, str) or not agreement_id:
            raise LegalConfigError(f"{where}.id must be a non-empty string")
        try:
            categories = frozenset(
                Category(c) for c in _strings(raw.get("categories", sorted(HELD)), where)
            )
        except ValueError as exc:
            raise LegalConfigError(f"{where}.categories names an unknown category") from exc
        exclude = raw.get("exclude", {})
        if not isinstance(exclude, dict) or not set(exclude) <= {"apps", "accounts", "minors"}:
            raise LegalConfigError(f"{where}.exclude has only apps, accounts and minors")
        minors = exclude.get("minors", False)
        if not isinstance(minors, bool):
            raise LegalConfigError(f"{where}.exclude.minors must be true or false")
        agreements[agreement_id] = Agreement(
            id=agreement_id,
            parties=_countries(raw["parties"], f"{where}.parties"),
            categories=categories,
            exclude=Exclusions(
                apps=_strings(exclude.get("apps", []), f"{where}.exclude.apps"),
                accounts=_strings(exclude.get("accounts", []), f"{where}.exclude.accounts"),
                minors=minors,
            ),
        )
    return LegalPolicy(home, agreements)


def load_policy(directory: Path) -> LegalPolicy:
    """The policy in ``directory``; the default (home US, no agreements) if it has none."""
    path = directory / POLICY_FILE
    if not path.exists():
        return LegalPolicy()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LegalConfigError(f"{path} is not readable JSON: {exc}") from exc
    return parse_policy(data)
