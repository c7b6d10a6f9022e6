"""Charts as inline SVG, drawn on the server with matplotlib (no CDN, no JavaScript).

Figures are built with the object API (``matplotlib.figure.Figure``), not pyplot, so that
web threads and workers share no global figure state. Text stays text in the SVG
(``svg.fonttype = none``): smaller, searchable, and readable by screen readers. With
``suppress`` (reviewers) a point or bar that rests on 1-4 patients is left out.
"""

from __future__ import annotations

import base64
import io
import re
import threading
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from html import escape

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import PIL.Image  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from reports import benchmarks as bm  # noqa: E402
from reports.metrics import EVENT_ORDER, funnel_limits  # noqa: E402
from reports.stats import SMALL_CELL, SUPPRESSED, Proportion, format_number, suppress_count  # noqa: E402
from reports.tables import EVENT_LABELS, MEASURE_LABELS, TYPE_LABELS, Formatter, level_shares  # noqa: E402

COLOURS = {"PVP": "#0b5cad", "PKP": "#c0561d", "OTHER": "#5b6770", "benchmark": "#333333"}
SVG_SETTINGS = {"svg.fonttype": "none", "svg.hashsalt": "registry-reports", "font.size": 9}


_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>", re.S)
_STYLE_ATTRIBUTE = re.compile(r' style="([^"]*)"')


def _presentation_attributes(match: re.Match) -> str:
    declarations = (d.split(":", 1) for d in match.group(1).split(";") if ":" in d)
    return "".join(f' {name.strip()}="{escape(value.strip())}"' for name, value in declarations)


def _without_inline_css(text: str) -> str:
    """The pages' Content-Security-Policy forbids inline styles, which matplotlib writes as
    ``style`` attributes and a ``<style>`` element: say the same with SVG presentation attributes
    (fill, stroke, font-size...), which are markup, not CSS, and need no exemption."""
    text = _STYLE_ELEMENT.sub("", text)
    text = _STYLE_ATTRIBUTE.sub(_presentation_attributes, text)
    # What the removed <style> said for every element (*{...}), inherited from the root instead.
    return text.replace("<svg ", '<svg stroke-linejoin="round" stroke-linecap="butt" ', 1)


class ChartSvg(str):
    """A chart drawn under ``with_png()``: an ``<img>`` for the HTML, and ``png`` for the PDF
    (reportlab embeds images, it does not read SVG)."""

    png: bytes | None = None
    size: tuple[float, float] = (6.4, 3.4)  # inches


_WANT_PNG: ContextVar[bool] = ContextVar("charts_want_png", default=False)
# A title placed at the top of its axes by hand: matplotlib's automatic placement measures every
# tick label again at each drawing (``_update_title_position``, prominent in a quarterly build's
# profile); our x axes have no ticks on top, so the title lands where the automatic placement put it
# (the same PNG, byte for byte).
TITLE_Y = 1.0
PNG_DPI = 110  # sharp enough on paper at the PDF's size; each chart costs twice as long at 150


@contextmanager
def with_png():
    """Charts drawn inside are PNG images (``ChartSvg``) rather than SVG."""
    token = _WANT_PNG.set(True)
    try:
        yield
    finally:
        _WANT_PNG.reset(token)


def _svg(figure: Figure, label: str) -> str:
    if _WANT_PNG.get():
        return _png(figure, label)
    buffer = io.StringIO()
    with matplotlib.rc_context(SVG_SETTINGS):
        # Fixed margins (see _figure) rather than bbox_inches="tight", which draws the figure twice.
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = _without_inline_css(text[text.index("<svg") :])
    # Scale with the page, and name the chart for assistive technology.
    text = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"', r"<svg \1", text, count=1)
    return text.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" class="chart" ', 1)


def _chart_svg(canvas: FigureCanvasAgg, figure: Figure, label: str) -> ChartSvg:
    # Opaque RGB rather than matplotlib's RGBA: the charts have a white background, and an alpha
    # channel would make the PDF carry (and reportlab encode) a second, soft-mask image per chart.
    image = io.BytesIO()
    # zlib's fastest level: a third less time than the default, and no larger for these flat-colour charts.
    PIL.Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB").save(
        image, format="png", compress_level=1
    )
    png = image.getvalue()
    encoded = base64.b64encode(png).decode("ascii")
    chart = ChartSvg(f'<img class="chart" alt="{escape(label)}" src="data:image/png;base64,{encoded}">')
    chart.png = png
    chart.size = tuple(figure.get_size_inches())
    return chart


def _png(figure: Figure, label: str) -> ChartSvg:
    """The chart drawn once as a PNG: embedded as an image in the PDF, and in the stored HTML as
    an inline ``data:`` image (drawing it a second time as SVG would double the charts' cost in a
    quarterly build, BENCHMARKS.md)."""
    with matplotlib.rc_context(SVG_SETTINGS):
        figure.set_dpi(PNG_DPI)
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
    return _chart_svg(canvas, figure, label)


# --- The quarterly build's PNG charts: a backdrop drawn once, the figures drawn over it ----------
# A quarterly build draws the same charts for every site: the axes, ticks, labels, titles and
# literature lines are the same each time, and drawing them (matplotlib creates and lays out every
# tick and text anew for each figure) was most of a chart's cost. So each chart is two parts:
# ``backdrop(...)`` draws what does not depend on the report's figures, with fixed limits, and
# ``figures(axes)`` adds the rest. As SVG (the dashboard) both parts make one figure, saved as
# usual. As PNG (the reports) the backdrop is drawn once per process and kept as pixels; each chart
# restores those pixels and draws only its own artists over them (matplotlib's blitting:
# ``copy_from_bbox`` / ``restore_region`` / ``draw_artist``), which are then removed again.
# Per thread: a web thread and a worker thread never share a figure.

_backdrops = threading.local()
BACKDROPS_KEPT = 32  # a quarterly build uses 5 + one per set of treated levels and scale (1-3 MB each)


class _Backdrop:
    def __init__(self, make: Callable[[], tuple[Figure, list[Axes]]]):
        with matplotlib.rc_context(SVG_SETTINGS):
            self.figure, self.axes = make()
            for axes in self.axes:
                # Limits are the backdrop's: the figures drawn over it must not move them.
                axes.set_autoscale_on(False)
            self.figure.set_dpi(PNG_DPI)
            self.canvas = FigureCanvasAgg(self.figure)
            self.canvas.draw()
            self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    def draw(self, figures: Callable[[list[Axes]], None], label: str) -> ChartSvg:
        before = [set(axes.get_children()) for axes in self.axes]
        containers = [list(axes.containers) for axes in self.axes]
        try:
            with matplotlib.rc_context(SVG_SETTINGS):
                figures(self.axes)
                self.canvas.restore_region(self.background)
                for axes, kept in zip(self.axes, before, strict=True):
                    # In the order Axes.draw uses: by zorder, then as added.
                    drawn = sorted((a for a in axes.get_children() if a not in kept), key=lambda a: a.get_zorder())
                    for artist in drawn:
                        axes.draw_artist(artist)
                    # The axis lines go over bars that reach them, as in a whole drawing.
                    if drawn:
                        for spine in axes.spines.values():
                            if spine.get_visible() and spine.get_zorder() > drawn[0].get_zorder():
                                axes.draw_artist(spine)
                return _chart_svg(self.canvas, self.figure, label)
        finally:
            for axes, kept, kept_containers in zip(self.axes, before, containers, strict=True):
                for container in axes.containers[len(kept_containers) :]:
                    container.remove()
                for artist in axes.get_children():
                    if artist not in kept:
                        artist.remove()


def _drawn(
    key: tuple,
    backdrop: Callable[[], tuple[Figure, list[Axes]]],
    figures: Callable[[list[Axes]], None],
    label: str,
) -> str:
    """The chart whose unchanging part ``backdrop()`` makes and whose figures ``figures(axes)``
    adds; ``key`` names everything the backdrop depends on. SVG, or PNG under ``with_png()``."""
    if not _WANT_PNG.get():
        with matplotlib.rc_context(SVG_SETTINGS):
            figure, axes = backdrop()
            figures(axes)
        return _svg(figure, label)
    cache = getattr(_backdrops, "cache", None)
    if cache is None:
        cache = _backdrops.cache = {}
    if key not in cache:
        if len(cache) >= BACKDROPS_KEPT:
            del cache[next(iter(cache))]  # the oldest: a worker's memory stays bounded
        cache[key] = _Backdrop(backdrop)
    return cache[key].draw(figures, label)


def _figure(width: float = 6.4, height: float = 3.4, bottom: float = 0.14) -> tuple[Figure, object]:
    with matplotlib.rc_context(SVG_SETTINGS):
        figure = Figure(figsize=(width, height))
        axes = figure.subplots()
        figure.subplots_adjust(left=0.11, right=0.98, top=0.88, bottom=bottom)
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _visible(n: int, suppress: bool) -> bool:
    return n > 0 and not (suppress and n < SMALL_CELL)


def trajectory(measure: str, outcomes: dict, *, suppress: bool) -> str:
    """Mean score at each event with its 95 % interval, PVP and PKP, beside Sørensen 2019's pooled means."""
    label = f"{MEASURE_LABELS[measure]} after the procedure, with the literature trajectory"
    positions = np.arange(len(EVENT_ORDER))

    def backdrop() -> tuple[Figure, list[Axes]]:
        figure, axes = _figure()
        for kind in ("PVP", "PKP", "OTHER"):
            reference = bm.trajectory_for(measure, kind)
            if reference is not None:
                axes.plot(
                    positions,
                    [reference.for_event(event).mean for event in EVENT_ORDER],
                    linestyle="--",
                    color=COLOURS[kind],
                    alpha=0.6,
                    label=f"Literature {TYPE_LABELS[kind]} ({reference.source.short})",
                )
        axes.set_xticks(positions, [EVENT_LABELS[event] for event in EVENT_ORDER])
        axes.set_xlim(-0.25, len(EVENT_ORDER) - 0.75)
        axes.set_ylabel(MEASURE_LABELS[measure])
        axes.set_ylim(0, 10 if measure == "vas" else 100)
        axes.set_title(label, fontsize=9, y=TITLE_Y)
        return figure, [axes]

    def figures(axes_list: list[Axes]) -> None:
        (axes,) = axes_list
        # The points the tables withhold (a small group's partner, a figure that differs by 1-4 from
        # a release it contains) are left out too.
        groups = outcomes[measure]["by_type"]
        withheld = {event: Formatter(suppress=suppress).withheld_outcome_groups(groups, event) for event in EVENT_ORDER}
        for offset, kind in ((-0.06, "PVP"), (0.06, "PKP"), (0.0, "OTHER")):
            rows = groups[kind]
            points = [
                (position + offset, rows[event].score)
                for position, event in zip(positions, EVENT_ORDER, strict=True)
                if _visible(rows[event].score.n, suppress)
                and rows[event].score.mean is not None
                and kind not in withheld[event]
            ]
            if points:
                axes.errorbar(
                    [p for p, _ in points],
                    [s.mean for _, s in points],
                    yerr=[
                        [s.mean - s.ci_low if s.ci_low is not None else 0 for _, s in points],
                        [s.ci_high - s.mean if s.ci_high is not None else 0 for _, s in points],
                    ],
                    marker="o",
                    capsize=3,
                    color=COLOURS[kind],
                    label=f"Registry {TYPE_LABELS[kind]}",
                )
        axes.legend(frameon=False, fontsize=7, ncols=2)

    return _drawn(("trajectory", measure), backdrop, figures, label)


LEAK_KINDS = ("PVP", "PKP", "OTHER")


def leak_rate_by_type(per_patient: dict[str, Proportion], *, suppress: bool) -> str:
    label = "Patients with a cement leak by procedure type, with the literature rate"

    def backdrop() -> tuple[Figure, list[Axes]]:
        figure, axes = _figure(5.2, 3.2)
        # Fixed limits: every type keeps its place and its full label, drawn or not.
        axes.set_xlim(-0.6, len(LEAK_KINDS) - 0.4)
        axes.set_xticks(range(len(LEAK_KINDS)), [TYPE_LABELS[kind] for kind in LEAK_KINDS])
        axes.set_ylabel("% of patients (95 % CI)")
        axes.set_ylim(0, 100)
        axes.set_title(label, fontsize=9, y=TITLE_Y)
        return figure, [axes]

    def figures(axes_list: list[Axes]) -> None:
        (axes,) = axes_list
        withheld = Formatter(suppress=suppress).withheld_shares(per_patient)  # as the leak table withholds them
        for position, kind in enumerate(LEAK_KINDS):
            share = per_patient[kind]
            shown = (
                share.rate is not None
                and kind not in withheld
                and not (
                    suppress
                    and any(
                        0 < n < SMALL_CELL for n in (share.count, share.denominator, share.denominator - share.count)
                    )
                )
            )
            if shown:
                axes.bar(position, share.rate * 100, color=COLOURS[kind], alpha=0.8)
                axes.errorbar(
                    position,
                    share.rate * 100,
                    yerr=[[(share.rate - share.ci_low) * 100], [(share.ci_high - share.rate) * 100]],
                    color="black",
                    capsize=4,
                )
                # Every bar says its value: a rate of 0 % draws no bar, and must not look like a gap.
                value = f"{format_number(share.rate * 100)} %"
            else:
                value = "no patients" if not share.denominator else f"n {SUPPRESSED}: not shown"
            axes.annotate(value, (position, 0), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=7)
        # The literature rates over the bars.
        for key, position in (("leak_rate_patient_pvp", 0), ("leak_rate_patient_pkp", 1)):
            benchmark = bm.BENCHMARKS[key]
            axes.hlines(benchmark.percent, position - 0.4, position + 0.4, colors=COLOURS["benchmark"], linestyles="--")
            axes.annotate(
                f"{benchmark.source.short}: {format_number(benchmark.percent)} %",
                (position, benchmark.percent),
                textcoords="offset points",
                xytext=(0, 4),
                ha="center",
                fontsize=7,
            )

    return _drawn(("leak_rate_by_type",), backdrop, figures, label)


def level_distribution(activity: dict, *, suppress: bool) -> str:
    """The PVP levels' distribution (001 treated by PVP only), hiding what the level table hides."""
    label = "PVP levels by vertebra (% of PVP levels), with Barriga-Martín 2022's PVP levels"
    reference = bm.BENCHMARKS["level_distribution"]
    distribution = level_shares(activity, pvp=True)
    withheld = Formatter(suppress=suppress).withheld_shares(distribution)
    codes = list(distribution)
    values = []
    for code in codes:
        share = distribution[code]
        visible = share.rate is not None and _visible(share.count, suppress) and code not in withheld
        values.append(share.rate * 100 if visible else 0)
    positions = np.arange(len(codes))
    literature = [reference.counts.get(code, 0) / reference.total * 100 for code in codes]
    # The scale: a multiple of 5 % at least 1 % above the tallest bar or literature point, so that
    # a point is never cut by the frame (and the backdrops are a handful).
    top = 5 * (int((max(values + literature) + 1) // 5) + 1)

    def backdrop() -> tuple[Figure, list[Axes]]:
        figure, axes = _figure(7.0, 3.2, bottom=0.2)
        axes.set_xticks(positions, codes, rotation=90, fontsize=7)
        axes.set_xlim(-0.6, len(codes) - 0.4)
        axes.set_ylim(0, top)
        axes.set_ylabel("% of levels")
        axes.set_title(label, fontsize=9, y=TITLE_Y)
        return figure, [axes]

    def figures(axes_list: list[Axes]) -> None:
        (axes,) = axes_list
        axes.bar(positions, values, color=COLOURS["PVP"], alpha=0.8, label="Registry, PVP levels")
        axes.plot(
            positions,
            literature,
            "o",
            color=COLOURS["benchmark"],
            markersize=4,
            label=f"{reference.source.short} (41 levels)",
        )
        axes.legend(frameon=False, fontsize=7)

    return _drawn(("level_distribution", tuple(codes), top), backdrop, figures, label)


def funnel(site_rates: pd.DataFrame) -> str:
    """Each site's leak rate per level against its number of levels, with 95 % and 99.8 % limits
    around the registry rate: a site outside the funnel differs by more than chance."""
    label = "Funnel plot: cement leak rate per level by site"
    figure, axes = _figure(6.4, 3.6, bottom=0.16)
    total_levels = site_rates["levels"].sum()
    if total_levels:
        overall = site_rates["leaking"].sum() / total_levels
        sizes = np.linspace(max(1, site_rates["levels"].min() * 0.8), site_rates["levels"].max() * 1.1, 200)
        for z, style in ((1.959964, "--"), (3.090232, ":")):
            low, high = funnel_limits(overall, sizes, z)
            axes.plot(sizes, low * 100, style, color="grey")
            axes.plot(sizes, high * 100, style, color="grey")
        axes.axhline(overall * 100, color=COLOURS["benchmark"], linewidth=1, label=f"Registry {overall * 100:.1f} %")
        axes.scatter(site_rates["levels"], site_rates["rate"] * 100, color=COLOURS["PVP"], zorder=3)
        for _, site in site_rates.iterrows():
            axes.annotate(
                site["code"],
                (site["levels"], site["rate"] * 100),
                textcoords="offset points",
                xytext=(4, 2),
                fontsize=7,
            )
        axes.legend(frameon=False, fontsize=7)
    axes.set_xlabel("Treated levels")
    axes.set_ylabel("Levels with a leak (%)")
    axes.set_title(label + " (dashed 95 %, dotted 99.8 %)", fontsize=9, y=TITLE_Y)
    return _svg(figure, label)


# --- New fractures and site monitoring (issue 15) --------------------------------------------
# Kept together at the end of the module: Kaplan–Meier curves with the numbers at risk, the
# benchmark funnel plots with exact binomial limits, and the CUSUM traces.

KM_COLOURS = ("#0b5cad", "#c0561d", "#5b6770", "#2e7d32")


def kaplan_meier_panels(title: str, panels: list[tuple[str, dict]], *, risk_days: list[int], suppress: bool) -> str:
    """One panel per grouping: step curves of ``{label: KaplanMeier}`` and the number at risk
    under each panel at ``risk_days`` (a PNG ``ChartSvg`` under ``with_png()``)."""
    titles = tuple(panel_title for panel_title, _ in panels)

    def backdrop() -> tuple[Figure, list[Axes]]:
        figure = Figure(figsize=(3.3 * len(panels), 3.6))
        axes_list = list(figure.subplots(1, len(panels), squeeze=False)[0])
        figure.subplots_adjust(left=0.07, right=0.975, top=0.85, bottom=0.36, wspace=0.25)
        for axes, panel_title in zip(axes_list, titles, strict=True):
            axes.spines[["top", "right"]].set_visible(False)
            axes.set_ylim(0, 102)
            axes.set_xlim(0, max(risk_days))
            axes.set_xticks(risk_days)
            axes.set_xlabel("Days since the index procedure (number at risk below)", fontsize=7, labelpad=2)
            axes.set_title(panel_title, fontsize=8, y=TITLE_Y)
        axes_list[0].set_ylabel("% free of the event")
        figure.suptitle(title, fontsize=9)
        return figure, axes_list

    def figures(axes_list: list[Axes]) -> None:
        for axes, (_, curves) in zip(axes_list, panels, strict=True):
            for index, (label, km) in enumerate(curves.items()):
                days = [0] + [step.day for step in km.steps]
                values = [1.0] + [float(step.survival) for step in km.steps]
                colour = KM_COLOURS[index % len(KM_COLOURS)]
                axes.step(days, [v * 100 for v in values], where="post", color=colour, label=f"{label} (n={km.n})")
                censored = [(s.day, float(s.survival) * 100) for s in km.steps if s.censored and not s.events]
                if censored:
                    axes.plot(*zip(*censored, strict=True), "|", color=colour, markersize=5)
                for day in risk_days:
                    axes.annotate(
                        suppress_count(km.at_risk_at(day)) if suppress else str(km.at_risk_at(day)),
                        (day, 0),
                        xycoords=("data", "axes fraction"),
                        textcoords="offset points",
                        xytext=(0, -30 - 9 * index),
                        ha="center",
                        fontsize=6.5,
                        color=colour,
                    )
            if curves:
                axes.legend(frameon=False, fontsize=6.5, loc="lower left")

    return _drawn(("kaplan_meier_panels", title, titles, tuple(risk_days)), backdrop, figures, title)


def benchmark_funnel(title: str, sites: list[tuple[str, int, int]], *, p0: float, limits) -> str:
    """Sites' ``(code, events, denominator)`` around the benchmark rate ``p0``, with the exact
    binomial 95 % (dashed) and 99.8 % (dotted) limits ``limits(p0, n, coverage) -> (low, high)``."""
    figure, axes = _figure(5.0, 3.2, bottom=0.16)
    largest = max([n for _, _, n in sites] + [20])
    sizes = np.unique(np.linspace(1, largest * 1.1, 120).astype(int))
    for coverage, style in ((0.95, "--"), (0.998, ":")):
        bounds = [limits(p0, int(n), coverage) for n in sizes]
        axes.step(sizes, [low * 100 for low, _ in bounds], style, color="grey", where="mid")
        axes.step(sizes, [high * 100 for _, high in bounds], style, color="grey", where="mid")
    axes.axhline(p0 * 100, color=COLOURS["benchmark"], linewidth=1, label=f"Benchmark {p0 * 100:.1f} %")
    for code, events, n in sites:
        if n:
            axes.scatter([n], [events / n * 100], color=COLOURS["PVP"], zorder=3)
            axes.annotate(code, (n, events / n * 100), textcoords="offset points", xytext=(4, 2), fontsize=7)
    axes.set_xlabel("Denominator")
    axes.set_ylabel("%")
    axes.legend(frameon=False, fontsize=7)
    axes.set_title(title + " (dashed 95 %, dotted 99.8 %)", fontsize=8, y=TITLE_Y)
    return _svg(figure, title)


def cusum_traces(title: str, traces: list[tuple[str, list[float]]], *, limit: float) -> str:
    figure, axes = _figure(5.0, 3.0)
    for index, (code, values) in enumerate(traces):
        axes.plot(range(1, len(values) + 1), values, color=KM_COLOURS[index % len(KM_COLOURS)], label=code)
    axes.axhline(limit, color="#b00020", linestyle="--", linewidth=1, label=f"h = {limit}")
    axes.set_xlabel("Observation (in order)")
    axes.set_ylabel("CUSUM")
    axes.legend(frameon=False, fontsize=7)
    axes.set_title(title, fontsize=8, y=TITLE_Y)
    return _svg(figure, title)
