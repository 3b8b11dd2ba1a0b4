"""Tiny deterministic inline-SVG charts for HTML reports (no plotting dependency, byte-stable output).

Every chart labels its values (a number over each bar, by each point) and has an explicit "none" state: with
nothing to draw (no labels, no series, or every value zero) it renders its title and the caller's `empty` text
("no breaks for 2026-11-20") instead of an empty frame, so a reader can tell "nothing happened" from "broken".
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2")
FONT = 'font-family="sans-serif"'


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def value_label(v: float) -> str:
    """A short label for a value: 950, 12.5, 25.3k, 1.2M, 3.4G."""
    a = abs(v)
    for threshold, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if a >= threshold:
            return _fmt(v / scale) + suffix
    return _fmt(v)


def _nothing_to_draw(n_points: int, series: dict[str, Sequence[float]], zero_is_empty: bool) -> bool:
    if n_points == 0 or not series:
        return True
    return zero_is_empty and all(float(v) == 0 for vs in series.values() for v in vs)


def empty_chart(title: str, text: str, *, width: int = 640, height: int = 64) -> str:
    """The "none" state: the chart's title and a sentence saying there is nothing to plot, no axes."""
    return "".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" class="chart-none">',
        f"<title>{escape(title)}: {escape(text)}</title>",
        f'<text x="48" y="16" font-size="13" {FONT}>{escape(title)}</text>',
        f'<text x="48" y="{height // 2 + 14}" font-size="13" font-style="italic" fill="#555" {FONT}>'
        f"{escape(text)}</text>",
        "</svg>",
    ])


def _frame(title: str, width: int, height: int, pad_l: int, pad_t: int, plot_h: int, vmax: float) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{pad_l}" y="16" font-size="13" {FONT}>{escape(title)}</text>',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 8}" y2="{pad_t + plot_h}" stroke="#999"/>',
        f'<text x="4" y="{pad_t + 10}" font-size="10" {FONT}>{value_label(vmax)}</text>',
    ]


def _legend(names: Sequence[str], height: int, pad_l: int) -> list[str]:
    return [
        f'<text x="{pad_l + j * 120}" y="{height - 4}" font-size="10" {FONT} '
        f'fill="{PALETTE[j % len(PALETTE)]}">■ {escape(name)}</text>'
        for j, name in enumerate(names)
    ]


def bar_chart(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    title: str = "",
    width: int = 640,
    height: int = 220,
    stacked: bool = False,
    empty: str = "no data",
    zero_is_empty: bool = True,
) -> str:
    """Grouped (or stacked) bars, one group per label, each bar labelled with its value.

    `empty` is what the chart says when there is nothing to draw; `zero_is_empty=False` draws all-zero
    series as bars labelled 0 (when a zero is itself the news, e.g. buying power)."""
    if _nothing_to_draw(len(labels), series, zero_is_empty):
        return empty_chart(title, empty, width=width)
    n = len(labels)
    pad_l, pad_b, pad_t = 48, 36, 32
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    names = list(series)
    if stacked:
        totals = [sum(float(series[s][i]) for s in names) for i in range(n)]
        vmax = max(totals, default=0) or 1
    else:
        vmax = max((max((float(x) for x in v), default=0) for v in series.values()), default=0) or 1
    group_w = plot_w / n
    bar_w = group_w * 0.8 / (1 if stacked else max(len(names), 1))
    parts = _frame(title, width, height, pad_l, pad_t, plot_h, vmax)
    for i, label in enumerate(labels):
        x0 = pad_l + i * group_w + group_w * 0.1
        base = 0.0
        for j, name in enumerate(names):
            v = float(series[name][i])
            h = plot_h * max(v, 0.0) / vmax
            if stacked:
                x, y = x0, pad_t + plot_h - base - h
                base += h
                ty = y + h / 2 + 3 if h >= 12 else None  # inside the segment, when it has room
            else:
                x, y = x0 + j * bar_w, pad_t + plot_h - h
                ty = y - 2
            parts.append(
                f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(bar_w)}" height="{_fmt(h)}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(name)} {escape(label)}: {_fmt(v)}</title></rect>'
            )
            if ty is not None:
                parts.append(
                    f'<text x="{_fmt(x + bar_w / 2)}" y="{_fmt(ty)}" font-size="9" text-anchor="middle" {FONT} '
                    f'class="value">{value_label(v)}</text>'
                )
        if n <= 24 or i % max(1, n // 12) == 0:
            parts.append(f'<text x="{_fmt(x0)}" y="{height - 20}" font-size="9" {FONT}>{escape(label)}</text>')
    parts += _legend(names, height, pad_l)
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    xs: Sequence[float],
    series: dict[str, Sequence[float]],
    *,
    title: str = "",
    width: int = 640,
    height: int = 220,
    x_label: str = "",
    empty: str = "no data",
    zero_is_empty: bool = True,
) -> str:
    """One polyline per series over `xs`, each point labelled with its value (every k-th when there are many)."""
    if _nothing_to_draw(len(xs), series, zero_is_empty):
        return empty_chart(title, empty, width=width)
    pad_l, pad_b, pad_t = 48, 36, 32
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    xmin, xmax = min(xs), max(xs)
    xspan = (xmax - xmin) or 1
    vmax = max((max((float(x) for x in v), default=0) for v in series.values()), default=0) or 1
    parts = _frame(title, width, height, pad_l, pad_t, plot_h, vmax)
    parts += [
        f'<text x="{pad_l}" y="{height - 20}" font-size="10" {FONT}>{_fmt(xmin)}</text>',
        # anchored at its end, so a long axis label stays inside the chart
        f'<text x="{width - 4}" y="{height - 20}" font-size="10" text-anchor="end" {FONT}>'
        f'{_fmt(xmax)} {escape(x_label)}</text>',
    ]
    step = max(1, len(xs) // 12)
    for j, ys in enumerate(series.values()):
        color = PALETTE[j % len(PALETTE)]
        pts = [(pad_l + plot_w * (x - xmin) / xspan, pad_t + plot_h - plot_h * float(y) / vmax)
               for x, y in zip(xs, ys, strict=True)]
        parts.append(f'<polyline points="{" ".join(f"{_fmt(px)},{_fmt(py)}" for px, py in pts)}" fill="none" '
                     f'stroke="{color}" stroke-width="1.5"/>')
        for k, ((px, py), y) in enumerate(zip(pts, ys, strict=True)):
            if k % step == 0 or k == len(pts) - 1:
                parts.append(f'<text x="{_fmt(px)}" y="{_fmt(py - 3)}" font-size="9" text-anchor="middle" {FONT} '
                             f'fill="{color}" class="value">{value_label(float(y))}</text>')
    parts += _legend(list(series), height, pad_l)
    parts.append("</svg>")
    return "".join(parts)
