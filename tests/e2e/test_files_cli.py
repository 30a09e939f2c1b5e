"""`tambuli files list|upload|delete` on a real database, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_messaging_cli import _cli, _json, _refused
from tests.support.media import tone_wav


def _new_org(url: str, name: str) -> int:
    return int(json.loads(_cli(url, "org", "create", "--name", name))["orgId"])


def test_files_are_uploaded_listed_and_deleted_from_the_command_line(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    clinic = _new_org(url, "Clinic")
    shop = _new_org(url, "Shop")
    tone = tmp_path / "01 - Welcome.wav"
    tone.write_bytes(tone_wav())
    notes = tmp_path / "notes.txt"
    notes.write_text("not a sound")
    org = str(clinic)
    uploaded = _json(
        url,
        "files",
        "upload",
        "--org",
        org,
        "--category",
        "prompts",
        "--filter",
        "mono",
        str(tone),
        str(notes),
    )
    assert uploaded["results"][tone.name] == ""
    assert "converts audio" in uploaded["results"]["notes.txt"]
    [stored] = uploaded["files"]
    assert stored["filename"] == "01-welcome.wav"
    listed = _json(url, "files", "list", "--org", org)
    assert [(f["filename"], f["category"]) for f in listed] == [("01-welcome.wav", "prompts")]
    assert _json(url, "files", "list", "--org", org, "--category", "other") == []
    assert _json(url, "files", "list", "--org", str(shop)) == []
    assert "prompts" in _cli(url, "files", "list", "--org", org)
    refused = _refused(
        url, "files", "upload", "--org", org, "--category", "x", "--video", str(tone)
    )
    assert "must be a video" in refused
    assert _refused(url, "files", "delete", "--org", str(shop), "01-welcome.wav") == (
        "Error: No such file"
    )
    _cli(url, "files", "delete", "--org", org, "01-welcome.wav")
    assert _json(url, "files", "list", "--org", org) == []
    assert _refused(url, "files", "list", "--org", "999999").startswith("Error: ")
