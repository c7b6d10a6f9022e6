import os
from pathlib import Path

import pytest

from reports.benchmarks import (
    BENCHMARKS,
    SOURCE_000,
    SOURCE_001,
    SOURCE_004,
    TIME_POINTS,
    TRAJECTORIES,
    CountsBenchmark,
    LeakComparisonBenchmark,
    MeanBenchmark,
    RateBenchmark,
    benchmark_time_point,
    trajectory_for,
)

LITERATURE = Path(os.environ.get("REGISTRY_LITERATURE_DIR", "/work/shared/domain/literature"))


def test_patient_leak_rates_by_procedure_type():
    pvp = BENCHMARKS["leak_rate_patient_pvp"]
    pkp = BENCHMARKS["leak_rate_patient_pkp"]

    assert (pvp.percent, pvp.reported_n) == (37.9, 1157)
    assert (pkp.percent, pkp.reported_n) == (13.6, 206)
    assert pvp.source.file == pkp.source.file == SOURCE_004
    assert "Table 1" in pvp.source.where
    # The role of Table 1's N is unclear, so no interval is derived from it.
    assert pvp.proportion() is None


def test_per_level_leak_of_low_volume_pvp_with_breakdowns():
    leak = BENCHMARKS["leak_rate_level_low_volume_pvp"]

    assert (leak.count, leak.denominator) == (15, 41)
    assert leak.proportion().rate == pytest.approx(0.366, abs=5e-4)
    assert dict(leak.breakdown["location"]) == {
        "vascular": 8,
        "disc": 5,
        "posterior": 2,
    }
    assert dict(leak.breakdown["size"]) == {"minor": 12, "moderate": 1, "massive": 2}
    assert sum(leak.breakdown["location"].values()) == leak.count
    assert sum(leak.breakdown["size"].values()) == leak.count
    assert leak.source.file == SOURCE_001


def test_symptomatic_complications_total_and_by_procedure_type():
    total = BENCHMARKS["symptomatic_complications"]
    pvp = BENCHMARKS["symptomatic_complications_pvp"]
    pkp = BENCHMARKS["symptomatic_complications_pkp"]

    assert (total.count, total.denominator) == (43, 2933)
    assert round(total.proportion().percent, 1) == 1.5
    assert (pvp.count, pvp.denominator) == (35, 2024)
    assert (pkp.count, pkp.denominator) == (8, 909)
    assert pvp.count + pkp.count == total.count
    assert pvp.denominator + pkp.denominator == total.denominator
    assert total.source.file == SOURCE_004


def test_complication_rates_from_the_review():
    pce = BENCHMARKS["pulmonary_cement_embolism_pvp"]
    infection = BENCHMARKS["infection"]
    neuro = BENCHMARKS["transient_neurological_deficit"]
    any_neuro = BENCHMARKS["neurological_complications"]

    assert pce.range_percent == (2.1, 26.0)
    assert (infection.percent, infection.denominator) == (0.36, 826)
    assert neuro.percent == 2.5
    assert any_neuro.percent == 4.0
    for benchmark in (pce, infection, neuro, any_neuro):
        assert benchmark.source.file == SOURCE_000
        assert "section 3" in benchmark.source.where


def test_levels_per_patient():
    assert BENCHMARKS["levels_per_patient_pvp"].mean == 2.26
    assert BENCHMARKS["levels_per_patient_pkp"].mean == 1.95
    assert BENCHMARKS["levels_per_patient_pvp"].n == 2005
    assert BENCHMARKS["levels_per_patient_pkp"].n == 859


def test_cement_volume_body_volume_and_fill():
    volume = BENCHMARKS["cement_volume_per_level"]
    body = BENCHMARKS["vertebral_body_volume"]
    fill = BENCHMARKS["cement_fill_percent"]

    assert (volume.mean, volume.sd, volume.minimum, volume.maximum, volume.n) == (
        2.0,
        0.8,
        1.0,
        4.0,
        41,
    )
    assert volume.unit == "mL"
    assert (body.mean, body.sd, body.minimum, body.maximum) == (26.1, 6.0, 15.6, 38.1)
    assert fill.mean == 9.0
    assert str(volume.source) == "Barriga-Martín et al. 2022, Rev Esp Cir Ortop Traumatol, Table 2"


def test_cement_volume_with_and_without_leak():
    comparison = BENCHMARKS["cement_volume_by_leak"]

    assert (
        comparison.with_leak.mean,
        comparison.with_leak.sd,
        comparison.with_leak.n,
    ) == (
        2.13,
        0.68,
        15,
    )
    assert (
        comparison.without_leak.mean,
        comparison.without_leak.sd,
        comparison.without_leak.n,
    ) == (1.95, 0.81, 26)
    assert comparison.p_value == 0.267
    assert str(comparison.source) == "Barriga-Martín et al. 2022, Rev Esp Cir Ortop Traumatol, Table 3"


def test_level_distribution_of_41_levels():
    distribution = BENCHMARKS["level_distribution"]

    assert dict(distribution.counts) == {
        "T8": 2,
        "T9": 2,
        "T11": 3,
        "T12": 4,
        "L1": 12,
        "L2": 6,
        "L3": 4,
        "L4": 5,
        "L5": 3,
    }
    assert distribution.total == 41
    assert str(distribution.source) == "Barriga-Martín et al. 2022, Rev Esp Cir Ortop Traumatol, Table 1"


@pytest.mark.parametrize(
    ("key", "means"),
    [
        (("vas", "PVP"), [7.48, 3.00, 2.90, 2.50, 2.85, 2.98]),
        (("vas", "PKP"), [7.05, 2.96, 2.99, 3.12, 3.55, 3.09]),
        (("odi", "PVP"), [74.68, 17.73, 32.25, 31.68, 29.88, 28.93]),
        (("odi", "PKP"), [66.02, 34.73, 38.54, 37.35, 30.16, 32.45]),
        (("karnofsky", "PVP+PKP"), [66.99, 80.28, 83.11, 83.92, 82.02, 79.08]),
    ],
)
def test_trajectories_at_the_six_time_points(key, means):
    trajectory = TRAJECTORIES[key]

    assert [point.time_point for point in trajectory.points] == list(TIME_POINTS)
    assert [point.mean for point in trajectory.points] == means
    assert all(point.n > 0 for point in trajectory.points)
    assert str(trajectory.source) == "Sørensen et al. 2019, The Spine Journal, Table 2"


def test_time_point_labels():
    assert TIME_POINTS == ("baseline", "<4 w", "≤6 w", "<6 m", "<1 y", "≥1 y")


@pytest.mark.parametrize(
    ("event", "time_point"),
    [("baseline", "baseline"), ("early", "≤6 w"), ("m3", "<6 m"), ("m12", "<1 y")],
)
def test_follow_up_events_map_to_benchmark_time_points(event, time_point):
    assert benchmark_time_point(event) == time_point


def test_an_event_added_by_the_administrator_has_no_benchmark():
    assert benchmark_time_point("m24") is None
    assert TRAJECTORIES[("vas", "PVP")].for_event("m24") is None


def test_trajectory_for_a_procedure_and_event():
    assert trajectory_for("vas", "PVP").for_event("m3").mean == 2.50
    assert trajectory_for("odi", "PKP").for_event("early").mean == 38.54
    assert trajectory_for("vas", "PKP").for_event("m12").mean == 3.55
    assert trajectory_for("karnofsky", "PKP").for_event("baseline").mean == 66.99
    assert trajectory_for("vas", "OTHER") is None


def test_every_benchmark_cites_a_literature_file_and_location():
    for key, benchmark in BENCHMARKS.items():
        assert isinstance(
            benchmark,
            RateBenchmark | MeanBenchmark | LeakComparisonBenchmark | CountsBenchmark,
        ), key
        assert benchmark.source.file in (SOURCE_000, SOURCE_001, SOURCE_004), key
        assert benchmark.source.where, key


# Strings as printed in the source texts (001's tables use decimal commas).
PRINTED = {
    SOURCE_004: [
        "1157 (37.9)",
        "206 (13.6)",
        "43 (2933)",
        "35 (2024)",
        "8 (909)",
        "2.26 (2005)",
        "1.95 (859)",
        "7.48 (1445)",
        "2.50 (370)",
        "17.73 (190)",
        "38.54 (156)",
        "79.08 (110)",
    ],
    SOURCE_001: [
        "15 leaks in 41 vertebrae",
        "posterior in 2 vertebrae, vascular in 8 and into the disc in 5",
        "minor in 12 cases, moderate in 1 and major in 2",
        "| 26,1  | 6,0 | 15,6   | 38,1   |",
        "| 2,0   | 0,8 | 1      | 4      |",
        "| 1,95        | 0,81 | 2,13        | 0,68 | 0,267   |",
        "percentage of the average filler was 9%",
        "| L1    | 12 ",
    ],
    SOURCE_000: [
        "ranges from 2.1% to 26%",
        "826 cases",
        "0.36%",
        "Transient neurologic deficits were reported in 2.5%",
        "The overall risk of neurologic complications due to embolization was 4.0%",
    ],
}


@pytest.mark.skipif(not LITERATURE.is_dir(), reason="literature texts not available")
@pytest.mark.parametrize("source", sorted(PRINTED))
def test_figures_are_printed_in_the_cited_source(source):
    text = (LITERATURE / source).read_text(encoding="utf-8")

    missing = [figure for figure in PRINTED[source] if figure not in text]

    assert not missing
