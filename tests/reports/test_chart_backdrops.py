"""A quarterly build draws each chart's axes once and every report's figures over them
(``reports.charts``): a report's chart must show its own figures only, exactly as if it were the
first chart drawn, whatever the charts drawn before it in the same process."""

from __future__ import annotations

import threading

from reports import charts
from reports.fracture_outcomes import RISK_DAYS
from reports.stats import proportion
from reports.survival import kaplan_meier


def _in_a_new_thread(draw):
    """``draw()`` in a thread of its own: no backdrop kept yet (they are kept per thread)."""
    result = []

    def run():
        with charts.with_png():
            result.append(draw())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result[0]


def _leaks(pvp, pkp):
    return {"PVP": proportion(*pvp), "PKP": proportion(*pkp), "OTHER": proportion(0, 0)}


def _panels(days: list[int], events: list[bool]):
    km = kaplan_meier(days, events)
    half = kaplan_meier(days[::2], events[::2])
    return [
        ("All patients", {"All patients": km}),
        ("By intradiscal cement leak", {"Intradiscal leak": half, "No intradiscal leak": km}),
        ("By procedure type", {"Vertebroplasty": km}),
    ]


def test_a_leak_chart_drawn_after_another_sites_shows_only_its_own_figures():
    first, second = _leaks((12, 30), (9, 10)), _leaks((3, 40), (0, 25))
    with charts.with_png():
        before = charts.leak_rate_by_type(first, suppress=False)
        after = charts.leak_rate_by_type(second, suppress=False)
        again = charts.leak_rate_by_type(first, suppress=False)

    assert after.png == _in_a_new_thread(lambda: charts.leak_rate_by_type(second, suppress=False)).png
    assert again.png == before.png  # nothing of the second site's bars or labels is left behind
    assert after.png != before.png


def test_kaplan_meier_panels_drawn_in_turn_equal_each_drawn_first():
    first = _panels([30, 60, 90, 200, 400, 500, 700, 720], [True, False, True, False, True, False, False, True])
    second = _panels([10, 100, 365, 366, 600, 610], [False, False, True, True, False, True])

    def draw(panels):
        return charts.kaplan_meier_panels("New-fracture-free survival", panels, risk_days=RISK_DAYS, suppress=False)

    with charts.with_png():
        drawn = [draw(first), draw(second), draw(first)]

    assert drawn[1].png == _in_a_new_thread(lambda: draw(second)).png
    assert drawn[2].png == drawn[0].png
    assert drawn[1].png != drawn[0].png


def test_level_chart_scale_follows_the_tallest_bar():
    def activity(counts: dict[str, int]) -> dict:
        total = sum(counts.values())
        shares = {code: proportion(n, total) for code, n in counts.items()}
        return {"level_distribution": shares, "level_distribution_pvp": shares, "levels": total, "levels_pvp": total}

    low = activity({"T12": 10, "L1": 10, "L2": 10, "L3": 10, "L4": 10, "T8": 10, "T9": 10, "T10": 10, "T11": 10})
    tall = activity({"T12": 10, "L1": 80, "L2": 10})
    with charts.with_png():
        drawn_low = charts.level_distribution(low, suppress=False)
        drawn_tall = charts.level_distribution(tall, suppress=False)

    assert drawn_tall.png == _in_a_new_thread(lambda: charts.level_distribution(tall, suppress=False)).png
    # As SVG (the dashboard) the same chart is one figure: its scale reaches L1's 80 %, and a
    # registry whose tallest level is far lower keeps a scale of its own.
    assert ">80<" in charts.level_distribution(tall, suppress=False)
    assert ">80<" not in charts.level_distribution(low, suppress=False)
    assert drawn_low.png != drawn_tall.png
