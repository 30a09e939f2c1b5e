"""The content type of a file from its first bytes (magic numbers), never from the client."""

from __future__ import annotations

from dataclasses import dataclass

OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Kind:
    """A detected file kind: its media type and usual extension."""

    content_type: str
    extension: str

    @property
    def is_audio(self) -> bool:
        """Whether the file is sound only."""
        return self.content_type.startswith("audio/")

    @property
    def is_video(self) -> bool:
        """Whether the file is a video container."""
        return self.content_type.startswith("video/")


UNKNOWN = Kind(OCTET_STREAM, "")
# (offset, magic bytes, kind), tried in order; the RIFF/ftyp/Ogg families are refined below.
_MAGIC: tuple[tuple[int, bytes, Kind], ...] = (
    (0, b"\xff\xd8\xff", Kind("image/jpeg", "jpg")),
    (0, b"\x89PNG\r\n\x1a\n", Kind("image/png", "png")),
    (0, b"GIF87a", Kind("image/gif", "gif")),
    (0, b"GIF89a", Kind("image/gif", "gif")),
    (0, b"%PDF-", Kind("application/pdf", "pdf")),
    (0, b"ID3", Kind("audio/mpeg", "mp3")),
    (0, b"fLaC", Kind("audio/flac", "flac")),
    (0, b"#!AMR\n", Kind("audio/amr", "amr")),
    (0, b"\x1a\x45\xdf\xa3", Kind("video/webm", "webm")),
    (0, b"PK\x03\x04", Kind("application/zip", "zip")),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", Kind("application/x-ole-storage", "doc")),
)
# The second word of an ISO media file's "ftyp" box names the brand.
_AUDIO_BRANDS = (b"M4A ", b"M4B ")
_OFFICE_TYPES = {
    b"word/": Kind(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"
    ),
    b"xl/": Kind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    b"ppt/": Kind(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"
    ),
}


def detect_kind(data: bytes) -> Kind:
    """What the bytes are, by their magic numbers; application/octet-stream when unknown."""
    head = data[:64]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return Kind("audio/wav", "wav")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Kind("image/webp", "webp")
    if head[4:8] == b"ftyp":
        if head[8:12] in _AUDIO_BRANDS:
            return Kind("audio/mp4", "m4a")
        if head[8:11] == b"3gp":
            return Kind("video/3gpp", "3gp")
        return Kind("video/mp4", "mp4")
    if head[:4] == b"OggS":
        return _ogg_kind(data[:512])
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        # An MPEG audio frame header without an ID3 tag in front (layer bits not zero).
        return Kind("audio/mpeg", "mp3")
    for offset, magic, kind in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return _zip_kind(data) if kind.extension == "zip" else kind
    if _looks_like_text(data[:4096]):
        return Kind("text/plain", "txt")
    return UNKNOWN


def _ogg_kind(head: bytes) -> Kind:
    if b"OpusHead" in head:
        return Kind("audio/ogg", "ogg")
    if b"\x01vorbis" in head:
        return Kind("audio/ogg", "ogg")
    if b"\x80theora" in head:
        return Kind("video/ogg", "ogv")
    return Kind("application/ogg", "ogx")


def _zip_kind(data: bytes) -> Kind:
    # Office documents are zip files whose first entries are the format's own folders.
    head = data[:2048]
    for marker, kind in _OFFICE_TYPES.items():
        if marker in head:
            return kind
    return Kind("application/zip", "zip")


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        return exc.start >= len(head) - 3
    return True
