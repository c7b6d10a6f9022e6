"""The counts of many releases of one cohort at once, for the disclosure guard (issue #10).

``reports.disclosure`` compares a report's cumulative figures with those of each release a
reviewer could subtract, and reads of a release only its counts, denominators and numbers of
values. ``compute_all`` gives them one metric set per release, tens of milliseconds of pandas
overhead each, and a site has a release for every quarter it has been in the registry. Here each
figure is one ``np.bincount`` over the cohort's rows keyed by release, so forty quarters cost
little more than one.

The counting rules are ``reports.metrics``'s, figure by figure, in the same order;
``tests/reports/test_release_counts.py`` proves every count, denominator, number of values and
group equal to ``compute_all``'s on cohorts that exercise each figure. A figure added there must
be added here: that test fails until it is.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from registry.procedures.models import ComplicationType, SirSeverity, VertebralLevel
from reports.metrics import (
    BONE_HEALTH_KINDS,
    COMPLETED,
    EVENT_ORDER,
    INFECTION_PREFIX,
    LOCATION_GROUPS,
    MEASURE_COLUMNS,
    MISSED,
    NEUROLOGICAL_PREFIX,
    PATHWAYS,
    PROCEDURE_TYPES,
    SIZE_GRADES,
    Frames,
    Metrics,
    OutcomeRow,
    classify_events,
    recorded,
)
from reports.stats import MeanSummary, Proportion, count_summary, proportion


def _share(count, denominator) -> Proportion:
    return _proportion(int(count), int(denominator))


def _n(count) -> MeanSummary:
    return _count_summary(int(count))


# A release's figures repeat a few small counts (0 of 0 above all); the figures are immutable.
_proportion = lru_cache(maxsize=4096)(proportion)
_count_summary = lru_cache(maxsize=4096)(count_summary)


class _Tally:
    """The rows of one frame, each in one release (0 .. ``releases`` - 1) or in none (``releases``):
    per-release counts of rows, of distinct ids and sums, as arrays indexed by release (and, after
    ``split``, by group)."""

    def __init__(self, release: np.ndarray, releases: int, shape: tuple[int, ...] | None = None):
        self.release, self.releases = release, releases
        self.shape = shape or (releases,)

    def _per_release(self, release: np.ndarray, weights=None) -> np.ndarray:
        counts = np.bincount(release, weights=weights, minlength=self.releases + 1)[: self.releases]
        return counts.reshape(self.shape)

    def _rows(self, mask) -> np.ndarray:
        return self.release if mask is None else self.release[np.asarray(mask, dtype=bool)]

    def rows(self, mask=None) -> np.ndarray:
        return self._per_release(self._rows(mask))

    def total(self, values: pd.Series) -> np.ndarray:
        """The sum of ``values``, missing ones skipped (pandas' ``sum``)."""
        return self._per_release(self.release, np.nan_to_num(values.to_numpy(dtype=float), nan=0.0))

    def distinct(self, ids: pd.Series, mask=None) -> np.ndarray:
        """How many different ``ids`` (non-negative integers) each release has (``nunique``)."""
        ids = ids.to_numpy(dtype=np.int64)
        release = self._rows(mask)
        if mask is not None:
            ids = ids[np.asarray(mask, dtype=bool)]
        span = int(ids.max()) + 1 if len(ids) else 1
        return self._per_release(np.unique(release * span + ids) // span)

    def split(self, *columns: pd.Series) -> tuple[dict, _Tally]:
        """The same rows in one group per release and value of ``columns`` (of one column: every
        category of a categorical, every value present otherwise; of several: the tuples of values
        present): each value's position in the group axis, and the tally whose arrays have one row
        per release and one column per value. Rows with a missing value are in none, as in pandas."""
        coded = [_codes(column) for column in columns]
        missing = np.zeros(len(self.release), dtype=bool)
        for codes, _ in coded:
            missing |= codes < 0
        if len(coded) == 1:
            code, labels = coded[0]
        else:
            sizes = tuple(max(len(uniques), 1) for _, uniques in coded)
            combined = np.ravel_multi_index(tuple(np.where(missing, 0, codes) for codes, _ in coded), sizes)
            observed, inverse = np.unique(combined[~missing], return_inverse=True)
            code = np.zeros(len(combined), dtype=np.int64)
            code[~missing] = inverse
            positions = np.unravel_index(observed, sizes)
            labels = list(
                zip(
                    *(np.asarray(uniques, dtype=object)[p] for (_, uniques), p in zip(coded, positions, strict=True)),
                    strict=True,
                )
            )
        width = len(labels)
        bins = self.releases * width
        grouped = np.where(missing | (self.release == self.releases), bins, self.release * width + code)
        return {label: position for position, label in enumerate(labels)}, _Tally(grouped, bins, (self.releases, width))


def _codes(column: pd.Series) -> tuple[np.ndarray, list]:
    """Each row's value as a position in the column's values (-1: missing), and the values."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(dtype=np.int64), list(column.cat.categories)
    codes, uniques = pd.factorize(column)
    return codes.astype(np.int64), list(uniques)


def _present(groups: dict, counts: np.ndarray) -> list[tuple]:
    """(value, position) of the values of ``groups`` (a ``split``'s) whose count in ``counts``
    (one release's) is not 0, as pandas' observed groups."""
    labels = list(groups)
    return [(labels[g], g) for g in np.flatnonzero(counts)]


def _in_release(frame: pd.DataFrame, procedure_ids: pd.Index, release: np.ndarray, releases: int) -> np.ndarray:
    # A row whose procedure is not in the cohort (get_indexer's -1) is in none.
    return np.append(release, releases)[procedure_ids.get_indexer(frame["procedure_id"])]


def release_counts(f: Frames, *, release: np.ndarray, releases: int) -> list[Metrics]:
    """For each release ``r`` in 0 .. ``releases`` - 1, the figures of ``f`` restricted to the
    procedures with ``release == r`` (``releases``: in none), as ``compute_all`` would give them,
    less what the guard does not read: summaries of values carry their n only, tests are None."""
    procedures, levels, leak_rows, comps, answers = f.procedures, f.levels, f.leaks, f.complications, f.answers
    release = np.asarray(release, dtype=np.int64)
    ids = pd.Index(procedures["procedure_id"])
    per = {
        name: _Tally(_in_release(frame, ids, release, releases), releases)
        for name, frame in (
            ("levels", levels),
            ("leaks", leak_rows),
            ("complications", comps),
            ("answers", answers),
            ("events", f.events),
            ("bone_actions", f.bone_actions),
        )
    }
    tallies = {
        "procedures": _Tally(release, releases),
        **per,
        "kinds": {
            name: _kinds(frame)
            for name, frame in (("procedures", procedures), ("levels", levels), ("complications", comps))
        },
    }
    figures = {
        "activity": _activity(f, tallies),
        "cement": _cement(f, tallies),
        "leaks": _leaks(f, tallies),
        "complications": _complications(f, tallies),
        "outcomes": _outcomes(f, tallies),
        "follow_up": _follow_up(f, tallies),
        "bone_health": _bone_health(f, tallies),
        "completeness": _completeness(f, tallies),
    }
    return [Metrics(**{name: build(r) for name, build in figures.items()}) for r in range(releases)]


def _kinds(frame: pd.DataFrame) -> dict[str, np.ndarray | None]:
    """ "all" and each procedure type, as row masks (None: every row)."""
    codes, types = pd.factorize(frame["procedure_type"])
    return {"all": None, **{kind: codes == (types.get_loc(kind) if kind in types else -2) for kind in PROCEDURE_TYPES}}


def _and(mask: np.ndarray | None, other) -> np.ndarray:
    other = np.asarray(other, dtype=bool)
    return other if mask is None else mask & other


def _activity(f: Frames, t: dict):
    procedures, levels = f.procedures, f.levels
    P, L = t["procedures"], t["levels"]
    n_procedures, n_levels = P.rows(), L.rows()
    patient = procedures["patient_id"]
    patients = P.distinct(patient)
    # Each patient's first row in its release, as ``drop_duplicates`` keeps it.
    span = int(patient.max()) + 1 if len(patient) else 1
    _, first = np.unique(P.release * span + patient.to_numpy(dtype=np.int64), return_index=True)
    first_rows = np.zeros(len(procedures), dtype=bool)
    first_rows[first] = True
    female = P.rows(first_rows & (procedures["sex"] == "female").to_numpy())
    kinds, level_kinds = t["kinds"]["procedures"], t["kinds"]["levels"]
    types = {kind: P.rows(kinds[kind]) for kind in PROCEDURE_TYPES}
    patients_of = {kind: P.distinct(patient, mask) for kind, mask in kinds.items()}
    indications, by_indication = P.split(procedures["indication"])
    indication_counts = by_indication.rows()
    # ``value_counts`` lists every category of a categorical, present or not.
    every_indication = isinstance(procedures["indication"].dtype, pd.CategoricalDtype)
    level_groups, by_level = L.split(levels["level"])
    level_counts = by_level.rows()
    pvp_level = level_kinds["PVP"]
    pvp_level_counts = by_level.rows(pvp_level)
    levels_pvp = L.rows(pvp_level)
    ages = P.rows(procedures["age"].notna())

    def build(r: int) -> dict:
        return {
            "patients": int(patients[r]),
            "procedures": int(n_procedures[r]),
            "levels": int(n_levels[r]),
            "levels_pvp": int(levels_pvp[r]),
            "by_type": {kind: _share(types[kind][r], n_procedures[r]) for kind in PROCEDURE_TYPES},
            "by_indication": {
                indication: _share(indication_counts[r, g], n_procedures[r])
                for indication, g in indications.items()
                if every_indication or indication_counts[r, g]
            },
            "female": _share(female[r], patients[r]),
            "age": _n(ages[r]),
            "levels_per_patient": {kind: _n(patients_of[kind][r]) for kind in kinds},
            "level_distribution": {
                VertebralLevel(level).name: _share(level_counts[r, g], n_levels[r])
                for level, g in _present(level_groups, level_counts[r])
            },
            "level_distribution_pvp": {
                VertebralLevel(level).name: _share(pvp_level_counts[r, g], levels_pvp[r])
                for level, g in _present(level_groups, pvp_level_counts[r])
            },
        }

    return build


def _cement(f: Frames, t: dict):
    levels = f.levels
    L = t["levels"]
    kinds = t["kinds"]["levels"]
    pvp = kinds["PVP"]
    volume = levels["cement_volume_ml"].notna().to_numpy()
    body = levels["body_volume_cc"].notna().to_numpy()
    fill = levels["fill_percent"].notna().to_numpy()
    volumes = {kind: L.rows(_and(mask, volume)) for kind, mask in kinds.items()}
    bodies, fills, bodies_pvp, fills_pvp = L.rows(body), L.rows(fill), L.rows(pvp & body), L.rows(pvp & fill)
    products, by_product = L.split(levels["product"])
    product_rows = by_product.rows()
    product_volumes = by_product.rows(volume)
    lots, by_lot = L.split(levels["product"], levels["lot"])
    lot_rows = by_lot.rows()
    lot_volumes = by_lot.rows(volume)

    def build(r: int) -> dict:
        return {
            "volume": {kind: _n(volumes[kind][r]) for kind in kinds},
            "body_volume": _n(bodies[r]),
            "fill_percent": _n(fills[r]),
            "body_volume_pvp": _n(bodies_pvp[r]),
            "fill_percent_pvp": _n(fills_pvp[r]),
            "by_product": {
                product: {"levels": int(product_volumes[r, g]), "volume": _n(product_volumes[r, g])}
                for product, g in sorted(_present(products, product_rows[r]))
            },
            "by_lot": {
                lot: {"levels": int(lot_volumes[r, g]), "volume": _n(lot_volumes[r, g])}
                for lot, g in sorted(_present(lots, lot_rows[r]))
            },
        }

    return build


def _leaks(f: Frames, t: dict):
    levels, leak_rows, procedures = f.levels, f.leaks, f.procedures
    P, L, K = t["procedures"], t["levels"], t["leaks"]
    level_kinds, procedure_kinds = t["kinds"]["levels"], t["kinds"]["procedures"]
    has_leak = levels["has_leak"].to_numpy(dtype=bool)
    volume = levels["cement_volume_ml"].notna().to_numpy()
    n_levels = {kind: L.rows(mask) for kind, mask in level_kinds.items()}
    leaking_levels = {kind: L.rows(_and(mask, has_leak)) for kind, mask in level_kinds.items()}
    leaking_patients = {
        kind: L.distinct(levels["patient_id"], _and(mask, has_leak)) for kind, mask in level_kinds.items()
    }
    patients = {kind: P.distinct(procedures["patient_id"], mask) for kind, mask in procedure_kinds.items()}
    leaking_procedures = {
        kind: L.distinct(levels["procedure_id"], _and(mask, has_leak)) for kind, mask in level_kinds.items()
    }
    n_procedures = {kind: P.rows(mask) for kind, mask in procedure_kinds.items()}
    n_leaks = K.rows()
    pvp_leak = (leak_rows["procedure_type"] == "PVP").to_numpy()
    pvp_level = level_kinds["PVP"]
    groups, by_group = K.split(leak_rows["location_group"])
    levels_by_group = by_group.distinct(leak_rows["level_id"])
    pvp_by_group = by_group.distinct(leak_rows["level_id"], pvp_leak)
    pathways, by_pathway = K.split(leak_rows["pathway"])
    pathway_counts = by_pathway.rows()
    sizes, by_size = K.split(leak_rows["size_grade"])
    size_counts = by_size.rows()
    pvp_sizes = by_size.rows(pvp_leak)
    n_pvp_leaks = K.rows(pvp_leak)
    symptomatic = K.rows(leak_rows["symptomatic"].to_numpy(dtype=bool))
    with_leak, without_leak = L.rows(has_leak & volume), L.rows(~has_leak & volume)
    pvp_with_leak, pvp_without_leak = L.rows(pvp_level & has_leak & volume), L.rows(pvp_level & ~has_leak & volume)

    def get(counts: np.ndarray, positions: dict, r: int, value: str) -> int:
        return int(counts[r, positions[value]]) if value in positions else 0

    def build(r: int) -> dict:
        return {
            "location_group_pvp": {
                group: _share(get(pvp_by_group, groups, r, group), n_levels["PVP"][r]) for group in LOCATION_GROUPS
            },
            "size_grade_pvp": {
                **{grade: _share(get(pvp_sizes, sizes, r, grade), n_pvp_leaks[r]) for grade in SIZE_GRADES},
                "not recorded": _share(get(pvp_sizes, sizes, r, ""), n_pvp_leaks[r]),
            },
            "volume_with_leak_pvp": _n(pvp_with_leak[r]),
            "volume_without_leak_pvp": _n(pvp_without_leak[r]),
            "volume_test_pvp": None,
            "per_level": {kind: _share(leaking_levels[kind][r], n_levels[kind][r]) for kind in level_kinds},
            "per_patient": {kind: _share(leaking_patients[kind][r], patients[kind][r]) for kind in level_kinds},
            "per_procedure": {kind: _share(leaking_procedures[kind][r], n_procedures[kind][r]) for kind in level_kinds},
            "location_group": {
                group: _share(get(levels_by_group, groups, r, group), n_levels["all"][r]) for group in LOCATION_GROUPS
            },
            "pathway": {
                **{pathway: _share(get(pathway_counts, pathways, r, pathway), n_leaks[r]) for pathway in PATHWAYS},
                "not recorded": _share(get(pathway_counts, pathways, r, ""), n_leaks[r]),
            },
            "size_grade": {
                **{grade: _share(get(size_counts, sizes, r, grade), n_leaks[r]) for grade in SIZE_GRADES},
                "not recorded": _share(get(size_counts, sizes, r, ""), n_leaks[r]),
            },
            "symptomatic": _share(symptomatic[r], n_leaks[r]),
            "leaks": int(n_leaks[r]),
            "volume_with_leak": _n(with_leak[r]),
            "volume_without_leak": _n(without_leak[r]),
            "volume_test": None,
        }

    return build


def _complications(f: Frames, t: dict):
    comps, procedures, levels = f.complications, f.procedures, f.levels
    P, C = t["procedures"], t["complications"]
    patient, comp_patient = procedures["patient_id"], comps["patient_id"]
    n_patients, n_procedures, n_comps = P.distinct(patient), P.rows(), C.rows()
    kind = comps["complication_type"]
    comp_kinds, procedure_kinds = t["kinds"]["complications"], t["kinds"]["procedures"]
    symptomatic = comps["symptomatic"].to_numpy(dtype=bool)

    def patients_with(mask) -> np.ndarray:
        return C.distinct(comp_patient, mask)

    types, by_type = C.split(kind)
    type_rows = by_type.rows()
    type_procedures = by_type.distinct(comps["procedure_id"])
    severities, by_severity = C.split(comps["severity"])
    severity_counts = by_severity.rows()
    symptomatic_by_type = {
        k: (C.distinct(comp_patient, symptomatic & comp_kinds[k]), P.distinct(patient, procedure_kinds[k]))
        for k in PROCEDURE_TYPES
    }
    pce = (kind == ComplicationType.PCE).to_numpy()
    figures = {
        "symptomatic": patients_with(symptomatic),
        "major": patients_with(comps["severity"].isin(SirSeverity.major())),
        "pulmonary_embolism": patients_with(pce),
        "neurological": patients_with(kind.str.startswith(NEUROLOGICAL_PREFIX)),
    }
    pce_pvp = (C.distinct(comp_patient, pce & comp_kinds["PVP"]), P.distinct(patient, procedure_kinds["PVP"]))
    infected = C.distinct(comps["procedure_id"], kind.str.startswith(INFECTION_PREFIX))
    procedure_id = procedures["procedure_id"]
    disc = procedure_id.isin(levels.loc[levels["has_disc_leak"], "procedure_id"]).to_numpy()
    adjacent = procedure_id.isin(comps.loc[kind == ComplicationType.ADJACENT_FRACTURE, "procedure_id"]).to_numpy()
    with_disc = (P.rows(disc & adjacent), P.rows(disc))
    without_disc = (P.rows(~disc & adjacent), P.rows(~disc))

    def build(r: int) -> dict:
        return {
            "complications": int(n_comps[r]),
            "by_type": {
                code: {
                    "complications": int(type_rows[r, g]),
                    "procedures": _share(type_procedures[r, g], n_procedures[r]),
                }
                for code, g in _present(types, type_rows[r])
            },
            "by_severity": {
                severity: _share(severity_counts[r, severities[severity]] if severity in severities else 0, n_comps[r])
                for severity in SirSeverity.values
            },
            "symptomatic": _share(figures["symptomatic"][r], n_patients[r]),
            "symptomatic_by_type": {k: _share(hit[r], among[r]) for k, (hit, among) in symptomatic_by_type.items()},
            "major": _share(figures["major"][r], n_patients[r]),
            "pulmonary_embolism": _share(figures["pulmonary_embolism"][r], n_patients[r]),
            "pulmonary_embolism_pvp": _share(pce_pvp[0][r], pce_pvp[1][r]),
            "infection": _share(infected[r], n_procedures[r]),
            "neurological": _share(figures["neurological"][r], n_patients[r]),
            "adjacent_fracture_with_disc_leak": _share(with_disc[0][r], with_disc[1][r]),
            "adjacent_fracture_without_disc_leak": _share(without_disc[0][r], without_disc[1][r]),
            "adjacent_fracture_p": None,
        }

    return build


def _outcomes(f: Frames, t: dict):
    answers, procedures = f.answers, f.procedures
    P, A = t["procedures"], t["answers"]
    codes, by_code = A.split(answers["event_code"])
    code_rows = by_code.rows()
    indications, by_indication = P.split(procedures["indication"])
    indication_rows = by_indication.rows()
    groupings = {
        "all": A.split(answers["event_code"]),
        "type": A.split(answers["procedure_type"], answers["event_code"]),
        "indication": A.split(answers["indication"], answers["event_code"]),
    }
    counted = {}
    for measure, column in MEASURE_COLUMNS.items():
        score = answers[column]
        change = (score - answers[f"{measure}_baseline"]).notna().to_numpy()
        flags = answers[f"{measure}_improved"]
        for grouping, (groups, tally) in groupings.items():
            counted[measure, grouping] = (
                groups,
                tally.rows(score.notna().to_numpy()),
                tally.rows(change),
                tally.total(flags),
                tally.rows(flags.notna().to_numpy()),
            )

    def row(measure: str, grouping: str, key, r: int) -> OutcomeRow:
        groups, scores, changes, hits, pairs = counted[measure, grouping]
        g = groups.get(key)

        def n(counts: np.ndarray) -> int:
            return 0 if g is None else counts[r, g]

        if (key[-1] if isinstance(key, tuple) else key) == "baseline":
            return OutcomeRow(score=_n(n(scores)), change=None, improved=None)
        return OutcomeRow(score=_n(n(scores)), change=_n(n(changes)), improved=_share(n(hits), n(pairs)))

    def build(r: int) -> dict:
        present = {code for code, _ in _present(codes, code_rows[r])} - {""}
        events = [*EVENT_ORDER, *sorted(present - set(EVENT_ORDER))]
        present_indications = sorted(indication for indication, _ in _present(indications, indication_rows[r]))
        result: dict = {"events": events}
        for measure in MEASURE_COLUMNS:
            by_type = {"all": {event: row(measure, "all", event, r) for event in events}}
            for kind in PROCEDURE_TYPES:
                by_type[kind] = {event: row(measure, "type", (kind, event), r) for event in events}
            by_indication = {
                indication: {event: row(measure, "indication", (indication, event), r) for event in events}
                for indication in present_indications
            }
            result[measure] = {"by_type": by_type, "by_indication": by_indication}
        return result

    return build


def _follow_up(f: Frames, t: dict):
    classified = classify_events(f)
    # ``classify_events`` keeps the events' positions as its index.
    in_release = t["events"].release[classified.index.to_numpy()]
    E = _Tally(in_release, t["events"].releases)
    codes, by_code = E.split(classified["event_code"])
    planned = by_code.rows()
    invited = by_code.rows(classified["invited"].to_numpy(dtype=bool))
    outcomes, by_outcome = E.split(classified["event_code"], classified["outcome"])
    outcome_counts = by_outcome.rows()

    def build(r: int) -> dict:
        present = {code for code, _ in _present(codes, planned[r])}
        ordered = [code for code in EVENT_ORDER if code in present] + sorted(present - set(EVENT_ORDER))
        rows = {}
        for code in ordered:

            def count(outcome: str, code=code) -> int:
                g = outcomes.get((code, outcome))
                return 0 if g is None else int(outcome_counts[r, g])

            completed, missed = count(COMPLETED), count(MISSED)
            rows[code] = {
                "planned": int(planned[r, codes[code]]),
                "invited": int(invited[r, codes[code]]),
                "completed": completed,
                "missed": missed,
                "censored": count("censored"),
                "pending": count("pending"),
                "response_rate": _share(completed, completed + missed),
            }
        return rows

    return build


def _bone_health(f: Frames, t: dict):
    actions, answers = f.bone_actions, f.answers
    B, A = t["bone_actions"], t["answers"]
    as_of = pd.Timestamp(f.as_of)
    status = actions["status"]
    counts = {}
    for kind in BONE_HEALTH_KINDS:
        group = ((actions["kind"] == kind) & (status != "not_applicable")).to_numpy()
        done = (status == "done").to_numpy()
        due = group & ((actions["due_on"] <= as_of).to_numpy() | done)
        on_time = due & done & (actions["done_on"] <= actions["due_on"]).to_numpy()
        declined = due & (status == "declined").to_numpy()
        counts[kind] = (B.rows(due), B.rows(due & done), B.rows(on_time), B.rows(declined))
    event_code, therapy = answers["event_code"], answers["osteoporosis_therapy_taken"]
    therapy_counts = {
        code: (
            A.rows(((therapy == 1) & (event_code == code)).to_numpy()),
            A.rows((therapy.notna() & (event_code == code)).to_numpy()),
        )
        for code in ("m3", "m12")
    }

    def build(r: int) -> dict:
        result = {}
        for kind, (due, done, on_time, declined) in counts.items():
            result[kind] = {
                "done": _share(done[r], due[r]),
                "done_by_due_date": _share(on_time[r], due[r]),
                "declined": _share(declined[r], due[r]),
            }
        result["therapy_reported"] = {
            code: _share(taking[r], reported[r]) for code, (taking, reported) in therapy_counts.items()
        }
        return result

    return build


def _completeness(f: Frames, t: dict):
    procedures, levels, leak_rows = f.procedures, f.levels, f.leaks
    P, L, K = t["procedures"], t["levels"], t["leaks"]
    osteoporotic = (procedures["indication"] == "osteoporotic").to_numpy()
    baseline = f.answers[f.answers["event_code"] == "baseline"]

    def baseline_has(column: str) -> np.ndarray:
        return procedures["procedure_id"].isin(baseline.loc[baseline[column].notna(), "procedure_id"]).to_numpy()

    recorded_in = {
        "fracture_age": (
            P,
            (recorded(procedures["fracture_age"]) | recorded(procedures["fracture_age_days"])).to_numpy(),
        ),
        "mri_oedema": (P, recorded(procedures["mri_oedema"]).to_numpy()),
        "fluoroscopy_seconds": (P, recorded(procedures["fluoroscopy_seconds"]).to_numpy()),
        "dose_area_product": (P, recorded(procedures["dose_area_product"]).to_numpy()),
        "baseline_vas": (P, baseline_has("vas")),
        "baseline_odi": (P, baseline_has("odi_percent")),
        "body_volume": (L, recorded(levels["body_volume_cc"]).to_numpy()),
        "viscosity": (L, recorded(levels["viscosity"]).to_numpy()),
        "needle_gauge": (L, recorded(levels["needle_gauge"]).to_numpy()),
        "leak_pathway": (K, recorded(leak_rows["pathway"]).to_numpy()),
        "leak_size": (K, recorded(leak_rows["size_grade"]).to_numpy()),
    }
    counts = {name: (tally.rows(mask), tally.rows()) for name, (tally, mask) in recorded_in.items()}
    counts["t_score_osteoporotic"] = (
        P.rows(osteoporotic & recorded(procedures["lowest_t_score"]).to_numpy()),
        P.rows(osteoporotic),
    )
    order = (
        "fracture_age", "mri_oedema", "fluoroscopy_seconds", "dose_area_product", "baseline_vas", "baseline_odi",
        "t_score_osteoporotic", "body_volume", "viscosity", "needle_gauge", "leak_pathway", "leak_size",
    )  # fmt: skip

    def build(r: int) -> dict:
        return {name: _share(counts[name][0][r], counts[name][1][r]) for name in order}

    return build
