"""Media between Tambuli and the Cloud API: uploads for outbound messages, downloads of inbound.

Uploads: `POST /{phone-number-id}/media` (multipart: file, type, messaging_product) answers a
media ID the messages endpoint takes. Each file (by SHA-1) is uploaded once per business number
and its ID reused while Meta keeps it (30 days; we reuse it for REUSE_FOR). The IDs live in
this process only: after a restart each file is uploaded once more per number, which costs one
request and its bytes, nothing else (Meta keeps the old copy until it expires).

Downloads: a webhook names inbound media by ID; `GET /{media-id}` answers a short-lived URL,
and `GET <url>` with the same bearer token answers the bytes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tambuli.channels.base import Outcome
from tambuli.channels.secrets import Secret
from tambuli.channels.whatsapp.base import InboundMedia, InboundWhatsApp, Media
from tambuli.channels.whatsapp.cloud_errors import CloudError
from tambuli.channels.whatsapp.cloud_graph import (
    TIMEOUT_ERROR,
    UNREACHABLE_ERROR,
    TokenFinder,
    call_graph,
)
from tambuli.channels.whatsapp.cloud_webhooks import MediaRef, PendingInbound
from tambuli.clock import Clock, SystemClock
from tambuli.outbound_http import AnswerTooLarge, CallFailed, OutboundHttp, Upload

REUSE_FOR = timedelta(days=25)
# Media IDs remembered at most (about 200 bytes each); the oldest are uploaded again if needed.
REMEMBERED_UPLOADS = 100_000
# The largest file WhatsApp carries (a document); a download that grows past it is cut off.
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024
NO_ACCESS_ERROR = "no access token for this business number"


class MediaRefused(Exception):
    """The Cloud API would not take (or give) a file; `refusal` says whether to retry."""

    def __init__(self, refusal: CloudError) -> None:
        super().__init__(refusal.error)
        self.refusal = refusal


@dataclass
class _Uploaded:
    media_id: str
    at: datetime


class MediaUploads:
    """Uploads files to business numbers, each file once per number while its ID is valid."""

    def __init__(
        self,
        client: OutboundHttp,
        api_url: str,
        timeout: float,
        clock: Clock | None = None,
        slots: asyncio.Semaphore | None = None,
    ) -> None:
        self._client = client
        self._api_url = api_url
        self._timeout = timeout
        self._clock: Clock = clock or SystemClock()
        # Shared with the channel's message requests: uploads count against max_concurrent.
        self._slots = slots or asyncio.Semaphore(1)
        # Oldest first, so the remembered IDs can be capped at REMEMBERED_UPLOADS.
        self._uploaded: dict[tuple[str, str], _Uploaded] = {}
        # One lock per file and number while in use, so two messages with one new file upload
        # it once; `_users` counts who holds or awaits each, so idle locks are dropped.
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._users: dict[tuple[str, str], int] = {}
        self.uploads = 0

    async def find_media_id(self, phone_number_id: str, token: Secret, media: Media) -> str:
        """The file's media ID at this number, uploading it first if needed; MediaRefused."""
        key = (phone_number_id, media.sha1)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                known = self._uploaded.get(key)
                now = self._clock.now()
                if known is not None and now - known.at < REUSE_FOR:
                    return known.media_id
                media_id = await self._upload(phone_number_id, token, media)
                self._remember(key, _Uploaded(media_id, now))
                return media_id
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    def _remember(self, key: tuple[str, str], uploaded: _Uploaded) -> None:
        self._uploaded.pop(key, None)
        self._uploaded[key] = uploaded
        while len(self._uploaded) > REMEMBERED_UPLOADS:
            del self._uploaded[next(iter(self._uploaded))]

    async def _upload(self, phone_number_id: str, token: Secret, media: Media) -> str:
        async with self._slots:
            answer = await call_graph(
                self._client,
                "POST",
                f"{self._api_url}/{phone_number_id}/media",
                token,
                self._timeout,
                form={"messaging_product": "whatsapp", "type": media.content_type},
                files={"file": Upload(media.filename, media.data, media.content_type)},
            )
        media_id = answer.body.get("id") if answer.ok else None
        if not isinstance(media_id, str | int) or isinstance(media_id, bool) or not media_id:
            refusal = answer.read_error()
            raise MediaRefused(replace(refusal, error=f"media upload: {refusal.error}"))
        self.uploads += 1
        return str(media_id)


class InboundMediaFetcher:
    """Fetches the bytes of the media an inbound message names, with its number's token.

    One fetcher serves one webhook body: it keeps what it fetched, so reading the body again
    (after a miss, with the numbers read again) fetches only the media that failed.
    """

    def __init__(
        self,
        client: OutboundHttp,
        api_url: str,
        find_token: TokenFinder,
        timeout: float,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> None:
        self._client = client
        self._api_url = api_url
        self._find_token = find_token
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._fetched: dict[MediaRef, InboundMedia] = {}

    async def fetch_media(self, pending: PendingInbound) -> InboundWhatsApp:
        """The message with its media's bytes; MediaRefused when a file cannot be had.

        A TRANSIENT refusal (Meta or the network in trouble, a token refused) means: answer
        the webhook with an error so Meta delivers it again. A PERMANENT one (the media is gone)
        means the file will never come: store the message without it (see `drop_media`).
        """
        if not pending.media:
            return pending.message
        token = self._find_token(pending.phone_number_id)
        if token is None:
            raise MediaRefused(CloudError(Outcome.TRANSIENT, NO_ACCESS_ERROR))
        files = [await self._fetch_one(ref, token) for ref in pending.media]
        return replace(pending.message, media=tuple(files))

    async def _fetch_one(self, ref: MediaRef, token: Secret) -> InboundMedia:
        fetched = self._fetched.get(ref)
        if fetched is None:
            fetched = self._fetched[ref] = await self._fetch_new(ref, token)
        return fetched

    async def _fetch_new(self, ref: MediaRef, token: Secret) -> InboundMedia:
        answer = await call_graph(
            self._client, "GET", f"{self._api_url}/{ref.media_id}", token, self._timeout
        )
        url = answer.body.get("url") if answer.ok else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            refusal = answer.read_error() if not answer.ok else _unreadable("no media URL")
            raise MediaRefused(_as_download_error(refusal, answer.status))
        content_type = answer.body.get("mime_type")
        data = await self._download(url, token)
        return InboundMedia(
            kind=ref.kind,
            filename=ref.filename,
            content_type=content_type if isinstance(content_type, str) else ref.content_type,
            data=data,
            caption=ref.caption,
        )

    async def _download(self, url: str, token: Secret) -> bytes:
        headers = {"Authorization": f"Bearer {token.reveal()}"}
        try:
            answer = await self._client.call(
                "GET", url, headers=headers, time_limit=self._timeout, max_bytes=self._max_bytes
            )
        except AnswerTooLarge as exc:
            raise MediaRefused(_permanent("media download: file too large")) from exc
        except CallFailed as exc:
            error = TIMEOUT_ERROR if exc.timed_out else f"{UNREACHABLE_ERROR} ({exc.kind})"
            raise MediaRefused(CloudError(Outcome.TRANSIENT, error)) from exc
        if answer.status != 200:
            refusal = CloudError(
                Outcome.TRANSIENT, f"media download: WhatsApp HTTP {answer.status}"
            )
            raise MediaRefused(_as_download_error(refusal, answer.status))
        return answer.content


def drop_media(pending: PendingInbound) -> InboundWhatsApp:
    """The message without its media: for files the provider says are gone for good."""
    return pending.message


def _as_download_error(refusal: CloudError, status: int) -> CloudError:
    # A download fails for good only when the media is gone (400/404 from Meta); a refused
    # token, a limit or an outage heals, and Meta delivers the webhook again meanwhile.
    gone = status in (400, 404, 410)
    outcome = Outcome.PERMANENT if gone else Outcome.TRANSIENT
    error = (
        refusal.error if refusal.error.startswith("media") else f"media download: {refusal.error}"
    )
    return CloudError(outcome, error)


def _unreadable(error: str) -> CloudError:
    return CloudError(Outcome.TRANSIENT, f"media download: {error}")


def _permanent(error: str) -> CloudError:
    return CloudError(Outcome.PERMANENT, error)
