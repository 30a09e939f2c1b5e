"""Pure rules of stored files: titles, URL-safe filenames, audio filters, video limits."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

MAX_TITLE_CHARS = 255
MAX_CATEGORY_CHARS = 100
MAX_TRANSCRIPT_CHARS = 100_000
# Room for "-NNN" and an extension inside the 200-character column.
MAX_STEM_CHARS = 80
MAX_EXTENSION_CHARS = 10
MAX_CATEGORY_ERROR = f"category must be 1 to {MAX_CATEGORY_CHARS} characters"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Step keys that name stored files: audioFile, imageFiles, videoFiles, documentFiles, ...
_FILE_KEY = re.compile(r"^[a-z]+Files?$")


class AudioFilter(StrEnum):
    """How an uploaded audio file is converted before it is stored."""

    # Re-encode as Opus in an Ogg container.
    OGG = "ogg"
    # Re-encode as MP3.
    MP3 = "mp3"
    # Down-mix to one channel, keeping the file's format.
    MONO = "mono"
    # Normalise the loudness, keeping the file's format.
    NORM = "norm"


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """What WhatsApp accepts as a video: H.264 with AAC audio, small and not too short."""

    max_bytes: int = 16 * 1_048_576
    min_seconds: float = 1.0
    video_codec: str = "h264"
    audio_codec: str = "aac"


@dataclass(frozen=True, slots=True)
class Upload:
    """One part of a multipart upload: the name the client gave and the bytes."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class NewFile:
    """A file ready to be stored, after conversion and checks."""

    title: str
    category: str
    extension: str
    content_type: str
    content: bytes
    sha1: str
    thumbnail: bytes | None


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A stored file's record, without its bytes."""

    filename: str
    title: str
    category: str
    transcript: str
    content_type: str
    size: int
    sha1: str
    uploaded_at: datetime
    has_thumbnail: bool


@dataclass(frozen=True, slots=True)
class FileContent:
    """A stored file's bytes (or its thumbnail's) with what a download needs."""

    filename: str
    content_type: str
    sha1: str
    content: bytes


@dataclass(frozen=True, slots=True)
class UploadReport:
    """What an upload did: each uploaded name with "" or its error, and the stored files."""

    results: dict[str, str]
    stored: list[StoredFile]


def title_of(name: str) -> str:
    """The title of an uploaded file: its name without any path (either kind of slash), without
    control characters, and valid UTF-8 (a file system's undecodable bytes become "?")."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    readable = base.encode("utf-8", "replace").decode("utf-8")
    # PostgreSQL text cannot hold NUL, and no title needs a control character.
    printable = "".join(ch for ch in readable if ch.isprintable() or ch == " ")
    return printable.strip()[:MAX_TITLE_CHARS]


def split_extension(title: str) -> tuple[str, str]:
    """A title's stem and its extension (lower-case, without the dot; "" when it has none)."""
    stem, dot, extension = title.rpartition(".")
    clean = slug_of(extension)
    if not dot or not stem.strip() or not clean or len(clean) > MAX_EXTENSION_CHARS:
        return title, ""
    return stem, clean


def slug_of(text: str) -> str:
    """Lower-case ASCII letters and digits joined by single hyphens ("01 - Été" → "01-ete")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")


def filename_for(title: str, extension: str) -> str:
    """The URL-safe filename a title asks for ("01 - Example.mp3" → "01-example.mp3")."""
    stem = slug_of(split_extension(title)[0])[:MAX_STEM_CHARS].strip("-") or "file"
    return f"{stem}.{extension}" if extension else stem


def free_filename(wanted: str, taken: Iterable[str]) -> str:
    """`wanted`, or the first of wanted-2, wanted-3, ... that is not taken."""
    used = set(taken)
    if wanted not in used:
        return wanted
    stem, dot, extension = wanted.partition(".")
    number = 2
    while f"{stem}-{number}{dot}{extension}" in used:
        number += 1
    return f"{stem}-{number}{dot}{extension}"


def check_category(category: str | None) -> str:
    """The category of an upload, or None when it is missing or too long."""
    clean = (category or "").strip()
    return clean if 0 < len(clean) <= MAX_CATEGORY_CHARS and "\x00" not in clean else ""


def names_file(definition: Mapping[str, Any], filename: str) -> bool:
    """Whether a campaign definition's steps name a stored file (as audioFile, imageFiles, ...)."""
    steps = definition.get("steps")
    if not isinstance(steps, list):
        return False
    return any(isinstance(step, Mapping) and _step_names_file(step, filename) for step in steps)


def _step_names_file(step: Mapping[str, Any], filename: str) -> bool:
    for key, value in step.items():
        if not isinstance(key, str) or not _FILE_KEY.match(key):
            continue
        if value == filename or (isinstance(value, list) and filename in value):
            return True
    return False
