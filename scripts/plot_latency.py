#!/usr/bin/env python3
"""plot_latency.py: latency against offered load, as an SVG drawn by hand (Python 3 stdlib only).

Usage:
  scripts/plot_latency.py [-o docs/performance-latency.svg] [--kind debit] [--title T] RUN.json...
  scripts/plot_latency.py --summary RUN.json     # prints "requests/s p50 p99" of one run

Each RUN.json is one `cardswitch load run --rate R --json PATH` report, one point of the plot.
The reader is tolerant, since the generator's format is young. It looks for, in this order:
- the section: `kinds[KIND]`, `by_kind[KIND]`, `per_kind[KIND]`, `KIND` (with --kind), else
  `total`, else the document itself;
- offered rate (requests/s): `rate_per_s` (what `cardswitch load run` writes), `offered_rps`, `rate_rps`, `target_rps`, `rate`, `offered` in the
  document, then in the section; else the number in a file name like `rate-1200.json`;
- achieved rate: `throughput_per_s` (the load generator's), `throughput_rps`, `rps`, `requests_per_second`, `throughput`;
- latency in milliseconds: `latency_ms: {p50, p99, p999, max}` (or `latency: {...}` in ms, or
  `p50_ms`, `p99_ms` beside the rate).
A point with no offered rate is placed at its achieved rate. Points are sorted by offered rate.
"""

import argparse
import json
import math
import os
import re
import sys

RATE_KEYS = ("rate_per_s", "offered_rps", "rate_rps", "target_rps", "rate", "offered")
THROUGHPUT_KEYS = ("throughput_per_s", "throughput_rps", "rps", "requests_per_second", "throughput")
SECTION_KEYS = ("kinds", "by_kind", "per_kind")


def number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def first(mapping, keys):
    if not isinstance(mapping, dict):
        return None
    for key in keys:
        value = number(mapping.get(key))
        if value is not None:
            return value
    return None


def section(document, kind):
    if kind:
        for key in SECTION_KEYS:
            group = document.get(key)
            if isinstance(group, dict) and isinstance(group.get(kind), dict):
                return group[kind]
            if isinstance(group, list):
                for item in group:
                    if isinstance(item, dict) and item.get("kind") == kind:
                        return item
        if isinstance(document.get(kind), dict):
            return document[kind]
    if isinstance(document.get("total"), dict):
        return document["total"]
    return document


def latency(part, name):
    for key in ("latency_ms", "latency"):
        value = first(part.get(key), (name,))
        if value is not None:
            return value
    return first(part, (name + "_ms",))


def point(path, kind):
    with open(path, encoding="utf-8") as file:
        document = json.load(file)
    part = section(document, kind)
    offered = first(document, RATE_KEYS)
    if offered is None:
        offered = first(part, RATE_KEYS)
    if offered is None:
        match = re.search(r"rate-(\d+(?:\.\d+)?)", os.path.basename(path))
        offered = float(match.group(1)) if match else None
    achieved = first(part, THROUGHPUT_KEYS)
    if achieved is None:
        achieved = first(document, THROUGHPUT_KEYS)
    p50, p99 = latency(part, "p50"), latency(part, "p99")
    if offered is None:
        offered = achieved
    if offered is None or p50 is None or p99 is None:
        raise ValueError(f"{path}: no offered rate or no latency_ms.p50/p99 found")
    return {"offered": offered, "achieved": achieved, "p50": p50, "p99": p99,
            "p999": latency(part, "p999")}


def nice_ceiling(value):
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above value."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def label(value):
    return f"{value:g}" if value < 10000 else f"{value / 1000:g}k"


def svg(points, title, p99_target):
    width, height = 720, 440
    left, right, top, bottom = 70, 170, 40, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    x_max = nice_ceiling(max(p["offered"] for p in points) * 1.05)
    y_top = max(max(p["p99"] for p in points), p99_target or 0)
    y_max = nice_ceiling(y_top * 1.1)

    def x(value):
        return left + plot_w * value / x_max

    def y(value):
        return top + plot_h * (1 - min(value, y_max) / y_max)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left + plot_w / 2}" y="22" text-anchor="middle" font-size="15">'
        f"{escape(title)}</text>",
    ]
    for i in range(6):
        gx, gy = x_max * i / 5, y_max * i / 5
        out.append(f'<line x1="{x(gx):.1f}" y1="{top}" x2="{x(gx):.1f}" y2="{top + plot_h}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{x(gx):.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                   f"{label(gx)}</text>")
        out.append(f'<line x1="{left}" y1="{y(gy):.1f}" x2="{left + plot_w}" y2="{y(gy):.1f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{y(gy) + 4:.1f}" text-anchor="end">'
                   f"{label(gy)}</text>")
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
               'stroke="black"/>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 15}" text-anchor="middle">'
               "offered load (requests/s, open loop)</text>")
    out.append(f'<text x="18" y="{top + plot_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {top + plot_h / 2})">latency (ms)</text>')
    legend = []
    if p99_target:
        out.append(f'<line x1="{left}" y1="{y(p99_target):.1f}" x2="{left + plot_w}" '
                   f'y2="{y(p99_target):.1f}" stroke="#c00" stroke-dasharray="6 4"/>')
        legend.append(("#c00", f"p99 target {p99_target:g} ms", True))
    for name, colour in (("p50", "#1f77b4"), ("p99", "#ff7f0e")):
        path = " ".join(f'{x(p["offered"]):.1f},{y(p[name]):.1f}' for p in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for p in points:
            clipped = p[name] > y_max
            out.append(f'<circle cx="{x(p["offered"]):.1f}" cy="{y(p[name]):.1f}" r="3.5" '
                       f'fill="{"white" if clipped else colour}" stroke="{colour}"/>')
        legend.append((colour, f"{name} latency", False))
    for i, (colour, text, dashed) in enumerate(legend):
        ly = top + 10 + 20 * i
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(f'<line x1="{left + plot_w + 12}" y1="{ly}" x2="{left + plot_w + 36}" '
                   f'y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{left + plot_w + 42}" y="{ly + 4}">{escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="`cardswitch load run --json` reports")
    parser.add_argument("-o", "--output", default="docs/performance-latency.svg")
    parser.add_argument("--kind", default="debit", help="the per-kind section to plot")
    parser.add_argument("--title", default="card debit: latency against offered load")
    parser.add_argument("--p99-target", type=float, default=5.0, help="ms; 0 for none")
    parser.add_argument("--summary", action="store_true",
                        help='print "requests/s p50 p99" of the one run given, no plot')
    arguments = parser.parse_args(argv)
    if arguments.summary:
        found = point(arguments.runs[0], arguments.kind)
        rps = found["achieved"] if found["achieved"] is not None else found["offered"]
        print(f'{rps:.0f} {found["p50"]:.3f} {found["p99"]:.3f}')
        return 0
    points = sorted((point(path, arguments.kind) for path in arguments.runs),
                    key=lambda p: p["offered"])
    drawing = svg(points, arguments.title, arguments.p99_target)
    directory = os.path.dirname(arguments.output)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(arguments.output, "w", encoding="utf-8") as file:
        file.write(drawing)
    print(f"{len(points)} points -> {arguments.output}", file=sys.stderr)
    for p in points:
        achieved = "-" if p["achieved"] is None else f'{p["achieved"]:.0f}'
        print(f'offered {p["offered"]:.0f}/s achieved {achieved}/s '
              f'p50 {p["p50"]:.3f} ms p99 {p["p99"]:.3f} ms', file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
