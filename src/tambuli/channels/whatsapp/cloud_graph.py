"""One call to the Graph API, with its answer read the same way for every endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tambuli.channels.base import Outcome
from tambuli.channels.secrets import Secret
from tambuli.channels.whatsapp.cloud_errors import CloudError, classify_error
from tambuli.outbound_http import CallFailed, OutboundHttp

TIMEOUT_ERROR = "WhatsApp timeout"
UNREACHABLE_ERROR = "WhatsApp unreachable"

# The access token of a business number (its phone-number-id), or None when it has none.
TokenFinder = Callable[[str], Secret | None]


def find_tokens_in_environ(
    token_envs: Mapping[str, str], environ: Mapping[str, str], default: Secret | None = None
) -> TokenFinder:
    """A TokenFinder reading each number's token from the variable token_envs names for it.

    `token_envs` maps phone-number-id → variable name (`tambuli whatsapp numbers add
    --token-env`); it is read at every call, so a dict kept up to date serves new numbers. A
    number not in it, or whose variable is unset or empty, gets `default`.
    """

    def find_token(phone_number_id: str) -> Secret | None:
        name = token_envs.get(phone_number_id)
        value = environ.get(name, "") if name else ""
        return Secret(value) if value else default

    return find_token


@dataclass(frozen=True)
class GraphAnswer:
    """What a call got: an HTTP status and JSON body, or a failure before any answer."""

    status: int
    body: Any
    # Set when no answer came (timeout, no connection): always transient.
    failure: CloudError | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer with a JSON object."""
        return self.failure is None and 200 <= self.status < 300 and isinstance(self.body, dict)

    def read_error(self) -> CloudError:
        """Why the call did not succeed, as an outcome and `error` words."""
        if self.failure is not None:
            return self.failure
        error = self.body.get("error") if isinstance(self.body, dict) else None
        if not isinstance(error, dict):
            if 200 <= self.status < 300:
                # A 2xx without what every success carries: something in between answered.
                return CloudError(
                    Outcome.TRANSIENT, f"unreadable WhatsApp answer (HTTP {self.status})"
                )
            return classify_error(None, self.status)
        code = error.get("code")
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, dict) else None
        text = details if isinstance(details, str) and details else error.get("message")
        return classify_error(
            code if isinstance(code, int) and not isinstance(code, bool) else None,
            self.status,
            text if isinstance(text, str) else "",
        )


async def call_graph(
    client: OutboundHttp,
    method: str,
    url: str,
    token: Secret,
    time_limit: float,
    **request: Any,
) -> GraphAnswer:
    """Make one call with the bearer token; never raises for network trouble.

    `request` is passed to OutboundHttp.call (json_body, form, files).
    """
    headers = {"Authorization": f"Bearer {token.reveal()}", "Accept": "application/json"}
    try:
        answer = await client.call(method, url, headers=headers, time_limit=time_limit, **request)
    except CallFailed as exc:
        if exc.timed_out:
            return GraphAnswer(0, None, CloudError(Outcome.TRANSIENT, TIMEOUT_ERROR))
        # Only the kind: nothing of the request, whose headers hold the token.
        failure = CloudError(Outcome.TRANSIENT, f"{UNREACHABLE_ERROR} ({exc.kind})")
        return GraphAnswer(0, None, failure)
    return GraphAnswer(answer.status, _parse_json(answer.content))


def _parse_json(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return None
