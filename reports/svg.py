"""Tiny deterministic inline-SVG charts for HTML reports (no plotting dependency, byte-stable output)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2")


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def bar_chart(
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    title: str = "",
    width: int = 640,
    height: int = 220,
    stacked: bool = False,
) -> str:
    """Grouped (or stacked) bars, one group per label."""
    n = max(len(labels), 1)
    pad_l, pad_b, pad_t = 48, 36, 24
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    names = list(series)
    if stacked:
        totals = [sum(series[s][i] for s in names) for i in range(len(labels))]
        vmax = max(totals, default=0) or 1
    else:
        vmax = max((max(v, default=0) for v in series.values()), default=0) or 1
    group_w = plot_w / n
    bar_w = group_w * 0.8 / (1 if stacked else max(len(names), 1))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f'<title>{escape(title)}</title>',
        f'<text x="{pad_l}" y="16" font-size="13" font-family="sans-serif">{escape(title)}</text>',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 8}" y2="{pad_t + plot_h}" stroke="#999"/>',
        f'<text x="4" y="{pad_t + 10}" font-size="10" font-family="sans-serif">{_fmt(vmax)}</text>',
    ]
    for i, label in enumerate(labels):
        x0 = pad_l + i * group_w + group_w * 0.1
        base = 0.0
        for j, name in enumerate(names):
            v = float(series[name][i])
            h = plot_h * v / vmax
            if stacked:
                x, y = x0, pad_t + plot_h - base - h
                base += h
            else:
                x, y = x0 + j * bar_w, pad_t + plot_h - h
            parts.append(
                f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(bar_w)}" height="{_fmt(h)}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(name)} {escape(label)}: {_fmt(v)}</title></rect>'
            )
        if n <= 24 or i % max(1, n // 12) == 0:
            parts.append(
                f'<text x="{_fmt(x0)}" y="{height - 20}" font-size="9" font-family="sans-serif">{escape(label)}</text>'
            )
    for j, name in enumerate(names):
        parts.append(
            f'<text x="{pad_l + j * 120}" y="{height - 4}" font-size="10" font-family="sans-serif" '
            f'fill="{PALETTE[j % len(PALETTE)]}">■ {escape(name)}</text>'
        )
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
) -> str:
    pad_l, pad_b, pad_t = 48, 36, 24
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    xmin, xmax = (min(xs), max(xs)) if xs else (0.0, 1.0)
    xspan = (xmax - xmin) or 1
    vmax = max((max(v, default=0) for v in series.values()), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f'<title>{escape(title)}</title>',
        f'<text x="{pad_l}" y="16" font-size="13" font-family="sans-serif">{escape(title)}</text>',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 8}" y2="{pad_t + plot_h}" stroke="#999"/>',
        f'<text x="4" y="{pad_t + 10}" font-size="10" font-family="sans-serif">{_fmt(vmax)}</text>',
        f'<text x="{pad_l}" y="{height - 20}" font-size="10" font-family="sans-serif">{_fmt(xmin)}</text>',
        f'<text x="{width - 60}" y="{height - 20}" font-size="10" font-family="sans-serif">'
        f"{_fmt(xmax)} {escape(x_label)}</text>",
    ]
    for j, (name, ys) in enumerate(series.items()):
        pts = " ".join(
            f"{_fmt(pad_l + plot_w * (x - xmin) / xspan)},{_fmt(pad_t + plot_h - plot_h * y / vmax)}"
            for x, y in zip(xs, ys, strict=True)
        )
        color = PALETTE[j % len(PALETTE)]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        parts.append(
            f'<text x="{pad_l + j * 120}" y="{height - 4}" font-size="10" font-family="sans-serif" '
            f'fill="{color}">■ {escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
