"""The console's router, mounted at `/` beside the API in the same app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response, Router
from litestar.exceptions import NotFoundException, ValidationException
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.types import ExceptionHandlersMap

from tambuli.channels.base import ChannelHealth
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import Forbidden, NotFound, TambuliError
from tambuli.settings import Settings
from tambuli.web import (
    campaign_report_pages,
    campaigns_pages,
    contact_form,
    contacts_import,
    contacts_pages,
    dashboard,
    files_pages,
    ledger_pages,
    members,
    message_pages,
    operator_channels,
    operator_pages,
    org_pages,
    pages,
    send_pages,
    token_pages,
    topup_pages,
    whatsapp_pages,
    whatsapp_send,
)
from tambuli.web.access import CsrfRefused, SignInNeeded, check_csrf
from tambuli.web.context import CONSOLE_STATE, ConsoleContext
from tambuli.web.rendering import STATIC, render_page_now


def _redirect_to_sign_in(_: Request[Any, Any, Any], __: SignInNeeded) -> Response[Any]:
    return Redirect("/sign-in", status_code=303)


def _refuse_csrf(request: Request[Any, Any, Any], _: CsrfRefused) -> Response[Any]:
    return render_page_now(
        request,
        "error.html",
        status_code=403,
        title="This form has expired",
        message="The form was not sent from this console session (or the session changed). "
        "Go back, reload the page and send it again.",
    )


def _render_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    if isinstance(error, Forbidden):
        status, title = 403, "Not allowed"
        message = error.message
    elif isinstance(error, NotFound | NotFoundException | ValidationException):
        status, title = 404, "Not found"
        message = "There is no such page, or it belongs to an organization you are not in."
    elif isinstance(error, TambuliError):
        status, title, message = 400, "That did not work", error.message
    else:
        raise error
    return render_page_now(request, "error.html", status, title=title, message=message)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    SignInNeeded: _redirect_to_sign_in,
    CsrfRefused: _refuse_csrf,
    TambuliError: _render_error,
    NotFoundException: _render_error,
    ValidationException: _render_error,
}

CONSOLE_ROUTES: list[Any] = [
    pages.start_page,
    pages.sign_in_page,
    pages.sign_in,
    pages.sign_out,
    pages.sign_in_link_page,
    pages.use_sign_in_link,
    pages.account_page,
    pages.change_password,
    dashboard.dashboard,
    members.members_page,
    members.add_member,
    *contacts_pages.ROUTES,
    *contact_form.ROUTES,
    *contacts_import.ROUTES,
    *send_pages.ROUTES,
    *message_pages.ROUTES,
    *whatsapp_pages.ROUTES,
    *whatsapp_send.ROUTES,
    *topup_pages.ROUTES,
    *files_pages.ROUTES,
    campaigns_pages.campaigns_page,
    campaigns_pages.new_campaign_page,
    campaigns_pages.create_campaign,
    campaigns_pages.edit_campaign_page,
    campaigns_pages.update_campaign,
    campaigns_pages.launch_campaign,
    campaigns_pages.stop_campaign,
    campaign_report_pages.campaign_page,
    campaign_report_pages.subscribe,
    campaign_report_pages.export_answers,
    members.change_member_role,
    members.remove_member,
    org_pages.organization_page,
    org_pages.change_organization,
    org_pages.rotate_webhook_secret,
    token_pages.tokens_page,
    token_pages.create_token,
    token_pages.revoke_token,
    ledger_pages.ledger_page,
    ledger_pages.ledger_csv,
    ledger_pages.change_auto_recharge,
    operator_pages.operator_orgs_page,
    operator_pages.credit_organization,
    operator_pages.create_organization,
    operator_pages.prices_page,
    operator_pages.set_price,
    operator_pages.unmatched_inbound_page,
    operator_channels.channels_page,
]


def build_console(
    db: Database,
    clock: Clock,
    settings: Settings,
    read_channel_health: Callable[[], list[ChannelHealth]] | None = None,
) -> tuple[list[Router], dict[str, Any]]:
    """The console's routers (pages, CSRF-guarded, and static files) and the app state they
    need, for the API's app to serve beside its own routes."""
    context = ConsoleContext(db, clock, settings, read_channel_health)
    return _routers(), {CONSOLE_STATE: context}


def _routers() -> list[Router]:
    return [
        Router(
            path="/",
            route_handlers=CONSOLE_ROUTES,
            guards=[check_csrf],
            exception_handlers=EXCEPTION_HANDLERS,
            include_in_schema=False,
        ),
        create_static_files_router(
            path="/static", directories=[STATIC], include_in_schema=False, name="console-static"
        ),
    ]
