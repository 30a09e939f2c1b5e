"""Pure rules of stored files: titles, filenames, collisions, references, content sniffing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tambuli.files.models import (
    check_category,
    filename_for,
    free_filename,
    names_file,
    split_extension,
    title_of,
)
from tambuli.files.sniffing import detect_kind
from tests.support.media import tone_wav, video_clip

URL_SAFE = set("abcdefghijklmnopqrstuvwxyz0123456789-.")


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("01 - Example.mp3", "01 - Example.mp3"),
        ("C:\\Users\\ana\\Desktop\\Welcome.wav", "Welcome.wav"),
        ("/tmp/prompts/intro.ogg", "intro.ogg"),
        ("  spaced.wav  ", "spaced.wav"),
        ("bad\x00name\r\n.wav", "badname.wav"),
        ("caf\udce9.wav", "caf?.wav"),
    ],
)
def test_the_title_is_the_uploaded_name_without_its_path(name: str, title: str) -> None:
    assert title_of(name) == title


@pytest.mark.parametrize(
    ("title", "extension", "filename"),
    [
        ("01 - Example.mp3", "mp3", "01-example.mp3"),
        ("01 - Example file.mp3", "mp3", "01-example-file.mp3"),
        ("Été à Cebu!.WAV", "wav", "ete-a-cebu.wav"),
        ("مرحبا.ogg", "ogg", "file.ogg"),
        ("README", "", "readme"),
        ("Greeting.wav", "ogg", "greeting.ogg"),
    ],
)
def test_the_filename_is_a_url_safe_slug_of_the_title(
    title: str, extension: str, filename: str
) -> None:
    assert filename_for(title, extension) == filename


@given(st.text(max_size=300), st.sampled_from(["", "wav", "mp3"]))
def test_every_title_gives_a_short_url_safe_filename(title: str, extension: str) -> None:
    name = filename_for(title, extension)
    assert set(name) <= URL_SAFE
    assert 0 < len(name) <= 91
    assert not name.startswith(("-", "."))


def test_a_taken_filename_gets_the_next_free_number() -> None:
    assert free_filename("tone.wav", []) == "tone.wav"
    assert free_filename("tone.wav", ["tone.wav"]) == "tone-2.wav"
    assert free_filename("tone.wav", ["tone.wav", "tone-2.wav", "tone-3.wav"]) == "tone-4.wav"
    assert free_filename("readme", ["readme"]) == "readme-2"


def test_an_extension_is_short_letters_and_digits_after_the_last_dot() -> None:
    assert split_extension("a.b.MP3") == ("a.b", "mp3")
    assert split_extension(".hidden") == (".hidden", "")
    assert split_extension("notes. final") == ("notes", "final")
    assert split_extension("x.verylongextension") == ("x.verylongextension", "")


def test_a_category_is_one_to_a_hundred_characters() -> None:
    assert check_category(" uploads ") == "uploads"
    assert check_category("") == ""
    assert check_category(None) == ""
    assert check_category("x" * 101) == ""


def test_a_campaign_step_names_a_file_only_in_a_file_field() -> None:
    step = {"message": "prompt.wav", "audioFile": "other.wav", "imageFiles": ["pic.jpg"]}
    definition = {"steps": [step]}
    assert names_file(definition, "other.wav")
    assert names_file(definition, "pic.jpg")
    assert not names_file(definition, "prompt.wav")
    assert not names_file({"steps": "nonsense"}, "other.wav")


@pytest.mark.parametrize(
    ("data", "content_type", "extension"),
    [
        (tone_wav(seconds=0.1), "audio/wav", "wav"),
        (video_clip(seconds=1.0), "video/mp4", "mp4"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg", "jpg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png", "png"),
        (b"%PDF-1.7\n", "application/pdf", "pdf"),
        (b"ID3\x04\x00\x00", "audio/mpeg", "mp3"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead", "audio/ogg", "ogg"),
        (b"Hello, world", "text/plain", "txt"),
        (b"\x00\x01\x02\x03", "application/octet-stream", ""),
    ],
)
def test_the_content_type_is_read_from_the_bytes(
    data: bytes, content_type: str, extension: str
) -> None:
    kind = detect_kind(data)
    assert (kind.content_type, kind.extension) == (content_type, extension)
