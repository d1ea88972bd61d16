"""Per-app policy for minors: whether an app marks minors, and what protects them.

An operator names it with the apps it serves, ``--apps chat,photos:minors``, or
in a TOML policy file (``--app-policy FILE``) with one table per app::

    [photos]
    marks_minors = true
    adults_may_contact = false     # start a conversation or claim keys
    adults_may_find = false        # look the minor up by handle
    adults_may_add_to_groups = false

Every protection is on by default for an app that marks minors; an app that does
not mark minors has no minor accounts and so nothing to protect.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MINORS_FLAG = "minors"


@dataclass(frozen=True, slots=True)
class AppPolicy:
    marks_minors: bool = False
    adults_may_contact: bool = False
    adults_may_find: bool = False
    adults_may_add_to_groups: bool = False


NO_MINORS = AppPolicy()
_FIELDS = frozenset(AppPolicy.__dataclass_fields__)


def parse_apps(spec: str) -> tuple[tuple[str, ...], dict[str, AppPolicy]]:
    """``"chat,photos:minors"`` as the app names and the policies of those with flags."""
    names: list[str] = []
    policies: dict[str, AppPolicy] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, flags = part.partition(":")
        names.append(name)
        if flags:
            if flags != MINORS_FLAG:
                raise ValueError(f"app {name!r}: the only app flag is {MINORS_FLAG!r}")
            policies[name] = AppPolicy(marks_minors=True)
    return tuple(names), policies


def load_policy_file(path: Path) -> dict[str, AppPolicy]:
    """Policies from a TOML file (module docstring); ValueError names what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the app policy file {path}: {exc}") from exc
    return policies_from(data, str(path))


def policies_from(data: Mapping[str, object], where: str) -> dict[str, AppPolicy]:
    policies = {}
    for app, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"{where}: [{app}] must be a table of settings")
        unknown = sorted(set(table) - _FIELDS)
        if unknown:
            raise ValueError(f"{where}: [{app}] has unknown settings {unknown}")
        if not all(isinstance(v, bool) for v in table.values()):
            raise ValueError(f"{where}: [{app}] settings are true or false")
        marks = table.get("marks_minors", False)
        policies[app] = AppPolicy(
            marks_minors=marks,
            adults_may_contact=table.get("adults_may_contact", False),
            adults_may_find=table.get("adults_may_find", False),
            adults_may_add_to_groups=table.get("adults_may_add_to_groups", False),
        )
    return policies


def served_apps(
    spec: str, policy_file: Path | None = None
) -> tuple[tuple[str, ...], dict[str, AppPolicy]]:
    """The apps of ``--apps`` and their policies, a policy file's tables overriding flags."""
    names, policies = parse_apps(spec)
    if policy_file is not None:
        policies.update(load_policy_file(policy_file))
    return names, policies
