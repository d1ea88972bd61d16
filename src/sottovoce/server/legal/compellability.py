"""Which data categories each kind of legal process can compel (docs/legal.md).

The mapping follows the tiers of the US Stored Communications Act, which the
other regimes the operator answers to resemble closely:

- a **subpoena** compels basic subscriber records (18 U.S.C. § 2703(c)(2)):
  who the account is and when it was created and last connected;
- a **court order for records** (§ 2703(d)) adds other non-content records:
  devices and their public keys, counts of queued ciphertext, group membership,
  transparency-log entries and abuse reports naming the account;
- a **warrant** (§ 2703(a)) compels everything held, which still contains no
  content, because the operator holds none;
- an **emergency request** compels nothing: the operator may disclose basic
  records voluntarily when a life is in danger (§ 2702(c)(4)) and answers
  every other category "not compellable";
- a **preservation request** (§ 2703(f)) discloses nothing and freezes deletion;
- a **foreign order** under an agreement (CLOUD Act § 2523) compels what the
  agreement lists, within the agreement's exclusions (``legal.policy``).

Categories the operator never holds are still named, so a request for them is
answered plainly "not held" instead of silently ignored.
"""

from __future__ import annotations

from enum import StrEnum


class ProcessType(StrEnum):
    SUBPOENA = "subpoena"
    COURT_ORDER = "court_order"
    WARRANT = "warrant"
    EMERGENCY = "emergency"
    PRESERVATION = "preservation"
    FOREIGN_ORDER = "foreign_order"


class Category(StrEnum):
    # Held (DESIGN.md's list of what the server may know).
    SUBSCRIBER = "subscriber"
    CONNECTION = "connection"
    DEVICES = "devices"
    QUEUED_COUNTS = "queued_counts"
    GROUP_MEMBERSHIP = "group_membership"
    TRANSPARENCY_LOG = "transparency_log"
    ABUSE_REPORTS = "abuse_reports"
    # Never held: end-to-end encrypted, or never recorded at all.
    MESSAGE_CONTENT = "message_content"
    ATTACHMENTS = "attachments"
    GROUP_CONTENT = "group_content"
    KEYS = "keys"
    CONTACTS = "contacts"
    IP_ADDRESSES = "ip_addresses"
    ACCESS_LOGS = "access_logs"
    LOCATION = "location"


class Unavailable(StrEnum):
    """Why a requested category is not in a package."""

    NOT_HELD = "not-held"
    NOT_RETAINED = "not-retained"
    NOT_COMPELLABLE = "not-compellable"


BASIC_SUBSCRIBER = frozenset({Category.SUBSCRIBER, Category.CONNECTION})
NON_CONTENT = BASIC_SUBSCRIBER | {
    Category.DEVICES,
    Category.QUEUED_COUNTS,
    Category.GROUP_MEMBERSHIP,
    Category.TRANSPARENCY_LOG,
    Category.ABUSE_REPORTS,
}
EVERYTHING = frozenset(Category)
HELD = NON_CONTENT

# Why each never-held category is absent, in the words a package uses.
NEVER_HELD: dict[Category, str] = {
    Category.MESSAGE_CONTENT: (
        "Messages are end-to-end encrypted on the senders' devices; the operator relays "
        "ciphertext it has no key for and deletes it once delivered."
    ),
    Category.ATTACHMENTS: (
        "Attachments are encrypted on the sender's device with keys that travel only "
        "inside end-to-end encrypted messages; the server holds at most their ciphertext, "
        "unreadable to it and deleted when it expires."
    ),
    Category.GROUP_CONTENT: (
        "Group messages, names and avatars are encrypted with MLS group secrets "
        "that only the group's members hold."
    ),
    Category.KEYS: (
        "Private keys, session and ratchet state never leave the users' devices; "
        "the operator holds public keys only (see the devices category)."
    ),
    Category.CONTACTS: "Contact lists and address books stay on the users' devices.",
    Category.IP_ADDRESSES: "The server keeps no IP address in its database or its logs.",
    Category.ACCESS_LOGS: "The server keeps no access log; only the last connection day.",
    Category.LOCATION: "The server never receives or records location.",
}

# What the process type compels. Emergency and preservation compel no
# disclosure; their own rules are in VOLUNTARY_ON_EMERGENCY and the desk.
COMPELLABLE: dict[ProcessType, frozenset[Category]] = {
    ProcessType.SUBPOENA: BASIC_SUBSCRIBER,
    ProcessType.COURT_ORDER: NON_CONTENT,
    ProcessType.WARRANT: EVERYTHING,
    ProcessType.EMERGENCY: EVERYTHING,
    ProcessType.PRESERVATION: EVERYTHING,
    ProcessType.FOREIGN_ORDER: EVERYTHING,
}

# An emergency request may ask for anything; the operator discloses only these
# voluntarily, enough to find a person in danger, and answers the rest
# "not compellable: send legal process".
VOLUNTARY_ON_EMERGENCY = frozenset({Category.SUBSCRIBER, Category.CONNECTION, Category.DEVICES})

# Process that needs a court's (or an independent reviewer's) countersignature.
NEEDS_JUDICIAL_AUTHORIZATION = frozenset(
    {ProcessType.COURT_ORDER, ProcessType.WARRANT, ProcessType.FOREIGN_ORDER}
)


def compellable(
    process: ProcessType, agreement_categories: frozenset[Category]
) -> frozenset[Category]:
    """What ``process`` may ask for; a foreign order is bounded by its agreement."""
    if process is ProcessType.FOREIGN_ORDER:
        return agreement_categories
    return COMPELLABLE[process]
