"""The catalogue that applies while the database holds none: a few countries to start with.

Carrier names are the ones `phonenumbers` reports for these countries' ranges (checked against
phonenumbers 9.0). No operator claims number prefixes here: phonenumbers' carrier data is kept up
to date upstream, and an imported catalogue can add prefixes where it is wrong.

Prices are derived below with integer arithmetic from an indicative exchange rate plus a margin;
received values are indicative too. Provider references are illustrative operator IDs of an
aggregator: check them against the provider's own operator list, and import a catalogue with the
real ones before going live.
"""

from __future__ import annotations

from tambuli.topups.catalogue import Catalogue, Country, Operator, Product, ProductKind

# Covers the provider's fee and exchange-rate drift between catalogue updates.
MARGIN_PERCENT = 5
_MICRO_PER_USD = 1_000_000


def _price_micro(amount_minor: int, minor_digits: int, units_per_usd: int) -> int:
    """Micro-USD for an amount of a currency worth `units_per_usd` to the dollar, plus margin."""
    numerator = amount_minor * _MICRO_PER_USD * (100 + MARGIN_PERCENT)
    unit: int = 10**minor_digits
    denominator = units_per_usd * unit * 100
    return -(-numerator // denominator)


def _fixed_products(
    whole_amounts: tuple[int, ...], minor_digits: int, units_per_usd: int, received_per_minor: int
) -> tuple[Product, ...]:
    """Fixed products of whole amounts; the recipient gets `received_per_minor` per minor unit."""
    products = []
    for whole in whole_amounts:
        amount = whole * 10**minor_digits
        products.append(
            Product(
                kind=ProductKind.FIXED,
                amount_minor=amount,
                range_max=None,
                range_step=None,
                price_micro=_price_micro(amount, minor_digits, units_per_usd),
                received_minor=amount * received_per_minor,
            )
        )
    return tuple(products)


def _range_product(low: int, high: int, units_per_usd: int) -> tuple[Product, ...]:
    """Whole units from `low` to `high` of a two-digit currency sold and received locally."""
    return (
        Product(
            kind=ProductKind.RANGE,
            amount_minor=low * 100,
            range_max=high * 100,
            range_step=100,
            # Per whole unit, as range products are priced.
            price_micro=_price_micro(100, 2, units_per_usd),
            received_minor=100,
        ),
    )


# Indicative whole units per USD.
_PHP_PER_USD = 56
_KES_PER_USD = 129
_NGN_PER_USD = 1550
_IDR_PER_USD = 16_300
_HTG_PER_USD = 131

# The reference's examples need Globe to sell 25 pesos but not 20, and Smart 20 but not 25.
_GLOBE_PESOS = (10, 15, 25, 30, 50, 100, 150, 300, 500, 1000)
_SMART_PESOS = (10, 15, 20, 30, 50, 100, 150, 300, 500, 1000)
_DITO_PESOS = (20, 30, 50, 100, 150, 300, 500, 1000)
_TELKOMSEL_THOUSAND_RUPIAH = (5, 10, 15, 20, 25, 50, 100, 150, 200, 300, 500, 1000)
_DIGICEL_HT_DOLLARS = (1, 2, 3, 5, 10, 15, 20, 25, 50)
_NATCOM_DOLLARS = (1, 2, 5, 10, 20, 50)


def _philippine_operator(
    code: str, name: str, carrier: str, provider_ref: str, pesos: tuple[int, ...]
) -> Operator:
    return Operator(
        code=code,
        country="PH",
        name=name,
        currency="PHP",
        minor_digits=2,
        carrier_names=(carrier,),
        prefixes=(),
        provider_ref=provider_ref,
        products=_fixed_products(pesos, 2, _PHP_PER_USD, 1),
    )


def _ranged_operator(
    code: str,
    country: str,
    name: str,
    currency: str,
    provider_ref: str,
    products: tuple[Product, ...],
) -> Operator:
    return Operator(
        code=code,
        country=country,
        name=name,
        currency=currency,
        minor_digits=2,
        # These operators' names are the carrier names phonenumbers reports.
        carrier_names=(name,),
        prefixes=(),
        provider_ref=provider_ref,
        products=products,
    )


BUILTIN_CATALOGUE = Catalogue(
    countries=(
        Country(code="HT", name="Haiti", local_currency="HTG"),
        Country(code="ID", name="Indonesia", local_currency="IDR"),
        Country(code="KE", name="Kenya", local_currency="KES"),
        Country(code="NG", name="Nigeria", local_currency="NGN"),
        Country(code="PH", name="Philippines", local_currency="PHP"),
    ),
    operators=(
        # TM is Globe's prepaid brand; phonenumbers reports its ranges (0935, 0936, …) as Globe.
        _philippine_operator("ph-globe", "Globe", "Globe", "1350", _GLOBE_PESOS),
        # TNT is Smart's brand and Sun was merged into Smart: phonenumbers reports their ranges
        # (0907, 0930, 0922, 0925, …) as Smart, so one operator serves all three.
        _philippine_operator("ph-smart", "Smart", "Smart", "1351", _SMART_PESOS),
        _philippine_operator("ph-dito", "DITO", "Dito", "1352", _DITO_PESOS),
        _ranged_operator(
            "ke-safaricom",
            "KE",
            "Safaricom",
            "KES",
            "1460",
            _range_product(10, 10_000, _KES_PER_USD),
        ),
        _ranged_operator(
            "ke-airtel", "KE", "Airtel", "KES", "1461", _range_product(10, 10_000, _KES_PER_USD)
        ),
        _ranged_operator(
            "ng-mtn", "NG", "MTN", "NGN", "1570", _range_product(50, 50_000, _NGN_PER_USD)
        ),
        _ranged_operator(
            "ng-airtel", "NG", "Airtel", "NGN", "1571", _range_product(50, 50_000, _NGN_PER_USD)
        ),
        _ranged_operator(
            "ng-glo", "NG", "Glo", "NGN", "1572", _range_product(50, 50_000, _NGN_PER_USD)
        ),
        Operator(
            code="id-telkomsel",
            country="ID",
            name="Telkomsel",
            currency="IDR",
            minor_digits=0,
            carrier_names=("Telkomsel",),
            prefixes=(),
            provider_ref="1680",
            products=_fixed_products(
                tuple(1000 * amount for amount in _TELKOMSEL_THOUSAND_RUPIAH), 0, _IDR_PER_USD, 1
            ),
        ),
        # Haiti's operators sell airtime in USD; the recipient receives gourdes (HTG, 2 digits),
        # so each US cent sold is about 131 centimes received.
        Operator(
            code="ht-digicel",
            country="HT",
            name="Digicel Haiti",
            currency="USD",
            minor_digits=2,
            carrier_names=("Digicel",),
            prefixes=(),
            provider_ref="1790",
            products=_fixed_products(_DIGICEL_HT_DOLLARS, 2, 1, _HTG_PER_USD),
        ),
        Operator(
            code="ht-natcom",
            country="HT",
            name="Natcom",
            currency="USD",
            minor_digits=2,
            carrier_names=("Natcom",),
            prefixes=(),
            provider_ref="1791",
            products=_fixed_products(_NATCOM_DOLLARS, 2, 1, _HTG_PER_USD),
        ),
    ),
)
