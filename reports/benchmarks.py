"""Literature benchmarks for the reports' comparison column (DATA_DICTIONARY.md §5).

Each figure carries its source: a file in shared/domain/literature/ and the table or
section it was read from. Figures are as printed in the source; where the source prints
a count and a denominator, reports show ``benchmark.proportion()`` (with its Wilson
interval) rather than a bare percentage. ``note`` records where a source is ambiguous or
inconsistent.

The populations differ: 004 pools malignant fractures treated by PVP or kyphoplasty, 001
is one Spanish centre's low-volume PVP for osteoporotic fractures, 000 is a narrative
review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from reports.stats import Proportion, proportion

# Gumusay et al. 2022, The Breast: narrative review with two case reports.
SOURCE_000 = "000_e8a05405d1a9934a.txt"
# Barriga-Martín et al. 2022, Rev Esp Cir Ortop Traumatol: 27 patients, 41 levels.
SOURCE_001 = "001_18e88897101ad5e6.txt"
# Sørensen et al. 2019, The Spine Journal: systematic review, 3426 patients.
SOURCE_004 = "004_c667adca4bd45f0f.txt"

# How reports name each source (DATA_DICTIONARY.md section 5: the paper, never the file).
CITATIONS: Mapping[str, str] = MappingProxyType(
    {
        SOURCE_000: "Gumusay et al. 2022, The Breast",
        SOURCE_001: "Barriga-Martín et al. 2022, Rev Esp Cir Ortop Traumatol",
        SOURCE_004: "Sørensen et al. 2019, The Spine Journal",
    }
)
# Short forms for chart legends and column headings.
SHORT_CITATIONS: Mapping[str, str] = MappingProxyType(
    {SOURCE_000: "Gumusay 2022", SOURCE_001: "Barriga-Martín 2022", SOURCE_004: "Sørensen 2019"}
)

# The six follow-up intervals of 004 Table 2, in order.
BASELINE = "baseline"
UNDER_4_WEEKS = "<4 w"
UP_TO_6_WEEKS = "≤6 w"
UNDER_6_MONTHS = "<6 m"
UNDER_1_YEAR = "<1 y"
ONE_YEAR_OR_MORE = "≥1 y"
TIME_POINTS = (
    BASELINE,
    UNDER_4_WEEKS,
    UP_TO_6_WEEKS,
    UNDER_6_MONTHS,
    UNDER_1_YEAR,
    ONE_YEAR_OR_MORE,
)

# Registry follow-up event -> the 004 interval its answers are compared against.
# - early (days 14-42) overlaps "<4 w" and "≤6 w"; "≤6 w" covers the whole window,
#   while "<4 w" includes the immediate post-operative scores no survey collects.
# - m3 (days 76-120) lies inside "<6 m" (after 6 weeks, before 6 months).
# - m12 (days 335-395) straddles one year; "<1 y" holds the day-350 invitation and
#   most answers. No registry event maps to "≥1 y".
# Events an administrator adds to the protocol have no benchmark (None).
EVENT_TIME_POINTS: Mapping[str, str] = MappingProxyType(
    {
        "baseline": BASELINE,
        "early": UP_TO_6_WEEKS,
        "m3": UNDER_6_MONTHS,
        "m12": UNDER_1_YEAR,
    }
)


def benchmark_time_point(event: str) -> str | None:
    """The 004 Table 2 interval to compare a follow-up event with, or None."""
    return EVENT_TIME_POINTS.get(event)


@dataclass(frozen=True)
class Source:
    file: str
    where: str

    @property
    def short(self) -> str:
        return SHORT_CITATIONS[self.file]

    def __str__(self) -> str:
        """'Sørensen et al. 2019, The Spine Journal, Table 2': author, year, journal, where."""
        return f"{CITATIONS[self.file]}, {self.where}"


@dataclass(frozen=True)
class RateBenchmark:
    """A percentage, with its count and denominator when the source gives them.

    ``percent`` is as printed (None when the source prints only counts);
    ``range_percent`` is for a figure given as a range; ``reported_n`` is an N printed
    beside the figure that is not plainly its denominator (see ``note``); ``breakdown``
    splits ``count`` by category.
    """

    label: str
    unit: str
    source: Source
    percent: float | None = None
    count: int | None = None
    denominator: int | None = None
    range_percent: tuple[float, float] | None = None
    reported_n: int | None = None
    breakdown: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    note: str = ""

    def proportion(self) -> Proportion | None:
        if self.count is None or self.denominator is None:
            return None
        return proportion(self.count, self.denominator)


@dataclass(frozen=True)
class MeanBenchmark:
    label: str
    unit: str
    source: Source
    mean: float
    sd: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    n: int | None = None
    note: str = ""


@dataclass(frozen=True)
class LeakComparisonBenchmark:
    """A measure compared between levels with and without a cement leak."""

    label: str
    source: Source
    with_leak: MeanBenchmark
    without_leak: MeanBenchmark
    p_value: float
    note: str = ""


@dataclass(frozen=True)
class CountsBenchmark:
    label: str
    unit: str
    source: Source
    counts: Mapping[str, int]
    note: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class TrajectoryPoint:
    time_point: str
    mean: float
    n: int


@dataclass(frozen=True)
class Trajectory:
    """Pooled (sample-size weighted) means at the six intervals of 004 Table 2."""

    measure: str
    procedure_type: str
    unit: str
    source: Source
    points: tuple[TrajectoryPoint, ...]
    note: str = ""

    def at(self, time_point: str) -> TrajectoryPoint:
        for point in self.points:
            if point.time_point == time_point:
                return point
        raise KeyError(time_point)

    def for_event(self, event: str) -> TrajectoryPoint | None:
        time_point = benchmark_time_point(event)
        return None if time_point is None else self.at(time_point)


def _trajectory(
    measure: str,
    procedure_type: str,
    unit: str,
    means_and_ns: list[tuple[float, int]],
    note: str = "",
) -> Trajectory:
    points = tuple(
        TrajectoryPoint(time_point=time_point, mean=mean, n=n)
        for time_point, (mean, n) in zip(TIME_POINTS, means_and_ns, strict=True)
    )
    return Trajectory(
        measure=measure,
        procedure_type=procedure_type,
        unit=unit,
        source=Source(SOURCE_004, "Table 2"),
        points=points,
        note=note,
    )


_LEAK_N_NOTE = (
    "Sørensen 2019 Table 1 prints 'Cement leakage, N (%)' as {n} ({percent}). Elsewhere in that "
    "table 'N (%)' is count (percent), but {n} is not {percent} % of the {patients} "
    "{group} patients, and the total column (1419, 31.1 %) is neither the sum nor the "
    "weighted mean of the PVP and KP columns. The role of N is unclear, so no interval "
    "is computed from it."
)

BENCHMARKS: Mapping[str, RateBenchmark | MeanBenchmark | LeakComparisonBenchmark | CountsBenchmark] = MappingProxyType(
    {
        # --- cement leak ---------------------------------------------------------
        "leak_rate_patient_pvp": RateBenchmark(
            label="Cement leak, PVP (patients)",
            unit="patients",
            source=Source(SOURCE_004, "abstract, Table 1"),
            percent=37.9,
            reported_n=1157,
            note=_LEAK_N_NOTE.format(n=1157, percent=37.9, group="PVP", patients=2091),
        ),
        "leak_rate_patient_pkp": RateBenchmark(
            label="Cement leak, PKP (patients)",
            unit="patients",
            source=Source(SOURCE_004, "abstract, Table 1"),
            percent=13.6,
            reported_n=206,
            note=_LEAK_N_NOTE.format(n=206, percent=13.6, group="KP", patients=1335),
        ),
        "leak_rate_level_low_volume_pvp": RateBenchmark(
            label="Cement leak per level, low-volume PVP",
            unit="levels",
            source=Source(SOURCE_001, "abstract, Results, Table 3"),
            percent=37.0,
            count=15,
            denominator=41,
            breakdown=MappingProxyType(
                {
                    "location": MappingProxyType({"vascular": 8, "disc": 5, "posterior": 2}),
                    "size": MappingProxyType({"minor": 12, "moderate": 1, "massive": 2}),
                }
            ),
            note="Every level had a post-operative radiograph and CT; 27 osteoporotic "
            "patients, mean 2.0 mL per level. Size grades: Barriga-Martín 'puntual' = minor, "
            "'moderada' = moderate, 'masiva' = massive ('major' in its English abstract).",
        ),
        # --- complications -------------------------------------------------------
        "symptomatic_complications": RateBenchmark(
            label="Symptomatic complications (patients)",
            unit="patients",
            source=Source(SOURCE_004, "Table 1"),
            count=43,
            denominator=2933,
            note="1.5 % is computed (43 / 2933 = 1.47 %); the paper prints no rate and "
            "its discussion says 'around 1 %'.",
        ),
        "symptomatic_complications_pvp": RateBenchmark(
            label="Symptomatic complications, PVP (patients)",
            unit="patients",
            source=Source(SOURCE_004, "Table 1"),
            count=35,
            denominator=2024,
        ),
        "symptomatic_complications_pkp": RateBenchmark(
            label="Symptomatic complications, PKP (patients)",
            unit="patients",
            source=Source(SOURCE_004, "Table 1"),
            count=8,
            denominator=909,
        ),
        "pulmonary_cement_embolism_pvp": RateBenchmark(
            label="Pulmonary cement embolism after PVP",
            unit="patients",
            source=Source(SOURCE_000, "section 3 (refs 59, 60)"),
            range_percent=(2.1, 26.0),
            note="Range across studies; depends on the imaging used to look for it.",
        ),
        "infection": RateBenchmark(
            label="Infection after PVP / PKP",
            unit="cases",
            source=Source(SOURCE_000, "section 3 (ref 52)"),
            percent=0.36,
            denominator=826,
            note="Retrospective series of 826 augmentations; the count (3 / 826 = 0.36 %) is implied, not printed.",
        ),
        "neurological_complications": RateBenchmark(
            label="Neurological complications, any (embolization)",
            unit="patients",
            source=Source(SOURCE_000, "section 3"),
            percent=4.0,
            note="'The overall risk of neurologic complications due to embolization was 4.0%'; no "
            "denominator given. The registry's figure counts any neurological complication.",
        ),
        "transient_neurological_deficit": RateBenchmark(
            label="Transient neurological deficit",
            unit="patients",
            source=Source(SOURCE_000, "section 3 (ref 55)"),
            percent=2.5,
            note="From a systematic review on embolization (ref 55), no denominator "
            "given; the same paragraph gives 4.0 % for all neurological complications.",
        ),
        # --- levels and cement ---------------------------------------------------
        "levels_per_patient_pvp": MeanBenchmark(
            label="Treated levels per patient, PVP",
            unit="levels",
            source=Source(SOURCE_004, "Table 1"),
            mean=2.26,
            n=2005,
        ),
        "levels_per_patient_pkp": MeanBenchmark(
            label="Treated levels per patient, PKP",
            unit="levels",
            source=Source(SOURCE_004, "Table 1"),
            mean=1.95,
            n=859,
        ),
        "levels_per_patient_all": MeanBenchmark(
            label="Treated levels per patient, PVP and PKP",
            unit="levels",
            source=Source(SOURCE_004, "Table 1"),
            mean=2.17,
            n=2864,
        ),
        "cement_volume_per_level": MeanBenchmark(
            label="Cement volume per level",
            unit="mL",
            source=Source(SOURCE_001, "Table 2"),
            mean=2.0,
            sd=0.8,
            minimum=1.0,
            maximum=4.0,
            n=41,
            note="Bilateral transpedicular PVP; Barriga-Martín 2022 reports cc (= mL).",
        ),
        "vertebral_body_volume": MeanBenchmark(
            label="Vertebral body volume (CT volumetry)",
            unit="cc",
            source=Source(SOURCE_001, "Table 2"),
            mean=26.1,
            sd=6.0,
            minimum=15.6,
            maximum=38.1,
            n=41,
        ),
        "cement_fill_percent": MeanBenchmark(
            label="Cement fill (cement / body volume)",
            unit="%",
            source=Source(SOURCE_001, "abstract, Results"),
            mean=9.0,
            n=41,
            note="Not in Table 2. The ratio of the mean volumes is 2.0 / 26.1 = 7.7 %, "
            "so 9 % is presumably the mean of per-level fill: compare it with the mean "
            "of each level's fill %, not with mean cement / mean body volume.",
        ),
        "cement_volume_by_leak": LeakComparisonBenchmark(
            label="Cement volume per level, with vs without leak",
            source=Source(SOURCE_001, "Table 3"),
            with_leak=MeanBenchmark(
                label="with leak",
                unit="mL",
                source=Source(SOURCE_001, "Table 3"),
                mean=2.13,
                sd=0.68,
                n=15,
            ),
            without_leak=MeanBenchmark(
                label="without leak",
                unit="mL",
                source=Source(SOURCE_001, "Table 3"),
                mean=1.95,
                sd=0.81,
                n=26,
            ),
            p_value=0.267,
            note="Barriga-Martín 2022 used Student's t or Kruskal-Wallis (after Shapiro-Wilk) and does "
            "not say which for this row. A t test on the printed means and SDs gives "
            "p = 0.45 (Welch) or 0.47 (pooled), so 0.267 cannot be reproduced from the "
            "summary figures. The registry uses Welch's t (reports.stats.welch_t_test).",
        ),
        "body_volume_by_leak": LeakComparisonBenchmark(
            label="Vertebral body volume, with vs without leak",
            source=Source(SOURCE_001, "Table 3"),
            with_leak=MeanBenchmark(
                label="with leak",
                unit="cc",
                source=Source(SOURCE_001, "Table 3"),
                mean=24.5,
                sd=5.9,
                n=15,
            ),
            without_leak=MeanBenchmark(
                label="without leak",
                unit="cc",
                source=Source(SOURCE_001, "Table 3"),
                mean=27.0,
                sd=5.9,
                n=26,
            ),
            p_value=0.466,
            note="A t test on the printed figures gives p = 0.20, not 0.466.",
        ),
        "level_distribution": CountsBenchmark(
            label="Treated levels by vertebra (41 levels)",
            unit="levels",
            source=Source(SOURCE_001, "Table 1"),
            counts=MappingProxyType(
                {
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
            ),
            note="Table 1 heads the column 'number of patients' but counts vertebrae "
            "(27 patients, 41 levels). Thoracic 11 (27 %), lumbar 30 (73 %).",
        ),
    }
)

# Keyed by (measure, procedure type); 004 pools Karnofsky over PVP and PKP.
TRAJECTORIES: Mapping[tuple[str, str], Trajectory] = MappingProxyType(
    {
        ("vas", "PVP"): _trajectory(
            "vas",
            "PVP",
            "0-10",
            [
                (7.48, 1445),
                (3.00, 1147),
                (2.90, 606),
                (2.50, 370),
                (2.85, 784),
                (2.98, 260),
            ],
        ),
        ("vas", "PKP"): _trajectory(
            "vas",
            "PKP",
            "0-10",
            [
                (7.05, 1103),
                (2.96, 814),
                (2.99, 222),
                (3.12, 318),
                (3.55, 204),
                (3.09, 375),
            ],
        ),
        ("odi", "PVP"): _trajectory(
            "odi",
            "PVP",
            "%",
            [
                (74.68, 226),
                (17.73, 190),
                (32.25, 67),
                (31.68, 67),
                (29.88, 81),
                (28.93, 103),
            ],
            note="Sørensen 2019's Results text gives 17.74 at < 4 weeks; Table 2 (used) 17.73.",
        ),
        ("odi", "PKP"): _trajectory(
            "odi",
            "PKP",
            "%",
            [
                (66.02, 592),
                (34.73, 275),
                (38.54, 156),
                (37.35, 381),
                (30.16, 162),
                (32.45, 301),
            ],
        ),
        ("karnofsky", "PVP+PKP"): _trajectory(
            "karnofsky",
            "PVP+PKP",
            "0-100",
            [
                (66.99, 611),
                (80.28, 609),
                (83.11, 263),
                (83.92, 263),
                (82.02, 265),
                (79.08, 110),
            ],
        ),
    }
)


def trajectory_for(measure: str, procedure_type: str) -> Trajectory | None:
    """The benchmark for "vas", "odi" or "karnofsky" after a PVP or PKP procedure.

    None for other procedure types: 004 has no figures for stenting or sacroplasty.
    """
    if procedure_type not in ("PVP", "PKP"):
        return None
    if measure == "karnofsky":
        return TRAJECTORIES[("karnofsky", "PVP+PKP")]
    return TRAJECTORIES.get((measure, procedure_type))
