"""GET /metrics: this process's Prometheus metrics, for the operator (an operator token)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from tambuli.api.auth import authorize_operator
from tambuli.metrics import METRICS_CONTENT_TYPE, render_metrics


@get("/metrics", include_in_schema=False)
async def get_metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The Prometheus text format; an organization's token gets 401 (the figures span every
    organization)."""
    await authorize_operator(request)
    return Response(await render_metrics(), media_type=METRICS_CONTENT_TYPE)
