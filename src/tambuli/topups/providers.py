"""Choosing the airtime provider of a process, and the desk every top-up goes through."""

from __future__ import annotations

from tambuli.channels.airtime.base import AirtimeOrder, AirtimeProvider
from tambuli.channels.airtime.reloadly import ReloadlyProvider
from tambuli.channels.airtime.simulator import SimulatorAirtime
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import NoTopupOperator
from tambuli.settings import Settings
from tambuli.topups.catalogue_service import CatalogueCache
from tambuli.topups.desk import TopupDesk
from tambuli.topups.planning import find_carrier_name
from tambuli.topups.simulator_journal import DatabaseAirtimeJournal


class PortedNumbers:
    """Where the simulator's ported numbers (ending 0008) truly belong.

    Deterministic: the operator after the one the catalogue recognises, in code order among
    the country's operators; a country with one operator has no ported numbers.
    """

    def __init__(self, catalogue: CatalogueCache) -> None:
        self._catalogue = catalogue

    def find_true_operator(self, order: AirtimeOrder) -> str | None:
        """The operator code a ported number belongs to, or None."""
        catalogue = self._catalogue.latest
        if catalogue is None:
            return None
        codes = sorted(o.code for o in catalogue.operators if o.country == order.country)
        try:
            recognised = catalogue.detect_operator(
                order.recipient, order.country, find_carrier_name(order.recipient)
            )
        except NoTopupOperator:
            return None
        if len(codes) < 2 or recognised.code not in codes:
            return None
        return codes[(codes.index(recognised.code) + 1) % len(codes)]


def build_airtime_provider(
    db: Database, clock: Clock, settings: Settings, catalogue: CatalogueCache
) -> AirtimeProvider:
    """The provider the settings name: the simulator (default) or Reloadly."""
    if settings.topup_provider == "reloadly":
        return ReloadlyProvider(
            client_id=settings.reloadly_client_id,
            client_secret=settings.reloadly_client_secret,
            auth_url=settings.reloadly_auth_url,
            api_url=settings.reloadly_api_url,
            timeout=settings.topup_attempt_seconds,
            clock=clock,
        )
    return SimulatorAirtime(
        DatabaseAirtimeJournal(db),
        clock,
        PortedNumbers(catalogue).find_true_operator,
        slow_seconds=settings.simulator_topup_delay,
    )


def open_topup_desk(
    db: Database,
    clock: Clock,
    settings: Settings,
    provider: AirtimeProvider | None = None,
) -> TopupDesk:
    """The TopupDesk of one process, with its catalogue cache and provider."""
    catalogue = CatalogueCache(db)
    return TopupDesk(
        db=db,
        clock=clock,
        catalogue=catalogue,
        provider=provider or build_airtime_provider(db, clock, settings, catalogue),
        sync_seconds=settings.topup_sync_seconds,
        attempt_seconds=settings.topup_attempt_seconds,
    )
