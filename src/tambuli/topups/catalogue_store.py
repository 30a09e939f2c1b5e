"""SQL for the top-up catalogue tables: read them whole, replace them whole."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import topup_countries, topup_operators, topup_products
from tambuli.db.statements import execute, execute_many
from tambuli.topups.catalogue import Catalogue, Country, Operator, Product, ProductKind


async def select_catalogue(conn: AsyncConnection) -> Catalogue:
    """Everything in the catalogue tables; empty when nothing was imported."""
    country_rows = (await execute(conn, select(topup_countries))).all()
    operator_rows = (await execute(conn, select(topup_operators))).all()
    product_rows = (await execute(conn, select(topup_products).order_by(topup_products.c.id))).all()
    products: dict[int, list[Product]] = {}
    for row in product_rows:
        products.setdefault(int(row.operator_id), []).append(_to_product(row))
    return Catalogue(
        countries=tuple(
            Country(code=row.code, name=row.name, local_currency=row.local_currency)
            for row in country_rows
        ),
        operators=tuple(_to_operator(row, products.get(int(row.id), [])) for row in operator_rows),
    )


async def delete_catalogue(conn: AsyncConnection) -> None:
    """Empty the catalogue tables, children first."""
    await execute(conn, delete(topup_products))
    await execute(conn, delete(topup_operators))
    await execute(conn, delete(topup_countries))


async def replace_catalogue(conn: AsyncConnection, catalogue: Catalogue) -> None:
    """Put `catalogue` in place of the stored one, within the caller's transaction."""
    await delete_catalogue(conn)
    if not catalogue.operators:
        return
    await execute_many(
        conn,
        insert(topup_countries),
        [
            {"code": c.code, "name": c.name, "local_currency": c.local_currency}
            for c in catalogue.countries
        ],
    )
    await execute_many(
        conn, insert(topup_operators), [_operator_values(o) for o in catalogue.operators]
    )
    # One more query for the new IDs is portable across both databases' executemany paths.
    ids = {
        row.code: int(row.id)
        for row in await execute(conn, select(topup_operators.c.id, topup_operators.c.code))
    }
    product_rows = [
        _product_values(ids[operator.code], product)
        for operator in catalogue.operators
        for product in operator.products
    ]
    if product_rows:
        await execute_many(conn, insert(topup_products), product_rows)


def _operator_values(operator: Operator) -> dict[str, Any]:
    return {
        "code": operator.code,
        "country": operator.country,
        "name": operator.name,
        "currency": operator.currency,
        "minor_digits": operator.minor_digits,
        "carrier_names": json.dumps(list(operator.carrier_names), ensure_ascii=False),
        "prefixes": json.dumps(list(operator.prefixes)),
        "provider_ref": operator.provider_ref,
    }


def _product_values(operator_id: int, product: Product) -> dict[str, Any]:
    return {
        "operator_id": operator_id,
        "kind": product.kind.value,
        "amount_minor": product.amount_minor,
        "range_max": product.range_max,
        "range_step": product.range_step,
        "price_micro": product.price_micro,
        "received_minor": product.received_minor,
    }


def _to_operator(row: Any, products: list[Product]) -> Operator:
    return Operator(
        code=row.code,
        country=row.country,
        name=row.name,
        currency=row.currency,
        minor_digits=int(row.minor_digits),
        carrier_names=tuple(str(name) for name in json.loads(row.carrier_names)),
        prefixes=tuple(str(prefix) for prefix in json.loads(row.prefixes)),
        provider_ref=row.provider_ref,
        products=tuple(products),
    )


def _to_product(row: Any) -> Product:
    return Product(
        kind=ProductKind(row.kind),
        amount_minor=int(row.amount_minor),
        range_max=None if row.range_max is None else int(row.range_max),
        range_step=None if row.range_step is None else int(row.range_step),
        price_micro=int(row.price_micro),
        received_minor=int(row.received_minor),
    )
