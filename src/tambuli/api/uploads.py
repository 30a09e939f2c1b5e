"""Request bodies that carry files: capped streaming, multipart/form-data parts, draining."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException
from python_multipart import FormParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import Field, File

from tambuli.errors import BodyTooLarge, TambuliError


@dataclass(frozen=True)
class FormPart:
    """One part of a multipart/form-data body: its file name ("" for a plain field), its bytes."""

    file_name: str
    data: bytes


async def limited_stream(request: Request[Any, Any, Any], limit: int) -> AsyncIterator[bytes]:
    """The request body in chunks; BodyTooLarge once it passes `limit` bytes."""
    announced = request.content_length
    if announced is not None and announced > limit:
        raise BodyTooLarge(f"The file is larger than the {limit}-byte upload limit")
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(f"The file is larger than the {limit}-byte upload limit")
        yield chunk


async def read_form_parts(
    request: Request[Any, Any, Any],
    field_name: str,
    boundary: str,
    limit: int,
    refusal: type[TambuliError],
) -> list[FormPart]:
    """The parts of a multipart/form-data body named `field_name`, in order.

    A body that cannot be parsed is refused with `refusal` (the route's own error); one over
    `limit` bytes with BodyTooLarge.
    """
    wanted = field_name.encode()
    found: list[FormPart] = []

    def on_field(part: Field) -> None:
        if part.field_name == wanted:
            found.append(FormPart("", part.value or b""))

    def on_file(part: File) -> None:
        if part.field_name == wanted:
            part.file_object.seek(0)
            name = (part.file_name or b"").decode("utf-8", "replace")
            found.append(FormPart(name, part.file_object.read()))

    parser = FormParser(
        "multipart/form-data",
        on_field,
        on_file,
        boundary=boundary.encode("latin-1"),
        # Keep files in memory (the whole body is capped by `limit`), never in temporary files.
        config={"MAX_MEMORY_FILE_SIZE": limit + 1},
    )
    try:
        async for chunk in limited_stream(request, limit):
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise refusal(f"The multipart/form-data body cannot be read: {exc}") from exc
    return found


async def discard_body(request: Request[Any, Any, Any], limit: int) -> None:
    """Read and drop what the client still sends (up to `limit`) before an error answer."""
    # Answering while the client still sends makes the server reset the connection, and
    # the reset can destroy the answer before the client reads it.
    if not request.is_connected:
        return
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                return
    except HTTPException:
        return
