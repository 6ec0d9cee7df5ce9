"""Invitation templates: defaults, an operator's folder, escaping, bad placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from scim_gateway.plugins.templates import InvitationTemplates
from tests.unit.plugins.invitations import ACCEPT_URL, invitation


def test_default_templates_fill_in_organization_name_and_link() -> None:
    rendered = InvitationTemplates().render(invitation())

    assert rendered.subject == "Acme & Co invites you"
    assert "Hello Ann <Lee>," in rendered.text
    assert ACCEPT_URL in rendered.text
    assert "2030-01-31 12:00 UTC" in rendered.text


def test_html_body_escapes_the_values_it_is_given() -> None:
    rendered = InvitationTemplates().render(invitation())

    assert "Hello Ann &lt;Lee&gt;," in rendered.html
    assert "Acme &amp; Co" in rendered.html
    assert 'href="https://id.example.com/invitations/accept?token=secret' in (
        rendered.html
    )


def test_subject_is_one_line_whatever_the_name_holds() -> None:
    templates = InvitationTemplates(subject="Welcome, $name")

    rendered = templates.render(invitation(display_name="Ann\r\nBcc: x@evil"))

    assert rendered.subject == "Welcome, Ann Bcc: x@evil"


def test_operator_directory_replaces_only_the_files_it_has(tmp_path: Path) -> None:
    (tmp_path / "subject.txt").write_text("Join $organization, ${name}\n")

    templates = InvitationTemplates.from_directory(tmp_path)

    rendered = templates.render(invitation())
    assert rendered.subject == "Join Acme & Co, Ann <Lee>"
    assert rendered.text == InvitationTemplates().render(invitation()).text


def test_unknown_placeholder_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "body.txt").write_text("Hi $first_name")

    with pytest.raises(ValueError, match=r"\$first_name"):
        InvitationTemplates.from_directory(tmp_path)


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        InvitationTemplates.from_directory(tmp_path / "nope")
