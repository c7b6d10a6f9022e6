"""Charts read in full: every procedure type keeps its label and a 0 % bar says so."""

from __future__ import annotations

from reports import charts
from reports.stats import proportion


def test_leak_chart_labels_every_type_and_shows_zero_as_zero():
    svg = charts.leak_rate_by_type(
        {"PVP": proportion(12, 30), "PKP": proportion(0, 10), "OTHER": proportion(0, 0)}, suppress=False
    )

    for label in (">PVP<", ">PKP<", ">Other<"):
        assert label in svg  # the whole word, not "Othe"
    assert ">40.0 %<" in svg and ">0.0 %<" in svg  # PKP had no leak: a labelled zero, not a gap
    assert ">no patients<" in svg
    assert "Sørensen 2019: 37.9 %" in svg and ".txt" not in svg


def test_quarterly_charts_are_images_for_the_pdf():
    with charts.with_png():
        chart = charts.leak_rate_by_type({k: proportion(6, 10) for k in ("PVP", "PKP", "OTHER")}, suppress=True)

    assert chart.png.startswith(b"\x89PNG") and chart.startswith('<img class="chart" alt="Patients with a cement leak')
