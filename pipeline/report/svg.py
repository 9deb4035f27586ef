"""Hand-written SVG charts for the Dagster UI: funnel plots, the rank
intervals and the back-test's catch curve.

The refresh shows its charts as Markdown images with ``data:`` URIs in the
asset metadata. Writing the SVG text directly takes a few milliseconds and
keeps matplotlib (half a second to import, ~0.2 s a PNG) off the refresh
path; the notebooks still draw with matplotlib (``pipeline.report.plots``).

Each chart is a standalone SVG document: valid XML (names are escaped), an
explicit ``width``/``height``/``viewBox`` so an ``<img>`` sizes it, one
``<title>``, and plain ``sans-serif`` text. The pieces:

- :class:`Axes` maps data to pixels (linear or log10) and draws the frame,
  grid, tick labels and axis titles;
- :func:`funnel` / :func:`rank_intervals` / :func:`catch_curve` build the
  three charts from the pipeline's DataFrames;
- :func:`data_uri` / :func:`markdown_image` wrap a chart for Markdown.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from pipeline.indicators import BY_KEY
from pipeline.report.plots import COLOURS, latest_period, limit_lines

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
# matplotlib's default cycle, so the back-test lines keep their colours
CYCLE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
RECOMMENDATIONS = ("full_joint_inspection", "benchmark_visit", "monitor")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def esc(text: object) -> str:
    """``text`` safe inside an XML element or a quoted attribute: ``& < > " '``
    escaped, characters XML 1.0 forbids (control characters) dropped."""
    s = _NOT_XML.sub("", str(text))
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def num(v: float) -> str:
    """A pixel coordinate, to 0.1 px (enough on screen, short in the file)."""
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def text_width(text: str, size: float) -> float:
    """Rough width in px of ``text`` in a sans-serif font of ``size`` px
    (average glyph ~0.56 em): enough to place labels and size margins."""
    return 0.56 * size * len(text)


def nice_ticks(lo: float, hi: float, most: int = 8) -> list[float]:
    """Round tick values covering ``lo..hi``: the smallest step of 1, 2,
    2.5 or 5 x 10^k that needs at most ``most`` intervals; the first tick
    is <= lo and the last >= hi."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        lo = lo if math.isfinite(lo) else 0.0
        hi = lo + 1
    mag = 10 ** math.floor(math.log10((hi - lo) / most))
    for step in (m * mag for m in (1, 2, 2.5, 5, 10, 20)):
        first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
        if last - first <= most:
            break
    return [round(k * step, 12) for k in range(first, last + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values for a log axis over ``lo..hi`` (> 0): 1, 2, 5 x 10^k when
    that gives at most 9 ticks, else the powers of ten."""
    lo_e, hi_e = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    for mults in ((1, 2, 5), (1,)):
        ticks = [m * 10.0 ** e for e in range(lo_e, hi_e + 1) for m in mults
                 if lo * (1 - 1e-9) <= m * 10.0 ** e <= hi * (1 + 1e-9)]
        if len(ticks) <= 9 and (len(ticks) >= 2 or mults == (1,)):
            return ticks
    return ticks


def tick_label(v: float, step: float | None = None) -> str:
    """``v`` as a tick label: thousands separated, with as many decimals as
    the step between ticks needs (0.25 steps: two; ``step`` None: ``v``'s own)."""
    step = abs(step) if step else abs(v) or 1.0
    decimals = 0
    while decimals < 6 and abs(step * 10 ** decimals - round(step * 10 ** decimals)) > 1e-6:
        decimals += 1
    return f"{v:,.{decimals}f}"


def percent(v: float) -> str:
    """A share 0..1 as a tick label: '20%'."""
    return f"{100 * v:.0f}%"


class Axes:
    """A rectangle of the picture (``left, top, width, height`` in px) and
    the data range it shows; ``x``/``y`` map data values to px.

    ``log_x`` maps x on a log10 scale (values must be > 0)."""

    def __init__(self, left: float, top: float, width: float, height: float,
                 xlim: tuple[float, float], ylim: tuple[float, float], log_x: bool = False,
                 invert_y: bool = False):
        self.left, self.top, self.width, self.height = left, top, width, height
        self.log_x, self.invert_y = log_x, invert_y
        self.xlim, self.ylim = xlim, ylim
        f = math.log10 if log_x else float
        self._x0, self._xspan = f(xlim[0]), (f(xlim[1]) - f(xlim[0])) or 1.0
        self._yspan = (ylim[1] - ylim[0]) or 1.0

    def x(self, v: float) -> float:
        v = math.log10(v) if self.log_x else v
        return self.left + (v - self._x0) / self._xspan * self.width

    def y(self, v: float) -> float:
        share = (v - self.ylim[0]) / self._yspan
        return self.top + (share if self.invert_y else 1 - share) * self.height

    def xs(self, values: np.ndarray) -> np.ndarray:
        v = np.log10(values) if self.log_x else np.asarray(values, float)
        return self.left + (v - self._x0) / self._xspan * self.width

    def ys(self, values: np.ndarray) -> np.ndarray:
        share = (np.asarray(values, float) - self.ylim[0]) / self._yspan
        return self.top + (share if self.invert_y else 1 - share) * self.height

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def clip(self, id_: str) -> str:
        """A ``<clipPath>`` of the plotting rectangle, to keep lines inside."""
        return (f'<clipPath id="{id_}"><rect x="{num(self.left)}" y="{num(self.top)}" '
                f'width="{num(self.width)}" height="{num(self.height)}"/></clipPath>')

    def frame(self, xticks: Sequence[float], yticks: Sequence[float], xlabels: Sequence[str],
              ylabels: Sequence[str], xtitle: str = "", ytitle: str = "", grid: bool = True) -> str:
        """Grid lines, the frame, tick marks with labels and the axis titles."""
        out = []
        xs = [self.x(t) for t in xticks]
        ys = [self.y(t) for t in yticks]
        if grid:
            d = "".join(f"M{num(x)} {num(self.top)}V{num(self.bottom)}" for x in xs)
            d += "".join(f"M{num(self.left)} {num(y)}H{num(self.right)}" for y in ys)
            out.append(f'<path d="{d}" stroke="#e6e6e6" stroke-width="1"/>')
        out.append(f'<rect x="{num(self.left)}" y="{num(self.top)}" width="{num(self.width)}" '
                   f'height="{num(self.height)}" fill="none" stroke="#333" stroke-width="1"/>')
        d = "".join(f"M{num(x)} {num(self.bottom)}v4" for x in xs)
        d += "".join(f"M{num(self.left)} {num(y)}h-4" for y in ys)
        out.append(f'<path d="{d}" stroke="#333" stroke-width="1"/>')
        out.append('<g font-size="10" fill="#333" text-anchor="middle">' + "".join(
            f'<text x="{num(x)}" y="{num(self.bottom + 15)}">{esc(s)}</text>' for x, s in zip(xs, xlabels))
            + "</g>")
        out.append('<g font-size="10" fill="#333" text-anchor="end">' + "".join(
            f'<text x="{num(self.left - 6)}" y="{num(y + 3.5)}">{esc(s)}</text>' for y, s in zip(ys, ylabels))
            + "</g>")
        if xtitle:
            out.append(f'<text x="{num(self.left + self.width / 2)}" y="{num(self.bottom + 33)}" '
                       f'font-size="11" text-anchor="middle">{esc(xtitle)}</text>')
        if ytitle:
            cx, cy = self.left - 48, self.top + self.height / 2
            out.append(f'<text x="{num(cx)}" y="{num(cy)}" font-size="11" text-anchor="middle" '
                       f'transform="rotate(-90 {num(cx)} {num(cy)})">{esc(ytitle)}</text>')
        return "".join(out)


def document(width: float, height: float, title: str, body: Iterable[str]) -> str:
    """A standalone SVG document ``width`` x ``height`` px (white background)
    with ``title`` as its accessible name and ``body`` as its content."""
    w, h = num(width), num(height)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'font-family="{FONT}">'
            f"<title>{esc(title)}</title>"
            f'<rect width="100%" height="100%" fill="#fff"/>' + "".join(body) + "</svg>")


def stamped(svg: str, stamp: str) -> str:
    """``svg`` with ``stamp`` written in its top left corner, in red (the
    demo's "SYNTHETIC", so that a plot saved on its own still says so)."""
    if not stamp:
        return svg
    return svg.replace("</svg>", f'<text class="stamp" x="6" y="14" font-size="11" font-weight="bold" '
                                 f'fill="#b00000">{esc(stamp)}</text></svg>')


def polyline(xs: np.ndarray, ys: np.ndarray, attrs: str) -> str:
    """A ``<path>`` through the points, broken where either value is NaN."""
    ok = np.isfinite(xs) & np.isfinite(ys)
    d, pen = [], False
    for x, y, good in zip(xs.tolist(), ys.tolist(), ok.tolist()):
        if not good:
            pen = False
            continue
        d.append(f"{'L' if pen else 'M'}{num(x)} {num(y)}")
        pen = True
    return f'<path d="{"".join(d)}" fill="none" {attrs}/>' if d else ""


def legend(x: float, y: float, entries: Sequence[tuple[str, str]], size: float = 10,
           box: bool = True) -> tuple[str, float, float]:
    """A legend with its top-left corner at ``x, y``: ``entries`` are
    (label, swatch SVG drawn around 0,0 in a 22 x 12 px box). Returns
    (SVG, width, height)."""
    row = size + 6
    width = 34 + max((text_width(label, size) for label, _ in entries), default=0) + 8
    height = row * len(entries) + 6
    out = [f'<g transform="translate({num(x)} {num(y)})" font-size="{num(size)}">']
    if box:
        out.append(f'<rect width="{num(width)}" height="{num(height)}" fill="#fff" fill-opacity="0.9" '
                   'stroke="#ccc"/>')
    for i, (label, swatch) in enumerate(entries):
        cy = 3 + row * i + row / 2
        out.append(f'<g transform="translate(17 {num(cy)})">{swatch}</g>'
                   f'<text x="32" y="{num(cy + size * 0.35)}">{esc(label)}</text>')
    out.append("</g>")
    return "".join(out), width, height


def line_swatch(colour: str, dash: str = "", width: float = 1.2) -> str:
    dash = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<path d="M-11 0H11" stroke="{colour}" stroke-width="{width}"{dash}/>'


def dot_swatch(colour: str, r: float = 3.5) -> str:
    return f'<circle r="{r}" fill="{colour}"/>'


def _place_labels(points: Sequence[tuple[float, float, str, str]], ax: Axes, size: float = 9) -> str:
    """Names beside highlighted points, each put where it overlaps neither an
    earlier name nor the frame if it can (right-above, right-below,
    left-above, left-below, then further down)."""
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for px, py, name, colour in points:
        w, h = text_width(name, size), size + 1
        options = [(px + 5, py - 4, "start"), (px + 5, py + size + 3, "start"),
                   (px - 5, py - 4, "end"), (px - 5, py + size + 3, "end")]
        options += [(px + 5, py - 4 + k * h, "start") for k in range(2, 8)]
        options += [(px - 5, py - 4 + k * h, "end") for k in range(2, 8)]
        best = None
        for tx, ty, anchor in options:
            x0 = tx if anchor == "start" else tx - w
            boxed = (x0, ty - size, x0 + w, ty + 2)
            inside = boxed[0] >= ax.left + 2 and boxed[2] <= ax.right - 2 and boxed[1] >= ax.top + 1 \
                and boxed[3] <= ax.bottom - 1
            clear = not any(boxed[0] < b[2] and b[0] < boxed[2] and boxed[1] < b[3] and b[1] < boxed[3]
                            for b in placed)
            if best is None:
                best = (tx, ty, anchor, boxed)
            if inside and clear:
                best = (tx, ty, anchor, boxed)
                break
        tx, ty, anchor, boxed = best
        placed.append(boxed)
        end = ' text-anchor="end"' if anchor == "end" else ""
        out.append(f'<text x="{num(tx)}" y="{num(ty)}" fill="{colour}"{end}>{esc(name)}</text>')
    return f'<g font-size="{num(size)}">' + "".join(out) + "</g>" if out else ""


def _message(width: float, height: float, title: str, message: str) -> str:
    return document(width, height, title, [
        f'<text x="{num(width / 2)}" y="{num(height / 2)}" font-size="13" text-anchor="middle" '
        f'fill="#555">{esc(message)}</text>'])


def funnel(values: pd.DataFrame, ranked: pd.DataFrame, indicator: str,
           dispersion: pd.DataFrame | None = None, width: int = 780, height: int = 420) -> str:
    """SVG funnel plot of one indicator's latest period: each service's rate
    (y) against its denominator (x, log scale: cohort size or population aged
    10-17), the national rate, the 95% (dashed) and 99.8% (dotted) control
    limits, and the services recommended for a visit coloured and named;
    the legend sits outside the plot so it never hides a point.

    Limits are the published ``limit_*`` columns of ``indicator_values`` when
    present, else computed as in :func:`pipeline.report.plots.limit_lines`."""
    ind = BY_KEY[indicator]
    period = latest_period(values, indicator)
    if period.empty:
        return _message(width, height, f"funnel plot: {ind.label}", f"no {ind.label} figures")
    info = dict(zip(ranked["yjs_id"], zip(ranked["yjs_name"], ranked["recommendation"])))
    ids = period["yjs_id"].tolist()
    names = [info[i][0] if i in info and isinstance(info[i][0], str) else i for i in ids]
    kinds = np.array([info[i][1] if i in info and info[i][1] in COLOURS else "monitor" for i in ids])
    den, rate = period["denominator"].to_numpy(float), period["rate"].to_numpy(float)
    d, limits = limit_lines(period, dispersion, indicator)
    national = float(period["national_rate"].iloc[0])

    # ranges: x over the denominators (5% margin in log space), y from 0 over
    # the rates and the limits (matplotlib's autoscale with ylim bottom=0)
    dmin, dmax = float(min(d.min(), den.min())), float(max(d.max(), den.max()))
    span = math.log10(dmax / dmin) if dmax > dmin else 1.0
    xlim = (dmin / 10 ** (0.05 * span), dmax * 10 ** (0.05 * span))
    top = max([national, float(rate.max())]
              + [float(v[np.isfinite(v)].max()) for v in limits.values() if np.isfinite(v).any()])
    yticks = nice_ticks(0, top * 1.02 if top > 0 else 1.0)
    xticks = log_ticks(*xlim)

    months = int(period["period_months"].iloc[0])
    end = pd.Timestamp(period["period_end"].iloc[0]).strftime("%b %Y")
    unit = "cohort size" if ind.family == "binomial" else "population aged 10-17"
    title = f"{ind.label.capitalize()}: {months} months to {end}"
    entries = [("national", line_swatch("#000", width=1.2)),
               ("95% limits", line_swatch("#000", "5 3")),
               ("99.8% limits", line_swatch("#000", "1.5 2.5")),
               *[(kind.replace("_", " "), dot_swatch(COLOURS[kind], 2.8 if kind == "monitor" else 3.6))
                 for kind in ("monitor", "benchmark_visit", "full_joint_inspection")]]
    legend_w = 34 + max(text_width(label, 10) for label, _ in entries) + 8
    ax = Axes(72, 36, width - 72 - legend_w - 22, height - 36 - 50, xlim, (0, yticks[-1]), log_x=True)
    step = yticks[1] - yticks[0] if len(yticks) > 1 else None

    body = [ax.clip("plot"),
            f'<text x="{num(ax.left + ax.width / 2)}" y="22" font-size="13" font-weight="bold" '
            f'text-anchor="middle">{esc(title)}</text>',
            ax.frame(xticks, yticks, [tick_label(t) for t in xticks], [tick_label(t, step) for t in yticks],
                     f"{unit} (log scale)", f"{ind.label} ({ind.unit})"),
            '<g clip-path="url(#plot)">',
            f'<path class="national" d="M{num(ax.left)} {num(ax.y(national))}H{num(ax.right)}" stroke="#000" '
            'stroke-width="1.2"/>']
    xs = ax.xs(d)
    for name, dash in (("95", "5 3"), ("998", "1.5 2.5")):
        for side in ("low", "high"):
            body.append(polyline(xs, ax.ys(limits[f"limit_{name}_{side}"]),
                                 f'class="limit_{name}" stroke="#000" stroke-width="1" stroke-dasharray="{dash}"'))
    body.append("</g>")  # points are not clipped: a rate of 0 sits on the frame, whole
    labels = []
    for kind in ("monitor", "benchmark_visit", "full_joint_inspection"):
        mine = kinds == kind
        if not mine.any():
            continue
        px, py = ax.xs(den[mine]), ax.ys(rate[mine])
        r, opacity = (2.8, ' fill-opacity="0.7"') if kind == "monitor" else (3.6, "")
        body.append(f'<g fill="{COLOURS[kind]}"{opacity} class="{kind}">' + "".join(
            f'<circle cx="{num(x)}" cy="{num(y)}" r="{r}"/>' for x, y in zip(px.tolist(), py.tolist()))
            + "</g>")
        if kind != "monitor":
            labels += [(x, y, n, COLOURS[kind])
                       for x, y, n in zip(px.tolist(), py.tolist(), [n for n, m in zip(names, mine) if m])]
    body.append(_place_labels(sorted(labels, key=lambda p: p[1]), ax))
    body.append(legend(ax.right + 12, ax.top, entries)[0])
    return document(width, height, f"funnel plot: {ind.label}", body)


def rank_intervals(ranked: pd.DataFrame, top: int = 30, width: int = 720) -> str:
    """SVG of the top of the ranked list: one row per service (rank 1 at the
    top) with its rank as a dot and its 90% interval ``rank_low..rank_high``
    as a bar, coloured by recommendation and labelled "name (rank)", so
    overlapping ranks are visible."""
    r = ranked.sort_values("rank").head(top)
    title = f"Top {len(r)} of the ranked list"
    if r.empty:
        return _message(width, 160, title, "no ranked services")
    row = 20
    labels = [f"{n} ({k})" for n, k in zip(r["yjs_name"], r["rank"])]
    left = min(max(text_width(s, 10) for s in labels) + 16, width * 0.45)
    height = 60 + row * len(r) + 48
    hi = float(np.nanmax(r[["rank", "rank_high"]].to_numpy(float)))
    xticks = [t for t in nice_ticks(0, hi + 1) if t >= 0]
    ax = Axes(left, 60, width - left - 20, row * len(r), (0, xticks[-1]), (-0.5, len(r) - 0.5),
              invert_y=True)
    xticks = [t if t else 1 for t in xticks]  # rank 1, not 0, at the left
    body = [f'<text x="{num(width / 2)}" y="20" font-size="13" font-weight="bold" '
            f'text-anchor="middle">{esc(title)}</text>']
    # legend: one row under the title, so it never covers an interval
    x = ax.left
    lg = ['<g font-size="10">']
    for kind in RECOMMENDATIONS:
        lg.append(f'<circle cx="{num(x + 4)}" cy="40" r="4" fill="{COLOURS[kind]}"/>'
                  f'<text x="{num(x + 12)}" y="43.5">{esc(kind.replace("_", " "))}</text>')
        x += 12 + text_width(kind, 10) + 18
    body.append("".join(lg) + "</g>")
    body.append(ax.frame(xticks, [], [tick_label(t) for t in xticks], [],
                         "rank (90% interval); 1 = most in need of a full joint inspection", grid=True))
    names, rows = ['<g font-size="10" fill="#222" text-anchor="end">'], []
    for i, (label, lo, hi_, rank, kind) in enumerate(zip(
            labels, r["rank_low"], r["rank_high"], r["rank"], r["recommendation"])):
        y = ax.y(i)
        colour = COLOURS.get(kind, COLOURS["monitor"])
        names.append(f'<text x="{num(ax.left - 6)}" y="{num(y + 3.5)}">{esc(label)}</text>')
        if pd.notna(lo) and pd.notna(hi_):
            rows.append(f'<path d="M{num(ax.x(lo))} {num(y)}H{num(ax.x(hi_))}" stroke="{colour}" '
                        'stroke-width="5" stroke-opacity="0.6" stroke-linecap="round"/>')
        rows.append(f'<circle class="rank" cx="{num(ax.x(rank))}" cy="{num(y)}" r="3.5" fill="{colour}"/>')
    body += ["".join(names) + "</g>", '<g class="intervals">' + "".join(rows) + "</g>"]
    return document(width, height, title, body)


def catch_curve(curves: pd.DataFrame, title: str = "", labels: dict[str, str] | None = None,
                width: int = 640, height: int = 440) -> str:
    """SVG gains chart of the back-test: share of adverse outcomes caught
    (y) against share of services inspected, riskiest first (x), one line
    per ``method`` of ``curves`` (method, share_inspected, share_caught),
    the pipeline's concern score drawn thicker; the dotted diagonal is
    picking at random, light verticals mark the riskiest 10% and 20%.
    ``labels`` names the methods in the legend."""
    labels = labels or {}
    ax = Axes(70, 36 if title else 16, width - 70 - 20, height - (36 if title else 16) - 50, (0, 1), (0, 1))
    ticks = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    body = [ax.clip("plot")]
    if title:
        body.append(f'<text x="{num(ax.left + ax.width / 2)}" y="22" font-size="12" font-weight="bold" '
                    f'text-anchor="middle">{esc(title)}</text>')
    body.append(ax.frame(ticks, ticks, [percent(t) for t in ticks], [percent(t) for t in ticks],
                         "share of services inspected (riskiest first)", "share of adverse outcomes caught"))
    body.append(f'<path d="M{num(ax.x(0.1))} {num(ax.top)}V{num(ax.bottom)}M{num(ax.x(0.2))} {num(ax.top)}'
                f'V{num(ax.bottom)}" stroke="#c8c8c8" stroke-width="0.8"/>')
    body.append(f'<g clip-path="url(#plot)"><path d="M{num(ax.x(0))} {num(ax.y(0))}L{num(ax.x(1))} '
                f'{num(ax.y(1))}" stroke="#888" stroke-width="1.2" stroke-dasharray="1.5 2.5"/>')
    entries = [("random", line_swatch("#888", "1.5 2.5"))]
    methods = list(dict.fromkeys(curves["method"])) if len(curves) else []
    for i, method in enumerate(methods):
        c = curves[curves["method"] == method].sort_values("share_inspected")
        colour, w = CYCLE[i % len(CYCLE)], 2.2 if method == "concern_score" else 1.4
        body.append(polyline(ax.xs(c["share_inspected"].to_numpy(float)),
                             ax.ys(c["share_caught"].to_numpy(float)),
                             f'class="curve" stroke="{colour}" stroke-width="{w}" stroke-linejoin="round"'))
        entries.append((labels.get(method, str(method)), line_swatch(colour, width=w)))
    body.append("</g>")
    svg, lw, lh = legend(0, 0, entries)
    body.append(f'<g transform="translate({num(ax.right - lw - 8)} {num(ax.bottom - lh - 8)})">{svg}</g>')
    return document(width, height, title or "catch curve", body)


def data_uri(svg: str) -> str:
    """The SVG as a ``data:image/svg+xml;base64,...`` URI."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def markdown_image(svg: str, alt: str) -> str:
    """The SVG as a Markdown image with a data URI, which the Dagster UI
    renders inline on the asset's page (no file server needed)."""
    alt = alt.replace("[", "(").replace("]", ")")
    return f"![{alt}]({data_uri(svg)})"
