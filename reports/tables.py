"""The report as tables of text: the metrics beside their literature benchmarks.

One set of tables feeds the dashboard, the quarterly report's HTML, its PDF and its XLSX
(one sheet per table), so every format shows the same digits. ``suppress`` is for anything
a reviewer sees: counts of 1-4 become "<5", small-cell proportions and means lose their
rates (``reports.stats``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from registry.procedures.models import ComplicationType, Indication, ProcedureType, SirSeverity
from reports import benchmarks as bm
from reports.disclosure import is_withheld
from reports.metrics import Metrics, OutcomeRow
from reports.stats import (
    NOT_AVAILABLE,
    SMALL_CELL,
    MeanSummary,
    Proportion,
    format_mean,
    format_number,
    format_proportion,
    is_disclosive,
    proportion,
    suppress_count,
)

TYPE_LABELS = {"all": "All", "PVP": "PVP", "PKP": "PKP", "OTHER": "Other"}
EVENT_LABELS = {
    "baseline": "Baseline",
    "early": "Early (2–6 weeks)",
    "m3": "3 months",
    "m12": "12 months",
}
LOCATION_LABELS = {"disc": "Disc", "vascular": "Vascular", "posterior": "Posterior", "other": "Other"}
PATHWAY_LABELS = {"B": "B — basivertebral vein", "S": "S — segmental vein", "C": "C — cortical defect"}
BONE_HEALTH_LABELS = {"dxa": "DXA scan", "osteoporosis_therapy": "Osteoporosis therapy started"}
COMPLETENESS_LABELS = {
    "fracture_age": "Fracture age (procedures)",
    "mri_oedema": "MRI / STIR oedema (procedures)",
    "fluoroscopy_seconds": "Fluoroscopy time (procedures)",
    "dose_area_product": "Dose–area product (procedures)",
    "baseline_vas": "Baseline VAS (procedures)",
    "baseline_odi": "Baseline ODI (procedures)",
    "t_score_osteoporotic": "Lowest T-score (osteoporotic procedures)",
    "body_volume": "Vertebral body volume (levels)",
    "viscosity": "Cement viscosity (levels)",
    "needle_gauge": "Needle gauge (levels)",
    "leak_pathway": "Yeom pathway (leaks)",
    "leak_size": "Size grade (leaks)",
}
MEASURE_LABELS = {"vas": "VAS (0–10)", "odi": "ODI (%)"}


PVP_LEVELS_COLUMN = "PVP levels"
LEVEL_BENCHMARK_COLUMN = f"Benchmark ({bm.BENCHMARKS['level_distribution'].source.short}, 41 levels)"
TRAJECTORY_BENCHMARK_COLUMN = f"Benchmark ({bm.trajectory_for('vas', 'PVP').source.short}, Table 2)"


def event_label(code: str) -> str:
    return EVENT_LABELS.get(code, code)


class FigureText(str):
    """A cell's text with the numbers behind it, for the XLSX figures sheet (issue #10 item 9):
    n, denominator, value (a percent or a mean) and its 95 % interval; None where not shown."""

    n: int | None
    denominator: int | None
    value: float | None
    lower: float | None
    upper: float | None

    def __new__(cls, text: str, *, n=None, denominator=None, value=None, lower=None, upper=None):
        figure = super().__new__(cls, text)
        figure.n, figure.denominator, figure.value, figure.lower, figure.upper = n, denominator, value, lower, upper
        return figure

    def __reduce__(self):
        return (_figure_text, (str(self), self.n, self.denominator, self.value, self.lower, self.upper))


def _figure_text(text, n, denominator, value, lower, upper) -> FigureText:
    return FigureText(text, n=n, denominator=denominator, value=value, lower=lower, upper=upper)


def share_figure(text: str, p: Proportion, *, shown: bool = True) -> str:
    if not shown or p.rate is None:
        # A hidden count keeps its denominator when the text prints it ("<5 / 11").
        printed = p.rate is None or not 0 < p.denominator < SMALL_CELL
        return FigureText(text, denominator=p.denominator if printed else None)
    return FigureText(
        text, n=p.count, denominator=p.denominator, value=p.rate * 100, lower=p.ci_low * 100, upper=p.ci_high * 100
    )


def mean_figure(text: str, m: MeanSummary | None, *, shown: bool = True) -> str:
    if m is None or not shown or m.mean is None:
        return FigureText(text, n=m.n if (m is not None and shown) else None)
    value = float(m.exact_mean) if m.exact_mean is not None else m.mean
    return FigureText(text, n=m.n, value=value, lower=m.ci_low, upper=m.ci_high)


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""
    # Where the benchmark column's figures come from, for tables without a "Source" column.
    benchmark_source: str = ""
    # The one column the benchmark compares with, where a row has several figures (a PVP-only
    # benchmark beside the PVP column, not beside all types); empty: the row's figures.
    benchmark_for: str = ""
    # Per row, per cell: the numbers behind the text (FigureText) or None.
    figures: list[list[FigureText | None]] = field(default_factory=list, compare=False)

    def add(self, *cells: str) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.key}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([str(cell) for cell in cells])
        self.figures.append([cell if isinstance(cell, FigureText) else None for cell in cells])

    def row(self, label: str) -> dict[str, str]:
        """The row whose first cell is ``label``, as {column: text}."""
        for row in self.rows:
            if row[0] == label:
                return dict(zip(self.columns, row, strict=True))
        raise KeyError(f"{self.key}: no row {label!r}")

    def cell(self, label: str, column: str) -> str:
        return self.row(label)[column]

    def find(self, **cells: str) -> dict[str, str]:
        """The row whose cells equal ``cells`` (column name with spaces as underscores)."""
        for row in self.rows:
            record = dict(zip(self.columns, row, strict=True))
            if all(record.get(name.replace("_", " ")) == value for name, value in cells.items()):
                return record
        raise KeyError(f"{self.key}: no row {cells!r}")


@dataclass
class Section:
    title: str
    tables: list[Table]

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(key)


# --- formatting ----------------------------------------------------------------------------


# A cell withheld so that a small cell beside it cannot be worked out by subtraction from a total
# (complementary suppression); what it holds may be any size.
WITHHELD = "withheld"


def complementary(counts: Mapping[str, int], *, suppress: bool, withheld: Iterable[str] = ()) -> set[str]:
    """The groups of an additive breakdown (parts of a total shown elsewhere) to withhold: every
    count of 1-4 and every group ``withheld`` already (``reports.disclosure``), and, where that
    would leave one alone, the next smallest, so that no hidden count is the total minus the shown
    ones. Zeros are not small cells but can be withheld as partners."""
    if not suppress:
        return set()
    hidden = {key for key, n in counts.items() if 0 < n < SMALL_CELL} | (set(withheld) & set(counts))
    if len(hidden) == 1:
        partners = sorted((n, str(key)) for key, n in counts.items() if key not in hidden)
        if partners:
            hidden.add(next(key for key in counts if str(key) == partners[0][1]))
    return hidden


class Formatter:
    def __init__(self, *, suppress: bool):
        self.suppress = suppress

    def withheld_shares(self, shares: Mapping[str, Proportion]) -> set[str]:
        """Groups of a by-group family of proportions (parts of an "all" row) to withhold: by
        count, by denominator and by complement, each protected against subtraction."""
        parts = {key: share for key, share in shares.items() if key != "all"}
        withheld = {key for key, p in parts.items() if p.withheld}
        hidden: set[str] = set()
        for counts in (
            {key: p.count for key, p in parts.items()},
            {key: p.denominator for key, p in parts.items()},
            {key: p.denominator - p.count for key, p in parts.items()},
        ):
            hidden |= complementary(counts, suppress=self.suppress, withheld=withheld)
        # Each set is empty or holds at least two groups, and so does their union.
        return hidden

    def withheld_means(self, means: Mapping[str, MeanSummary | None]) -> set[str]:
        parts = {key: m for key, m in means.items() if key != "all"}
        return complementary(
            {key: (m.n if m is not None else 0) for key, m in parts.items()},
            suppress=self.suppress,
            withheld={key for key, m in parts.items() if is_withheld(m)},
        )

    def withheld_outcome_groups(self, groups: Mapping[str, Mapping[str, OutcomeRow]], event: str) -> set[str]:
        """The groups (procedure types, indications) whose outcome at ``event`` is withheld. They
        are parts of one cohort (the "All" row, or the by-type table's): a small group is withheld
        with a partner, so that its mean cannot be worked back from the others'."""
        return self.withheld_means({group: rows[event].score for group, rows in groups.items()}) | self.withheld_means(
            {group: rows[event].change for group, rows in groups.items()}
        )

    def family(self, shares: Mapping[str, Proportion]) -> dict[str, str]:
        """Each group's text, with complementary suppression for reviewers."""
        hidden = self.withheld_shares(shares)
        # A small cell keeps its own "<5" text; its partners read "withheld".
        return {
            key: (WITHHELD if key in hidden and not is_disclosive(share) else self.share(share))
            for key, share in shares.items()
        }

    def mean_family(self, means: Mapping[str, MeanSummary | None], unit: str = "", decimals: int = 1) -> dict[str, str]:
        hidden = self.withheld_means(means)
        return {
            key: (WITHHELD if key in hidden and m is not None and m.n >= SMALL_CELL else self.mean(m, unit, decimals))
            for key, m in means.items()
        }

    def count_family(self, counts: Mapping[str, int]) -> dict[str, str]:
        hidden = complementary(
            counts, suppress=self.suppress, withheld={key for key, n in counts.items() if is_withheld(n)}
        )
        return {
            key: (WITHHELD if key in hidden and not 0 < n < SMALL_CELL else self.count(n)) for key, n in counts.items()
        }

    def count(self, n: int) -> str:
        if self.suppress and is_withheld(n):
            return WITHHELD
        n = int(n)
        if self.suppress and 0 < n < SMALL_CELL:
            return FigureText(suppress_count(n))
        return FigureText(str(n), n=n)

    def share(self, p: Proportion) -> str:
        if self.suppress and p.withheld:
            return WITHHELD
        text = format_proportion(p, suppress=self.suppress)
        return share_figure(text, p, shown=not (self.suppress and is_disclosive(p)))

    def mean(self, m: MeanSummary | None, unit: str = "", decimals: int = 1) -> str:
        if m is None:
            return NOT_AVAILABLE
        if self.suppress and m.withheld:
            return WITHHELD
        text = format_mean(m, unit, decimals=decimals, suppress=self.suppress)
        return mean_figure(text, m, shown=not (self.suppress and m.n < SMALL_CELL))

    def p_value(self, p: float | None, *groups: int) -> str:
        # With a small group a p value can hint at the few values behind it; reviewers see "—".
        if p is None or (self.suppress and any(0 < n < 5 for n in groups)):
            return NOT_AVAILABLE
        return "< 0.001" if p < 0.001 else format_number(p, 3)


def rate_benchmark(key: str) -> tuple[str, str]:
    """(figure, source) text for a RateBenchmark."""
    benchmark = bm.BENCHMARKS[key]
    source = str(benchmark.source)
    if benchmark.proportion() is not None:
        share = benchmark.proportion()
        return share_figure(format_proportion(share, suppress=False), share), source
    if benchmark.range_percent is not None:
        low, high = benchmark.range_percent
        return FigureText(f"{format_number(low)}–{format_number(high)} %", lower=low, upper=high), source
    text = f"{format_number(benchmark.percent, 2 if benchmark.percent < 1 else 1)} %"
    if benchmark.denominator is not None:
        text += f" of {benchmark.denominator}"
    return FigureText(text, value=benchmark.percent, denominator=benchmark.denominator), source


def mean_benchmark(benchmark: bm.MeanBenchmark, decimals: int = 1) -> str:
    text = format_number(benchmark.mean, decimals)
    if benchmark.sd is not None:
        text += f" ± {format_number(benchmark.sd, decimals)}"
    if benchmark.unit:
        text += f" {benchmark.unit}"
    extras = []
    if benchmark.minimum is not None and benchmark.maximum is not None:
        extras.append(
            f"range {format_number(benchmark.minimum, decimals)}–{format_number(benchmark.maximum, decimals)}"
        )
    if benchmark.n is not None:
        extras.append(f"n = {benchmark.n}")
    return FigureText(f"{text} ({'; '.join(extras)})" if extras else text, n=benchmark.n, value=benchmark.mean)


def mean_benchmark_key(key: str, decimals: int = 1) -> tuple[str, str]:
    benchmark = bm.BENCHMARKS[key]
    return mean_benchmark(benchmark, decimals), str(benchmark.source)


NO_BENCHMARK = (NOT_AVAILABLE, "")


# --- the tables ----------------------------------------------------------------------------

MEASURE_COLUMNS = ["Measure", "Value", "Benchmark", "Source"]


def activity_tables(m: Metrics, fmt: Formatter) -> list[Table]:
    a = m.activity
    table = Table("activity", "Activity", MEASURE_COLUMNS)
    table.add("Patients", fmt.count(a["patients"]), *NO_BENCHMARK)
    table.add("Procedures", fmt.count(a["procedures"]), *NO_BENCHMARK)
    table.add("Treated levels", fmt.count(a["levels"]), *NO_BENCHMARK)
    for kind, text in fmt.family(a["by_type"]).items():
        table.add(f"Procedures — {TYPE_LABELS[kind]}", text, *NO_BENCHMARK)
    table.add("Female patients", fmt.share(a["female"]), *NO_BENCHMARK)
    table.add("Age at procedure (years)", fmt.mean(a["age"]), *NO_BENCHMARK)
    level_benchmarks = {
        "all": "levels_per_patient_all",
        "PVP": "levels_per_patient_pvp",
        "PKP": "levels_per_patient_pkp",
    }
    for kind, text in fmt.mean_family(a["levels_per_patient"], decimals=2).items():
        benchmark = mean_benchmark_key(level_benchmarks[kind], 2) if kind in level_benchmarks else NO_BENCHMARK
        table.add(f"Levels per patient — {TYPE_LABELS[kind]}", text, *benchmark)

    indications = Table("indications", "Indications", ["Indication", "Procedures"])
    labels = dict(Indication.choices)
    for code, text in fmt.family(a["by_indication"]).items():
        indications.add(str(labels.get(code, code)), text)

    reference = bm.BENCHMARKS["level_distribution"]
    distribution = Table(
        "level_distribution",
        "Treated levels by vertebra",
        ["Level", "Levels", PVP_LEVELS_COLUMN, LEVEL_BENCHMARK_COLUMN],
        note=f"{reference.source}: PVP levels, compared with the registry's PVP levels.",
        benchmark_source=str(reference.source),
        benchmark_for=PVP_LEVELS_COLUMN,
    )
    shares, pvp_shares = level_shares(a), level_shares(a, pvp=True)
    texts, pvp_texts = fmt.family(shares), fmt.family(pvp_shares)
    for code in shares:
        count = reference.counts.get(code, 0)
        share = proportion(count, reference.total)
        distribution.add(
            code, texts[code], pvp_texts[code], share_figure(format_proportion(share, suppress=False), share)
        )
    return [table, indications, distribution]


_LEVEL_ORDER = (
    [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)] + ["S1"]
)


def level_shares(activity: dict, *, pvp: bool = False) -> dict[str, Proportion]:
    """Treated levels (all, or PVP) by vertebra, in spine order: every level treated, and every
    level of the benchmark's distribution (0 where none was treated). The table and the chart
    read this one family, so that they hide the same cells."""
    distribution = activity["level_distribution_pvp" if pvp else "level_distribution"]
    total = activity["levels_pvp" if pvp else "levels"]
    codes = set(activity["level_distribution"]) | set(bm.BENCHMARKS["level_distribution"].counts)
    order = {name: index for index, name in enumerate(_LEVEL_ORDER)}
    # A level none was treated at is 0 of the total: withheld with it (reports.disclosure).
    none = replace(proportion(0, total), withheld=is_withheld(total))
    return {code: distribution.get(code) or none for code in sorted(codes, key=order.__getitem__)}


def cement_tables(m: Metrics, fmt: Formatter) -> list[Table]:
    c = m.cement
    table = Table("cement", "Cement", MEASURE_COLUMNS)
    volume_benchmark = mean_benchmark_key("cement_volume_per_level")
    for kind, text in fmt.mean_family(c["volume"], "mL").items():
        # 001 treated by PVP only: its figure sits beside the PVP row, not beside all procedures.
        benchmark = volume_benchmark if kind == "PVP" else NO_BENCHMARK
        table.add(f"Volume per level — {TYPE_LABELS[kind]}", text, *benchmark)
    # Body volume and fill: 001's levels were all treated by PVP, so its figures sit beside the PVP rows.
    table.add("Vertebral body volume — All", fmt.mean(c["body_volume"], "cc"), *NO_BENCHMARK)
    table.add(
        "Vertebral body volume — PVP",
        fmt.mean(c["body_volume_pvp"], "cc"),
        *mean_benchmark_key("vertebral_body_volume"),
    )
    table.add("Fill (cement / body volume) — All", fmt.mean(c["fill_percent"], "%"), *NO_BENCHMARK)
    table.add(
        "Fill (cement / body volume) — PVP",
        fmt.mean(c["fill_percent_pvp"], "%"),
        *mean_benchmark_key("cement_fill_percent"),
    )

    products = Table("cement_products", "Cement by product", ["Product", "Levels", "Volume per level"])
    product_levels = fmt.count_family({product: row["levels"] for product, row in c["by_product"].items()})
    for product, row in c["by_product"].items():
        withheld = product_levels[product] == WITHHELD
        products.add(product, product_levels[product], WITHHELD if withheld else fmt.mean(row["volume"], "mL"))
    lots = Table("cement_lots", "Cement by lot", ["Product", "Lot", "Levels", "Volume per level"])
    lot_levels = fmt.count_family({"\x1f".join(key): row["levels"] for key, row in c["by_lot"].items()})
    for (product, lot), row in c["by_lot"].items():
        levels = lot_levels["\x1f".join((product, lot))]
        lots.add(product, lot, levels, WITHHELD if levels == WITHHELD else fmt.mean(row["volume"], "mL"))
    return [table, products, lots]


def leak_tables(m: Metrics, fmt: Formatter) -> list[Table]:
    lk = m.leaks
    table = Table("leaks", "Cement leaks", MEASURE_COLUMNS)
    for kind, text in fmt.family(lk["per_level"]).items():
        benchmark = rate_benchmark("leak_rate_level_low_volume_pvp") if kind == "PVP" else NO_BENCHMARK
        table.add(f"Levels with a leak — {TYPE_LABELS[kind]}", text, *benchmark)
    patient_benchmarks = {"PVP": "leak_rate_patient_pvp", "PKP": "leak_rate_patient_pkp"}
    for kind, text in fmt.family(lk["per_patient"]).items():
        benchmark = rate_benchmark(patient_benchmarks[kind]) if kind in patient_benchmarks else NO_BENCHMARK
        table.add(f"Patients with a leak — {TYPE_LABELS[kind]}", text, *benchmark)
    for kind, text in fmt.family(lk["per_procedure"]).items():
        table.add(f"Procedures with a leak — {TYPE_LABELS[kind]}", text, *NO_BENCHMARK)
    reference = bm.BENCHMARKS["leak_rate_level_low_volume_pvp"]
    for group, share in lk["location_group"].items():
        table.add(f"Levels with a leak — {LOCATION_LABELS[group].lower()} location", fmt.share(share), *NO_BENCHMARK)
    # 001's locations and sizes are of PVP levels: beside the registry's PVP levels and leaks only.
    for group, share in lk["location_group_pvp"].items():
        count = reference.breakdown["location"].get(group)
        benchmark = (
            (format_proportion(proportion(count, reference.denominator), suppress=False), str(reference.source))
            if count is not None
            else NO_BENCHMARK
        )
        table.add(f"PVP levels with a leak — {LOCATION_LABELS[group].lower()} location", fmt.share(share), *benchmark)
    table.add("Symptomatic leaks (of leaks)", fmt.share(lk["symptomatic"]), *NO_BENCHMARK)

    details = Table("leak_types", "Leaks by Yeom pathway and size grade", ["Category", "Leaks", "Benchmark", "Source"])
    for pathway, text in fmt.family(lk["pathway"]).items():
        details.add(f"Pathway {PATHWAY_LABELS.get(pathway, pathway)}", text, *NO_BENCHMARK)
    for grade, text in fmt.family(lk["size_grade"]).items():
        details.add(f"Size {grade}", text, *NO_BENCHMARK)
    for grade, text in fmt.family(lk["size_grade_pvp"]).items():
        count = reference.breakdown["size"].get(grade)
        benchmark = (
            (format_proportion(proportion(count, reference.count), suppress=False), str(reference.source))
            if count is not None
            else NO_BENCHMARK
        )
        details.add(f"PVP leaks — size {grade}", text, *benchmark)

    comparison = bm.BENCHMARKS["cement_volume_by_leak"]
    volume = Table(
        "leak_volume",
        "Cement volume per level, with vs without leak (Welch's t test)",
        ["Levels", "Cement volume", "Benchmark", "Source"],
        note=comparison.note,
    )
    source = str(comparison.source)
    for suffix, kind in (("", "All"), ("_pvp", "PVP")):
        # 001's comparison is of PVP levels: beside the PVP rows only.
        with_leak, without_leak = lk[f"volume_with_leak{suffix}"], lk[f"volume_without_leak{suffix}"]
        benchmarks = (
            (mean_benchmark(comparison.with_leak, 2), source),
            (mean_benchmark(comparison.without_leak, 2), source),
            (format_number(comparison.p_value, 3), source),
        )
        if kind == "All":
            benchmarks = (NO_BENCHMARK,) * 3
        volume.add(f"With a leak — {kind}", fmt.mean(with_leak, "mL", 2), *benchmarks[0])
        volume.add(f"Without a leak — {kind}", fmt.mean(without_leak, "mL", 2), *benchmarks[1])
        volume.add(
            f"p value — {kind}",
            fmt.p_value(lk[f"volume_test{suffix}"].p_value, with_leak.n, without_leak.n),
            *benchmarks[2],
        )
    return [table, details, volume]


def complication_tables(m: Metrics, fmt: Formatter) -> list[Table]:
    c = m.complications
    table = Table("complications", "Complications", MEASURE_COLUMNS)
    table.add("Complications recorded", fmt.count(c["complications"]), *NO_BENCHMARK)
    table.add(
        "Patients with a symptomatic complication",
        fmt.share(c["symptomatic"]),
        *rate_benchmark("symptomatic_complications"),
    )
    symptomatic = fmt.family(c["symptomatic_by_type"])
    for kind, key in (("PVP", "symptomatic_complications_pvp"), ("PKP", "symptomatic_complications_pkp")):
        table.add(f"Patients with a symptomatic complication — {kind}", symptomatic[kind], *rate_benchmark(key))
    table.add("Patients with a major complication (SIR severe or worse)", fmt.share(c["major"]), *NO_BENCHMARK)
    table.add("Patients with pulmonary cement embolism", fmt.share(c["pulmonary_embolism"]), *NO_BENCHMARK)
    table.add(
        "Patients with pulmonary cement embolism — PVP",
        fmt.share(c["pulmonary_embolism_pvp"]),
        *rate_benchmark("pulmonary_cement_embolism_pvp"),
    )
    table.add("Procedures with an infection", fmt.share(c["infection"]), *rate_benchmark("infection"))
    table.add(
        "Patients with a neurological complication",
        fmt.share(c["neurological"]),
        *rate_benchmark("neurological_complications"),
    )
    with_disc, without_disc = c["adjacent_fracture_with_disc_leak"], c["adjacent_fracture_without_disc_leak"]
    table.add("New adjacent-level fracture — procedures with an intradiscal leak", fmt.share(with_disc), *NO_BENCHMARK)
    table.add("New adjacent-level fracture — procedures without", fmt.share(without_disc), *NO_BENCHMARK)
    table.add(
        "Adjacent-level fracture, with vs without intradiscal leak: Fisher's exact p",
        fmt.p_value(c["adjacent_fracture_p"], with_disc.count, without_disc.count),
        *NO_BENCHMARK,
    )

    labels = dict(ComplicationType.choices)
    by_type = Table("complication_types", "Complications by type", ["Type", "Complications", "Procedures affected"])
    type_counts = fmt.count_family({code: row["complications"] for code, row in c["by_type"].items()})
    for code, row in c["by_type"].items():
        withheld = type_counts[code] == WITHHELD
        by_type.add(
            str(labels.get(code, code)), type_counts[code], WITHHELD if withheld else fmt.share(row["procedures"])
        )
    severity_labels = dict(SirSeverity.choices)
    by_severity = Table("complication_severity", "Complications by SIR severity", ["Severity", "Complications"])
    for severity, text in fmt.family(c["by_severity"]).items():
        by_severity.add(str(severity_labels[severity]), text)
    return [table, by_type, by_severity]


OUTCOME_COLUMNS = ["Group", "Event", "Score", "Change from baseline", "Clinically important improvement"]


def _outcome_table(
    key: str,
    title: str,
    measure: str,
    groups: dict[str, dict[str, OutcomeRow]],
    events: list[str],
    fmt: Formatter,
    *,
    group_labels: dict[str, str],
    benchmarks: bool,
) -> Table:
    columns = [*OUTCOME_COLUMNS, TRAJECTORY_BENCHMARK_COLUMN] if benchmarks else OUTCOME_COLUMNS
    table = Table(key, title, list(columns))
    if benchmarks:
        table.benchmark_source = str(bm.trajectory_for(measure, "PVP").source)
        table.benchmark_for = "Score"  # a pooled mean score, not a change or a responder share
    withheld = {event: fmt.withheld_outcome_groups(groups, event) for event in events}
    for group, rows in groups.items():
        trajectory = bm.trajectory_for(measure, group) if benchmarks else None
        for event in events:
            row = rows[event]
            hidden = group in withheld[event]
            cells = [
                group_labels.get(group, group),
                event_label(event),
                WITHHELD if hidden and row.score.n >= SMALL_CELL else fmt.mean(row.score, decimals=2),
                NOT_AVAILABLE
                if row.change is None
                else WITHHELD
                if hidden and row.change.n >= SMALL_CELL
                else fmt.mean(row.change, decimals=2),
                NOT_AVAILABLE if row.improved is None else WITHHELD if hidden else fmt.share(row.improved),
            ]
            if benchmarks:
                point = trajectory.for_event(event) if trajectory else None
                text = f"{format_number(point.mean, 2)} (n = {point.n})" if point else NOT_AVAILABLE
                cells.append(FigureText(text, n=point.n, value=point.mean) if point else text)
            table.add(*cells)
    return table


def outcome_tables(m: Metrics, fmt: Formatter) -> list[Table]:
    o = m.outcomes
    indication_labels = {code: str(label) for code, label in Indication.choices}
    tables = []
    for measure in ("vas", "odi"):
        tables.append(
            _outcome_table(
                f"{measure}_by_type",
                f"{MEASURE_LABELS[measure]} by procedure type",
                measure,
                o[measure]["by_type"],
                o["events"],
                fmt,
                group_labels=TYPE_LABELS,
                benchmarks=True,
            )
        )
        tables.append(
            _outcome_table(
                f"{measure}_by_indication",
                f"{MEASURE_LABELS[measure]} by indication",
                measure,
                o[measure]["by_indication"],
                o["events"],
                fmt,
                group_labels=indication_labels,
                benchmarks=False,
            )
        )
    tables[0].note = (
        "Score: mean ± SD (n, 95 % t interval). Change: follow-up minus baseline, paired by procedure "
        "(negative = better). Clinically important: VAS down ≥ 2 points or ≥ 30 %; ODI down ≥ 10 points."
    )
    return tables


def follow_up_table(m: Metrics, fmt: Formatter) -> Table:
    table = Table(
        "follow_up",
        "Follow-up",
        [
            "Event",
            "Planned",
            "Invited",
            "Completed",
            "Missed",
            "Censored (death / withdrawal)",
            "Not yet due",
            "Response rate",
        ],
        note="Response rate = completed / (completed + missed); censored events are not non-response.",
    )
    for code, row in m.follow_up.items():
        # Completed + missed + censored + not yet due = planned: protected as one breakdown.
        parts = fmt.count_family({key: row[key] for key in ("completed", "missed", "censored", "pending")})
        rate = WITHHELD if WITHHELD in (parts["completed"], parts["missed"]) else fmt.share(row["response_rate"])
        table.add(
            event_label(code),
            fmt.count(row["planned"]),
            fmt.count(row["invited"]),
            parts["completed"],
            parts["missed"],
            parts["censored"],
            parts["pending"],
            rate,
        )
    return table


def bone_health_table(m: Metrics, fmt: Formatter) -> Table:
    b = m.bone_health
    table = Table("bone_health", "Bone health", ["Measure", "Value"])
    for kind in ("dxa", "osteoporosis_therapy"):
        label = BONE_HEALTH_LABELS[kind]
        table.add(f"{label} — done", fmt.share(b[kind]["done"]))
        table.add(f"{label} — done by the due date", fmt.share(b[kind]["done_by_due_date"]))
        table.add(f"{label} — declined", fmt.share(b[kind]["declined"]))
    for code, share in b["therapy_reported"].items():
        table.add(f"Patients taking osteoporosis therapy at {event_label(code)} (survey)", fmt.share(share))
    return table


def completeness_table(m: Metrics, fmt: Formatter) -> Table:
    table = Table("completeness", "Data completeness", ["Field", "Recorded"])
    for key, share in m.completeness.items():
        table.add(COMPLETENESS_LABELS[key], fmt.share(share))
    return table


def build_tables(m: Metrics, *, suppress: bool) -> list[Table]:
    fmt = Formatter(suppress=suppress)
    return [
        *activity_tables(m, fmt),
        *cement_tables(m, fmt),
        *leak_tables(m, fmt),
        *complication_tables(m, fmt),
        *outcome_tables(m, fmt),
        follow_up_table(m, fmt),
        bone_health_table(m, fmt),
        completeness_table(m, fmt),
    ]


def procedure_type_label(code: str) -> str:
    return TYPE_LABELS.get(code, dict(ProcedureType.choices).get(code, code))


def iter_cells(tables: Iterable[Table]) -> Iterable[str]:
    for table in tables:
        yield table.title
        yield from table.columns
        for row in table.rows:
            yield from row
