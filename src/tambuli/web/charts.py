"""Small server-side SVG bar charts: no JavaScript, readable without colour (every bar has a
text label and the page shows the numbers in a table beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Series:
    """One kind of bar (sent, delivered, ...) with one value per column."""

    name: str
    css_class: str
    values: Sequence[int]


WIDTH = 640
HEIGHT = 220
_LEFT = 44
_BOTTOM = 28
_TOP = 12


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least value (at least 1)."""
    if value <= 1:
        return 1
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def render_bar_chart(
    title: str, labels: Sequence[str], series: Sequence[Series], width: int = WIDTH
) -> str:
    """An SVG of grouped bars, `width` units wide: one group per label, one bar per series."""
    top = _nice_ceiling(max((max(s.values, default=0) for s in series), default=0))
    plot_w, plot_h = width - _LEFT - 8, HEIGHT - _BOTTOM - _TOP
    group_w = plot_w / max(1, len(labels))
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    # The middle line is left out when it is no whole number (a top of 1).
    for fraction in (0, 0.5, 1) if top > 1 else (0, 1):
        y = _TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{_LEFT}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" class="gridline"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{int(top * fraction):,}</text>"
        )
    # At most about eight labels under the axis, so that they never run into each other.
    step = max(1, (len(labels) + 7) // 8)
    for i, label in enumerate(labels):
        x0 = _LEFT + i * group_w + group_w * 0.1
        for j, one in enumerate(series):
            value = one.values[i] if i < len(one.values) else 0
            h = plot_h * value / top
            parts.append(
                f'<rect x="{x0 + j * bar_w:.1f}" y="{_TOP + plot_h - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}" class="{one.css_class}">'
                f"<title>{escape(label)}: {value:,} {escape(one.name)}</title></rect>"
            )
        if i % step == 0:
            parts.append(
                f'<text x="{x0 + group_w * 0.4:.1f}" y="{HEIGHT - 8}" class="axis" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
