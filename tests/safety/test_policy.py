"""App policies for minors: the ``--apps`` flags and the TOML policy file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sottovoce.server.abuse.policy import AppPolicy, parse_apps, served_apps
from sottovoce.server.settings import Settings


def test_apps_with_flags() -> None:
    names, policies = parse_apps(" chat , photos:minors,,kids:minors ")
    assert names == ("chat", "photos", "kids")
    assert policies == {"photos": AppPolicy(marks_minors=True), "kids": AppPolicy(True)}
    assert not any(
        p.adults_may_contact or p.adults_may_find or p.adults_may_add_to_groups
        for p in policies.values()
    )


@pytest.mark.parametrize("spec", ["chat:adults", "chat:minors:minors", "chat:Minors"])
def test_unknown_flags_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="app flag"):
        parse_apps(spec)


def test_a_policy_file_overrides_the_flags(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[kids]\nmarks_minors = true\nadults_may_find = true\n", encoding="utf-8")
    names, policies = served_apps("chat,kids:minors", policy)
    assert names == ("chat", "kids")
    assert policies["kids"] == AppPolicy(marks_minors=True, adults_may_find=True)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[kids]\nmarks_minors = 'yes'\n", "true or false"),
        ("[kids]\nmark_minors = true\n", "unknown settings"),
        ("kids = 1\n", "table"),
        ("[kids\n", "cannot read"),
    ],
)
def test_a_bad_policy_file_names_what_is_wrong(tmp_path: Path, text: str, complaint: str) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=complaint):
        served_apps("kids", policy)


def test_a_policy_for_an_app_not_served_is_refused() -> None:
    with pytest.raises(ValueError, match="does not serve"):
        Settings(apps=("chat",), app_policies={"kids": AppPolicy(True)})


def test_the_command_line_refuses_a_bad_policy_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sottovoce.cli.main import app

    result = CliRunner().invoke(app, ["server", "--apps", "chat:grownups"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "app flag" in result.stderr
