"""Top-up amounts: parsing, an operator's denominations, and picking the amount to send.

Amounts are integers in the operator currency's minor units (centavos for PHP). Text is parsed
exactly with Decimal; no float ever touches an amount.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from tambuli.billing.models import scale_plain_decimal
from tambuli.errors import InvalidField

# Far above any real top-up (the largest are around a million IDR or VND), low enough that
# a typo or an attack is refused before it reaches a provider.
_MAX_WHOLE_UNITS = 1_000_000_000
_MAX_MINOR_DIGITS = 6


@dataclass(frozen=True)
class Denominations:
    """The amounts one operator sells: fixed values, a stepped range, or the union of both."""

    fixed: tuple[int, ...] = ()
    range_min: int | None = None
    range_max: int | None = None
    range_step: int | None = None
    minor_digits: int = 2

    def __post_init__(self) -> None:
        # A broken catalogue is a configuration bug, not a caller mistake: ValueError, not 400.
        _check_minor_digits(self.minor_digits)
        if any(amount <= 0 for amount in self.fixed):
            raise ValueError("fixed amounts must be positive")
        if any(low >= high for low, high in zip(self.fixed, self.fixed[1:], strict=False)):
            raise ValueError("fixed amounts must be sorted ascending and unique")
        bounds = (self.range_min, self.range_max, self.range_step)
        if all(value is None for value in bounds):
            return
        if self.range_min is None or self.range_max is None or self.range_step is None:
            raise ValueError("range_min, range_max and range_step go together")
        if self.range_min <= 0 or self.range_step <= 0 or self.range_max < self.range_min:
            raise ValueError("the range needs 0 < range_min <= range_max and range_step > 0")
        # Requiring the top to lie on the grid keeps describe() truthful about the largest amount.
        if (self.range_max - self.range_min) % self.range_step:
            raise ValueError("range_max must be range_min plus a whole number of steps")

    def available(self) -> Iterator[int]:
        """Every amount on sale, ascending and without repeats; a range is produced lazily."""
        previous: int | None = None
        for amount in heapq.merge(self.fixed, self._grid()):
            if amount != previous:
                yield amount
            previous = amount

    def describe(self) -> str:
        """A human list of the amounts for error messages, e.g. "10.00, 15.00, 25.00"."""
        parts = [format_amount(amount, self.minor_digits) for amount in self.fixed]
        if self.range_min is not None and self.range_max is not None and self.range_step:
            low, high, step = (
                format_amount(value, self.minor_digits)
                for value in (self.range_min, self.range_max, self.range_step)
            )
            parts.append(f"from {low} to {high} in steps of {step}")
        if not parts:
            return "none"
        if len(parts) == 1:
            return parts[0]
        return f"{', '.join(parts[:-1])} or {parts[-1]}"

    def _list_for_context(self) -> list[str | dict[str, str]]:
        """The amounts as JSON-ready values: strings, plus one from/to/step object for a range."""
        listed: list[str | dict[str, str]] = [
            format_amount(amount, self.minor_digits) for amount in self.fixed
        ]
        if self.range_min is not None and self.range_max is not None and self.range_step:
            listed.append(
                {
                    "from": format_amount(self.range_min, self.minor_digits),
                    "to": format_amount(self.range_max, self.minor_digits),
                    "step": format_amount(self.range_step, self.minor_digits),
                }
            )
        return listed

    def _find_largest_at_most(self, limit: int) -> int | None:
        """The largest amount on sale that is <= limit, or None."""
        index = bisect_right(self.fixed, limit)
        candidates = [self.fixed[index - 1]] if index else []
        if self.range_min is not None and self.range_max is not None and self.range_step:
            top = min(limit, self.range_max)
            if top >= self.range_min:
                # Round down onto the grid that starts at range_min.
                candidates.append(top - (top - self.range_min) % self.range_step)
        return max(candidates, default=None)

    def _find_smallest_at_least(self, floor: int) -> int | None:
        """The smallest amount on sale that is >= floor, or None."""
        index = bisect_left(self.fixed, floor)
        candidates = [self.fixed[index]] if index < len(self.fixed) else []
        if self.range_min is not None and self.range_max is not None and self.range_step:
            if floor <= self.range_min:
                candidates.append(self.range_min)
            elif floor <= self.range_max:
                # Round up onto the grid; range_max is on the grid, so this stays <= range_max.
                steps = -((self.range_min - floor) // self.range_step)
                candidates.append(self.range_min + steps * self.range_step)
        return min(candidates, default=None)

    def _grid(self) -> Iterator[int]:
        if self.range_min is None or self.range_max is None or self.range_step is None:
            return iter(())
        return iter(range(self.range_min, self.range_max + 1, self.range_step))


def select_amount(
    denominations: Denominations, max_amount: int, desired_amount: int | None = None
) -> int:
    """The amount to send: the smallest on sale in [desired, max], else the largest <= max.

    Without `desired_amount` the result is the largest amount on sale <= `max_amount`.
    A `desired_amount` above `max_amount` contradicts itself and is refused with InvalidField on
    "desiredAmount" rather than silently ignored. When nothing on sale is <= `max_amount`,
    InvalidField on "maxAmount" lists the available amounts in its message and context.
    """
    if desired_amount is not None and desired_amount > max_amount:
        digits = denominations.minor_digits
        raise InvalidField(
            f'"desiredAmount" ({format_amount(desired_amount, digits)}) must not be greater than '
            f'"maxAmount" ({format_amount(max_amount, digits)})',
            {"field": "desiredAmount"},
        )
    if desired_amount is not None:
        above = denominations._find_smallest_at_least(desired_amount)
        if above is not None and above <= max_amount:
            return above
    below = denominations._find_largest_at_most(max_amount)
    if below is None:
        raise InvalidField(
            f"No top-up of at most {format_amount(max_amount, denominations.minor_digits)} "
            f"is available; available amounts: {denominations.describe()}",
            {"field": "maxAmount", "available": denominations._list_for_context()},
        )
    return below


def parse_amount(field: str, raw: object, minor_digits: int) -> int:
    """Minor units from a JSON integer or a decimal string such as "25", "25.50" or " 30 "."""
    _check_minor_digits(minor_digits)
    # bool is a subclass of int; JSON true must not become 1 peso.
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidField(
            f'"{field}" must be an integer or a decimal string such as "25.50"', {"field": field}
        )
    if isinstance(raw, int):
        return _check_amount_bounds(field, raw * 10**minor_digits, minor_digits)
    try:
        scaled = scale_plain_decimal(raw, minor_digits)
    except ValueError:
        raise InvalidField(
            f'"{field}" must be a decimal amount such as "25" or "25.50"', {"field": field}
        ) from None
    if scaled != scaled.to_integral_value():
        places = f"at most {minor_digits} digits after the dot" if minor_digits else "no decimals"
        raise InvalidField(f'"{field}" must have {places}', {"field": field})
    return _check_amount_bounds(field, int(scaled), minor_digits)


def _check_amount_bounds(field: str, minor: int, minor_digits: int) -> int:
    """Refuse zero, negative and absurdly large amounts; return the amount unchanged."""
    if minor <= 0:
        raise InvalidField(f'"{field}" must be greater than zero', {"field": field})
    if minor > _MAX_WHOLE_UNITS * 10**minor_digits:
        raise InvalidField(f'"{field}" must be at most {_MAX_WHOLE_UNITS}', {"field": field})
    return minor


def format_amount(minor: int, minor_digits: int) -> str:
    """Exact decimal text with the currency's digits after the dot, e.g. "25.00"."""
    _check_minor_digits(minor_digits)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**minor_digits)
    if not minor_digits:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{minor_digits}d}"


def _check_minor_digits(minor_digits: int) -> None:
    # A negative power of ten would silently turn the integer arithmetic into float arithmetic.
    if not 0 <= minor_digits <= _MAX_MINOR_DIGITS:
        raise ValueError(f"minor_digits must be 0..{_MAX_MINOR_DIGITS}")
