"""The registry's figures as pure functions over pandas frames (STYLE.md item 6).

``reports.loaders`` fills a ``Frames`` with a handful of set-based queries; everything here
works on those frames only, with no ORM, so the dashboard, the quarterly reports and the
tests compute every figure the same way. Results are ``reports.stats`` objects
(``Proportion`` with its Wilson interval, ``MeanSummary`` with its t interval);
``reports.tables`` turns them into text beside the literature benchmarks.

Units, chosen to match the benchmark each figure is compared with (DATA_DICTIONARY.md §5):
leaks per level (001) and per patient (004); symptomatic, major, pulmonary embolism and
neurological complications per patient (004, 000); infection per procedure ("cases", 000);
adjacent-level fracture per procedure, split by whether any level of the procedure leaked
into a disc.

Follow-up: an event that was not completed because the patient died or withdrew consent
while its window was still open, or before it opened, is *censored* — it leaves the
response-rate denominator instead of counting as non-response; a window that had closed
unanswered before the death or withdrawal stays *missed*. Superseded events, and events
cancelled for other causes (``CancelCause``: re-planned, opted out...), are not counted at
all. Events whose window closes after ``as_of`` are "not yet due". Statuses, answers, deaths
and withdrawals are those known on ``as_of`` (``reports.loaders``): a report of a past
quarter built late shows what was known at the quarter's end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from registry.followup.models import CancelCause
from registry.followup.scoring import odi_clinically_important, vas_clinically_important
from registry.procedures.models import ComplicationType, LeakLocation, SirSeverity, VertebralLevel
from reports.stats import (
    MeanSummary,
    Proportion,
    mean_summary,
    proportion,
    summary_from_aggregates,
    summary_from_sums,
    to_units,
    welch_t_test,
)

PROCEDURE_TYPES = ("PVP", "PKP", "OTHER")
EVENT_ORDER = ("baseline", "early", "m3", "m12")
LOCATION_GROUPS = ("disc", "vascular", "posterior", "other")
PATHWAYS = ("B", "S", "C")
SIZE_GRADES = ("minor", "moderate", "massive")
BONE_HEALTH_KINDS = ("dxa", "osteoporosis_therapy")
INFECTION_PREFIX = "infection_"
NEUROLOGICAL_PREFIX = "neuro_"
# Follow-up statuses (registry.followup.models.FollowUpEventStatus).
COMPLETED, MISSED, CANCELLED, SUPERSEDED = "completed", "missed", "cancelled", "superseded"
CENSORING_CAUSES = tuple(str(cause) for cause in CancelCause.censoring())

# Column -> dtype of every frame; ``make_frames`` coerces to these so that frames built by the
# loaders and frames built by hand in tests behave the same. "date" columns are datetime64;
# "tristate" is a yes / no / unanswered boolean held as 1.0 / 0.0 / NaN.
SCHEMA: dict[str, dict[str, str]] = {
    "procedures": {
        "procedure_id": "int64",
        "patient_id": "int64",
        "site_id": "int64",
        "performed_on": "date",
        "procedure_type": "str",
        "indication": "str",
        "sex": "str",
        "date_of_birth": "date",
        "consent_status": "str",
        "deceased_on": "date",
        "withdrawn_on": "date",
        # The same as recorded by the frames' ``known_since`` (the loader's ``since``), where the
        # patient's record changed after it (``changed_since``); else the values above.
        "changed_since": "bool",
        "deceased_on_since": "date",
        "withdrawn_on_since": "date",
        "fracture_age": "str",
        "fracture_age_days": "float",
        "mri_oedema": "str",
        "fluoroscopy_seconds": "float",
        "dose_area_product": "float",
        "lowest_t_score": "float",
        "last_dxa_on": "date",
    },
    "levels": {
        "level_id": "int64",
        "procedure_id": "int64",
        "level": "int64",
        "cement_volume_ml": "float",
        "body_volume_cc": "float",
        "product": "str",
        "lot": "str",
        "viscosity": "str",
        "needle_gauge": "float",
    },
    "leaks": {
        "leak_id": "int64",
        "level_id": "int64",
        "location": "str",
        "pathway": "str",
        "size_grade": "str",
        "symptomatic": "bool",
    },
    "complications": {
        "complication_id": "int64",
        "procedure_id": "int64",
        "complication_type": "str",
        "severity": "str",
        "symptomatic": "bool",
    },
    "responses": {
        "response_id": "int64",
        "procedure_id": "int64",
        "event_code": "str",
        "collected_on": "date",
        "vas": "float",
        "odi_percent": "float",
        # The sum of the ODI section answers and how many were answered: the exact score.
        "odi_points": "float",
        "odi_answered": "float",
        "osteoporosis_therapy_taken": "tristate",
        # The day the answer was both collected and submitted (its collection day if not given).
        "known_on": "date",
    },
    "events": {
        "event_id": "int64",
        "procedure_id": "int64",
        "event_code": "str",
        "status": "str",
        "status_changed_on": "date",
        "invite_on": "date",
        "window_closes_on": "date",
        "cancel_cause": "str",
    },
    "bone_actions": {
        "action_id": "int64",
        "procedure_id": "int64",
        "kind": "str",
        "status": "str",
        "due_on": "date",
        "done_on": "date",
    },
    "sites": {"site_id": "int64", "code": "str"},
}


# Each measure times its scale is a whole number (reports.stats, "Exact means"): VAS and cement
# volumes have one decimal; an ODI percent is 100 x points / (5 x answered) = 20 x points / answered
# with 9 or 10 sections answered, a multiple of 1/90.
VOLUME_SCALE = 10
MEASURE_SCALES = {"vas": 10, "odi": 90}


def exact_odi(points: int, answered: int) -> Fraction:
    """One response's ODI percent, exactly: 100 x points / (5 x sections answered)."""
    return Fraction(20 * points, answered)


def exact_odi_percent(responses: pd.DataFrame) -> pd.Series:
    """The ODI score from its answers (20 x points / answered), not the stored one-decimal
    percent; the stored percent where the answers are not there (scores entered as a percent)."""
    answered = responses["odi_answered"]
    exact = 20 * responses["odi_points"] / answered.where(answered > 0)
    return exact.where(responses["odi_percent"].notna() & exact.notna(), responses["odi_percent"])


def _as_tristate(column: pd.Series) -> pd.Series:
    """Yes / no / unanswered as 1.0 / 0.0 / NaN (True, False, None or NaN in)."""
    truthy = column.map({True: 1.0, False: 0.0})
    return truthy.astype("float64")


# Short vocabularies held as pandas categoricals: grouping and comparing hundreds of thousands
# of rows then works on small integer codes instead of Python strings.
CATEGORICAL = {
    "procedure_type", "indication", "sex", "consent_status", "event_code", "status", "kind",
    "location", "pathway", "size_grade", "complication_type", "severity",
}  # fmt: skip


def _coerce(frame: pd.DataFrame | None, columns: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(columns=list(columns)) if frame is None else frame
    data = {}
    for name, kind in columns.items():
        column = frame[name] if name in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        if kind == "date":
            data[name] = column if column.dtype.kind == "M" else pd.to_datetime(column)
        elif kind == "str":
            column = column.fillna("").astype(object)
            data[name] = column.astype("category") if name in CATEGORICAL else column
        elif kind == "bool":
            data[name] = column.fillna(False).astype(bool)
        elif kind == "tristate":
            data[name] = _as_tristate(column)
        elif kind == "float":
            data[name] = (
                column if column.dtype == "float64" else pd.to_numeric(column, errors="coerce").astype("float64")
            )
        else:
            data[name] = column if column.dtype == kind else pd.to_numeric(column).astype(kind)
    return pd.DataFrame(data).reset_index(drop=True)


@dataclass(frozen=True)
class Frames:
    """One cohort: procedures and everything that hangs off them, plus derived columns.

    ``make_frames`` adds: procedures.age; levels.{patient_id, site_id, procedure_type,
    indication, fill_percent, has_leak, has_disc_leak}; leaks.{procedure_id, patient_id,
    procedure_type, location_group}; complications.{patient_id, procedure_type};
    responses.{patient_id, site_id, procedure_type, indication}; events.{patient_id,
    deceased_on, withdrawn_on}; bone_actions.patient_id. ``answers`` holds one response per
    procedure and event (the last collected), with the procedure's baseline score beside each
    follow-up score and whether the change is clinically important (``answer_frame``).
    """

    procedures: pd.DataFrame
    levels: pd.DataFrame
    leaks: pd.DataFrame
    complications: pd.DataFrame
    responses: pd.DataFrame
    answers: pd.DataFrame
    events: pd.DataFrame
    bone_actions: pd.DataFrame
    sites: pd.DataFrame
    as_of: dt.date
    # The earliest day ``up_to`` can show as it was known: the answers replaced before it were not
    # loaded (``reports.loaders.load_frames``' ``since``). None: every version is here.
    known_since: dt.date | None = None

    def restrict(self, procedure_mask: pd.Series) -> Frames:
        """The same cohort limited to the procedures where ``procedure_mask`` is true."""
        procedures = self.procedures[procedure_mask.to_numpy()]
        ids = procedures["procedure_id"]
        levels = self.levels[self.levels["procedure_id"].isin(ids)]
        return replace(
            self,
            procedures=procedures,
            levels=levels,
            leaks=self.leaks[self.leaks["procedure_id"].isin(ids)],
            complications=self.complications[self.complications["procedure_id"].isin(ids)],
            responses=self.responses[self.responses["procedure_id"].isin(ids)],
            answers=self.answers[self.answers["procedure_id"].isin(ids)],
            events=self.events[self.events["procedure_id"].isin(ids)],
            bone_actions=self.bone_actions[self.bone_actions["procedure_id"].isin(ids)],
        )

    def for_sites(self, site_ids: Iterable[int] | None) -> Frames:
        if site_ids is None:
            return self
        return self.restrict(self.procedures["site_id"].isin(list(site_ids)))

    def performed_between(self, start: dt.date | None, end: dt.date | None) -> Frames:
        performed = self.procedures["performed_on"]
        mask = pd.Series(True, index=self.procedures.index)
        if start is not None:
            mask &= performed >= pd.Timestamp(start)
        if end is not None:
            mask &= performed <= pd.Timestamp(end)
        return self.restrict(mask)

    def up_to(self, as_of: dt.date) -> Frames:
        """The cohort as it stood on ``as_of``: procedures performed, answers known and statuses
        changed by then, and deaths and withdrawals as recorded on the loader's ``since`` (exact on
        that day; frames built without it keep today's)."""
        since = self.known_since
        if since is not None and as_of < since:
            raise ValueError(f"these frames show the answers as known from {since}, not on {as_of}")
        if since is not None and since < as_of < self.as_of:
            raise ValueError(
                f"these frames show deaths and withdrawals as known on {since} and {self.as_of}, not on {as_of}"
            )
        cut = self.performed_between(None, as_of)
        if as_of < self.as_of:
            cut = replace(
                cut,
                procedures=cut.procedures.assign(
                    deceased_on=cut.procedures["deceased_on_since"], withdrawn_on=cut.procedures["withdrawn_on_since"]
                ),
                events=cut.events.assign(
                    deceased_on=cut.events["deceased_on_since"], withdrawn_on=cut.events["withdrawn_on_since"]
                ),
            )
        # A status changed after ``as_of`` was still open then (as ``loaders.load_frames`` reads it).
        changed_later = (cut.events["status_changed_on"] > pd.Timestamp(as_of)).to_numpy()
        if changed_later.any():
            events = cut.events.assign(
                status=np.where(changed_later, "open", cut.events["status"].astype(object)),
                cancel_cause=np.where(changed_later, "", cut.events["cancel_cause"].astype(object)),
            )
            cut = replace(cut, events=events)
        known = cut.responses["known_on"] <= pd.Timestamp(as_of)
        if known.all():
            return replace(cut, as_of=as_of)
        responses = cut.responses[known]
        return replace(cut, responses=responses, answers=answer_frame(responses), as_of=as_of)


def age_in_years(born: pd.Series, on: pd.Series) -> pd.Series:
    """Completed years, as on a birthday cake: vectorised ``registry.patients.models.age_on``."""
    before_birthday = (on.dt.month * 100 + on.dt.day) < (born.dt.month * 100 + born.dt.day)
    return on.dt.year - born.dt.year - before_birthday.astype(int)


DEATH_AND_WITHDRAWAL = ["deceased_on", "withdrawn_on", "deceased_on_since", "withdrawn_on_since"]


def make_frames(*, as_of: dt.date, known_since: dt.date | None = None, **frames: pd.DataFrame | None) -> Frames:
    """Coerce raw frames to ``SCHEMA`` and add the derived columns the metrics use."""
    unknown = set(frames) - set(SCHEMA)
    if unknown:
        raise TypeError(f"unknown frame(s): {', '.join(sorted(unknown))}")
    f = {name: _coerce(frames.get(name), columns) for name, columns in SCHEMA.items()}
    procedures = f["procedures"]
    changed = procedures["changed_since"]
    for name in ("deceased_on", "withdrawn_on"):
        procedures[f"{name}_since"] = procedures[f"{name}_since"].where(changed, procedures[name])
    procedures["age"] = age_in_years(procedures["date_of_birth"], procedures["performed_on"])
    by_procedure = procedures.set_index("procedure_id")[
        ["patient_id", "site_id", "procedure_type", "indication", *DEATH_AND_WITHDRAWAL]
    ]

    def attach(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        # Rows whose procedure is not in the cohort are dropped: they belong to nobody here.
        frame = frame[frame["procedure_id"].isin(by_procedure.index)]
        joined = by_procedure.loc[frame["procedure_id"], columns]
        for column in columns:
            frame[column] = joined[column].to_numpy()
        return frame.reset_index(drop=True)

    levels = attach(f["levels"], ["patient_id", "site_id", "procedure_type", "indication"])
    levels["fill_percent"] = levels["cement_volume_ml"] / levels["body_volume_cc"] * 100
    leaks = f["leaks"]
    leaks = leaks[leaks["level_id"].isin(levels["level_id"])].reset_index(drop=True)
    groups = {location: LeakLocation.group_of(location) for location in leaks["location"].unique()}
    leaks["location_group"] = leaks["location"].map(groups).astype(object)
    level_to_procedure = levels.set_index("level_id")["procedure_id"]
    leaks["procedure_id"] = level_to_procedure.loc[leaks["level_id"]].to_numpy().astype("int64")
    leaks = attach(leaks, ["patient_id", "procedure_type"])
    levels["has_leak"] = levels["level_id"].isin(leaks["level_id"])
    levels["has_disc_leak"] = levels["level_id"].isin(leaks.loc[leaks["location_group"] == "disc", "level_id"])
    responses = attach(f["responses"], ["patient_id", "site_id", "procedure_type", "indication"])
    responses["known_on"] = responses["known_on"].fillna(responses["collected_on"])
    responses["odi_percent"] = exact_odi_percent(responses)
    return Frames(
        procedures=procedures,
        levels=levels,
        leaks=leaks,
        complications=attach(f["complications"], ["patient_id", "procedure_type"]),
        responses=responses,
        answers=answer_frame(responses),
        events=attach(f["events"], ["patient_id", *DEATH_AND_WITHDRAWAL]),
        bone_actions=attach(f["bone_actions"], ["patient_id"]),
        sites=f["sites"],
        as_of=as_of,
        known_since=known_since,
    )


def _share(count: int | np.integer, denominator: int | np.integer) -> Proportion:
    return proportion(int(count), int(denominator))


def _groups(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """ "all" and each procedure type, in a fixed order (empty groups included)."""
    groups = {"all": frame}
    for kind in PROCEDURE_TYPES:
        groups[kind] = frame[frame["procedure_type"] == kind]
    return groups


# --- activity ------------------------------------------------------------------------------


def activity(f: Frames) -> dict:
    procedures, levels = f.procedures, f.levels
    patients = procedures.drop_duplicates("patient_id")
    n_procedures = len(procedures)
    levels_per_patient = {}
    for kind, group in _groups(levels).items():
        patients_of_kind = procedures if kind == "all" else procedures[procedures["procedure_type"] == kind]
        counts = group.groupby("patient_id").size().reindex(patients_of_kind["patient_id"].unique(), fill_value=0)
        levels_per_patient[kind] = mean_summary(counts.to_numpy(), scale=1)
    type_counts = procedures["procedure_type"].value_counts()
    indication_counts = procedures["indication"].value_counts()
    level_counts = levels["level"].value_counts()
    pvp_levels = levels[levels["procedure_type"] == "PVP"]
    pvp_level_counts = pvp_levels["level"].value_counts()
    return {
        "patients": len(patients),
        "procedures": n_procedures,
        "levels": len(levels),
        "levels_pvp": len(pvp_levels),
        "by_type": {kind: _share(type_counts.get(kind, 0), n_procedures) for kind in PROCEDURE_TYPES},
        "by_indication": {
            indication: _share(count, n_procedures) for indication, count in indication_counts.sort_index().items()
        },
        "female": _share((patients["sex"] == "female").sum(), len(patients)),
        "age": mean_summary(procedures["age"], scale=1),
        "levels_per_patient": levels_per_patient,
        "level_distribution": {
            VertebralLevel(level).name: _share(count, len(levels)) for level, count in level_counts.sort_index().items()
        },
        # Barriga-Martín 2022's distribution is of PVP levels: compared with the PVP levels only.
        "level_distribution_pvp": {
            VertebralLevel(level).name: _share(count, len(pvp_levels))
            for level, count in pvp_level_counts.sort_index().items()
        },
    }


# --- cement --------------------------------------------------------------------------------


def cement(f: Frames) -> dict:
    levels = f.levels
    pvp = levels[levels["procedure_type"] == "PVP"]
    volume = levels["cement_volume_ml"]
    products = grouped_summaries(volume, [levels["product"]], scale=VOLUME_SCALE)
    lots = grouped_summaries(volume, [levels["product"], levels["lot"]], scale=VOLUME_SCALE)
    return {
        "volume": {
            kind: mean_summary(group["cement_volume_ml"], scale=VOLUME_SCALE) for kind, group in _groups(levels).items()
        },
        "body_volume": mean_summary(levels["body_volume_cc"], scale=VOLUME_SCALE),
        "fill_percent": mean_summary(levels["fill_percent"]),
        # Beside Barriga-Martín 2022 (PVP only): the PVP levels' figures.
        "body_volume_pvp": mean_summary(pvp["body_volume_cc"], scale=VOLUME_SCALE),
        "fill_percent_pvp": mean_summary(pvp["fill_percent"]),
        # Levels per product or lot: every level has a volume, so the group's n.
        "by_product": {key[0]: {"levels": s.n, "volume": s} for key, s in sorted(products.items())},
        "by_lot": {key: {"levels": s.n, "volume": s} for key, s in sorted(lots.items())},
    }


# --- leaks ---------------------------------------------------------------------------------


def leaks(f: Frames) -> dict:
    levels, leak_rows, procedures = f.levels, f.leaks, f.procedures
    per_level = {kind: _share(group["has_leak"].sum(), len(group)) for kind, group in _groups(levels).items()}
    per_patient = {}
    for kind, group in _groups(levels).items():
        patients = procedures if kind == "all" else procedures[procedures["procedure_type"] == kind]
        leaking = group.loc[group["has_leak"], "patient_id"].nunique()
        per_patient[kind] = _share(leaking, patients["patient_id"].nunique())
    # Procedures with at least one leaking level, of the procedures (a procedure without levels counts).
    per_procedure = {}
    for kind, group in _groups(levels).items():
        of_kind = procedures if kind == "all" else procedures[procedures["procedure_type"] == kind]
        leaking = group.loc[group["has_leak"], "procedure_id"].nunique()
        per_procedure[kind] = _share(leaking, len(of_kind))
    n_leaks = len(leak_rows)
    levels_by_group = leak_rows.groupby("location_group")["level_id"].nunique()
    pathway_counts = leak_rows["pathway"].value_counts()
    size_counts = leak_rows["size_grade"].value_counts()
    with_leak = levels.loc[levels["has_leak"], "cement_volume_ml"]
    without_leak = levels.loc[~levels["has_leak"], "cement_volume_ml"]
    # Barriga-Martín 2022 (location, size, volume with and without a leak) treated by PVP only.
    pvp_levels = levels[levels["procedure_type"] == "PVP"]
    pvp_leaks = leak_rows[leak_rows["procedure_type"] == "PVP"]
    pvp_by_group = pvp_leaks.groupby("location_group")["level_id"].nunique()
    pvp_sizes = pvp_leaks["size_grade"].value_counts()
    pvp_with_leak = pvp_levels.loc[pvp_levels["has_leak"], "cement_volume_ml"]
    pvp_without_leak = pvp_levels.loc[~pvp_levels["has_leak"], "cement_volume_ml"]
    return {
        "location_group_pvp": {group: _share(pvp_by_group.get(group, 0), len(pvp_levels)) for group in LOCATION_GROUPS},
        "size_grade_pvp": {
            **{grade: _share(pvp_sizes.get(grade, 0), len(pvp_leaks)) for grade in SIZE_GRADES},
            "not recorded": _share(pvp_sizes.get("", 0), len(pvp_leaks)),
        },
        "volume_with_leak_pvp": mean_summary(pvp_with_leak, scale=VOLUME_SCALE),
        "volume_without_leak_pvp": mean_summary(pvp_without_leak, scale=VOLUME_SCALE),
        "volume_test_pvp": welch_t_test(pvp_with_leak, pvp_without_leak),
        "per_level": per_level,
        "per_patient": per_patient,
        "per_procedure": per_procedure,
        "location_group": {group: _share(levels_by_group.get(group, 0), len(levels)) for group in LOCATION_GROUPS},
        "pathway": {
            **{pathway: _share(pathway_counts.get(pathway, 0), n_leaks) for pathway in PATHWAYS},
            "not recorded": _share(pathway_counts.get("", 0), n_leaks),
        },
        "size_grade": {
            **{grade: _share(size_counts.get(grade, 0), n_leaks) for grade in SIZE_GRADES},
            "not recorded": _share(size_counts.get("", 0), n_leaks),
        },
        "symptomatic": _share(leak_rows["symptomatic"].sum(), n_leaks),
        "leaks": n_leaks,
        "volume_with_leak": mean_summary(with_leak, scale=VOLUME_SCALE),
        "volume_without_leak": mean_summary(without_leak, scale=VOLUME_SCALE),
        "volume_test": welch_t_test(with_leak, without_leak),
    }


# --- complications -------------------------------------------------------------------------


def fisher_exact(a_events: int, a_total: int, b_events: int, b_total: int) -> float | None:
    """Two-sided Fisher exact p for two proportions; None when a group is empty."""
    if a_total == 0 or b_total == 0:
        return None
    table = [[a_events, a_total - a_events], [b_events, b_total - b_events]]
    return float(scipy_stats.fisher_exact(table).pvalue)


def complications(f: Frames) -> dict:
    comps, procedures, levels = f.complications, f.procedures, f.levels
    n_patients = procedures["patient_id"].nunique()
    n_procedures = len(procedures)
    kind = comps["complication_type"]

    def patients_with(mask: pd.Series) -> Proportion:
        return _share(comps.loc[mask, "patient_id"].nunique(), n_patients)

    def procedures_with(mask: pd.Series, among: pd.Series | None = None) -> Proportion:
        ids = procedures["procedure_id"] if among is None else among
        hit = comps.loc[mask, "procedure_id"]
        return _share(ids.isin(hit).sum(), len(ids))

    by_type = {}
    for code, group in comps.groupby("complication_type", sort=True, observed=True):
        by_type[code] = {
            "complications": len(group),
            "procedures": _share(group["procedure_id"].nunique(), n_procedures),
        }
    severity_counts = comps["severity"].value_counts()
    by_type_symptomatic = {}
    for procedure_kind in PROCEDURE_TYPES:
        patients = procedures.loc[procedures["procedure_type"] == procedure_kind, "patient_id"].unique()
        hit = comps.loc[comps["symptomatic"] & (comps["procedure_type"] == procedure_kind), "patient_id"].unique()
        by_type_symptomatic[procedure_kind] = _share(len(hit), len(patients))
    pvp_patients = procedures.loc[procedures["procedure_type"] == "PVP", "patient_id"].unique()
    pvp_pce = comps.loc[(kind == ComplicationType.PCE) & (comps["procedure_type"] == "PVP"), "patient_id"].unique()

    disc_procedures = levels.loc[levels["has_disc_leak"], "procedure_id"].unique()
    with_disc = procedures.loc[procedures["procedure_id"].isin(disc_procedures), "procedure_id"]
    without_disc = procedures.loc[~procedures["procedure_id"].isin(disc_procedures), "procedure_id"]
    adjacent = kind == ComplicationType.ADJACENT_FRACTURE
    adjacent_with = procedures_with(adjacent, with_disc)
    adjacent_without = procedures_with(adjacent, without_disc)
    return {
        "complications": len(comps),
        "by_type": by_type,
        "by_severity": {
            severity: _share(severity_counts.get(severity, 0), len(comps)) for severity in SirSeverity.values
        },
        "symptomatic": patients_with(comps["symptomatic"]),
        "symptomatic_by_type": by_type_symptomatic,
        "major": patients_with(comps["severity"].isin(SirSeverity.major())),
        "pulmonary_embolism": patients_with(kind == ComplicationType.PCE),
        "pulmonary_embolism_pvp": _share(len(pvp_pce), len(pvp_patients)),
        "infection": procedures_with(kind.str.startswith(INFECTION_PREFIX)),
        "neurological": patients_with(kind.str.startswith(NEUROLOGICAL_PREFIX)),
        "adjacent_fracture_with_disc_leak": adjacent_with,
        "adjacent_fracture_without_disc_leak": adjacent_without,
        "adjacent_fracture_p": fisher_exact(
            adjacent_with.count, adjacent_with.denominator, adjacent_without.count, adjacent_without.denominator
        ),
    }


# --- outcomes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeRow:
    """One group at one follow-up event: the score, its change from baseline and the share of
    patients with a clinically important improvement (among those with both scores)."""

    score: MeanSummary
    change: MeanSummary | None
    improved: Proportion | None


IMPROVEMENT_RULES: dict[str, Callable[[float, float], bool | None]] = {
    "vas": vas_clinically_important,
    "odi": odi_clinically_important,
}
MEASURE_COLUMNS = {"vas": "vas", "odi": "odi_percent"}


def event_codes(responses: pd.DataFrame) -> list[str]:
    """The default protocol's events in order, then any event an administrator added, by name."""
    present = set(responses["event_code"].unique()) - {""}
    return [*EVENT_ORDER, *sorted(present - set(EVENT_ORDER))]


def latest_responses(responses: pd.DataFrame) -> pd.DataFrame:
    """One answer per procedure and event: the last collected (a repeat replaces the first)."""
    ordered = responses.sort_values(["collected_on", "response_id"], kind="stable")
    return ordered.drop_duplicates(["procedure_id", "event_code"], keep="last")


def improvement_flags(rule: Callable[[float, float], bool | None], before: pd.Series, after: pd.Series) -> np.ndarray:
    """``rule(before, after)`` for every row as 1.0 / 0.0, NaN where a score is missing.

    The scoring rule (registry.followup.scoring) is called once per distinct pair of scores,
    not once per patient: scores have one decimal, so a large cohort has few distinct pairs.
    """
    pairs = pd.DataFrame({"before": before.to_numpy(), "after": after.to_numpy()})
    both = pairs.notna().all(axis=1).to_numpy()
    flags = np.full(len(pairs), np.nan)
    if both.any():
        present = pairs[both]
        distinct = present.drop_duplicates()
        distinct = distinct.assign(
            flag=[float(rule(b, a)) for b, a in zip(distinct["before"], distinct["after"], strict=True)]
        )
        flags[both] = present.merge(distinct, on=["before", "after"], how="left")["flag"].to_numpy()
    return flags


def answer_frame(responses: pd.DataFrame) -> pd.DataFrame:
    answers = latest_responses(responses).reset_index(drop=True)
    baseline = answers[answers["event_code"] == "baseline"].set_index("procedure_id")
    follow_up = (answers["event_code"] != "baseline").to_numpy()
    for measure, column in MEASURE_COLUMNS.items():
        before = answers["procedure_id"].map(baseline[column]).where(follow_up)
        answers[f"{measure}_baseline"] = before
        answers[f"{measure}_improved"] = improvement_flags(IMPROVEMENT_RULES[measure], before, answers[column])
    return answers


EMPTY = summary_from_aggregates(0, None, None, None, None)


def grouped_summaries(values: pd.Series, by: list[pd.Series], *, scale: int | None = None) -> dict[tuple, MeanSummary]:
    """MeanSummary of ``values`` for every group of ``by``, in one grouped pass; keys are tuples.
    With ``scale``, from integer sums (exact, ``reports.stats``)."""
    if scale is not None:
        units = pd.Series(to_units(values.to_numpy(dtype=float), scale), index=values.index)
        # One cython reduction each (a named ``agg`` costs several times more).
        grouped = units.groupby(by, observed=True)
        squares = (units * units).groupby(by, observed=True).sum()
        columns = zip(grouped.count().items(), grouped.sum(), squares, grouped.min(), grouped.max(), strict=True)
        return {
            (key if isinstance(key, tuple) else (key,)): summary_from_sums(
                n, total, square_sum, 0 if n == 0 else low, 0 if n == 0 else high, scale=scale
            )
            for (key, n), total, square_sum, low, high in columns
        }
    aggregates = values.groupby(by, observed=True).agg(["count", "mean", "std", "min", "max"])
    result = {}
    for key, n, mean, sd, low, high in aggregates.itertuples(name=None):
        result[key if isinstance(key, tuple) else (key,)] = summary_from_aggregates(n, mean, sd, low, high)
    return result


def _outcome_rows(answers: pd.DataFrame, measure: str, keys: list[str]) -> dict[tuple, OutcomeRow]:
    """{(group..., event): OutcomeRow} for the groups of ``keys`` (ending with event_code)."""
    column, scale = MEASURE_COLUMNS[measure], MEASURE_SCALES[measure]
    by = [answers[key] for key in keys]
    scores = grouped_summaries(answers[column], by, scale=scale)
    # Follow-up minus baseline over the procedures with both scores (a paired change).
    changes = grouped_summaries(answers[column] - answers[f"{measure}_baseline"], by, scale=scale)
    # One cython reduction each (a named ``agg`` costs several times more).
    flags = answers[f"{measure}_improved"].groupby(by, observed=True)
    improved = {
        (key if isinstance(key, tuple) else (key,)): _share(hits, pairs)
        for (key, pairs), hits in zip(flags.count().items(), flags.sum(), strict=True)
    }
    rows = {}
    for key in scores.keys() | changes.keys() | improved.keys():
        if key[-1] == "baseline":
            rows[key] = OutcomeRow(score=scores.get(key, EMPTY), change=None, improved=None)
        else:
            rows[key] = OutcomeRow(
                score=scores.get(key, EMPTY), change=changes.get(key, EMPTY), improved=improved.get(key, _share(0, 0))
            )
    return rows


def _row(rows: dict[tuple, OutcomeRow], key: tuple) -> OutcomeRow:
    if key in rows:
        return rows[key]
    return OutcomeRow(EMPTY, None, None) if key[-1] == "baseline" else OutcomeRow(EMPTY, EMPTY, _share(0, 0))


def outcomes(f: Frames) -> dict:
    """{measure: {"by_type": {type: {event: OutcomeRow}}, "by_indication": {...}}}.

    Pairs are by procedure: a patient treated twice contributes each procedure's own
    baseline and follow-up.
    """
    answers = f.answers
    events = event_codes(answers)
    indications = sorted(f.procedures["indication"].unique())
    result: dict = {"events": events}
    for measure in MEASURE_COLUMNS:
        overall = _outcome_rows(answers, measure, ["event_code"])
        typed = _outcome_rows(answers, measure, ["procedure_type", "event_code"])
        by_indication_rows = _outcome_rows(answers, measure, ["indication", "event_code"])
        by_type = {"all": {event: _row(overall, (event,)) for event in events}}
        for kind in PROCEDURE_TYPES:
            by_type[kind] = {event: _row(typed, (kind, event)) for event in events}
        by_indication = {
            indication: {event: _row(by_indication_rows, (indication, event)) for event in events}
            for indication in indications
        }
        result[measure] = {"by_type": by_type, "by_indication": by_indication}
    return result


# --- follow-up -----------------------------------------------------------------------------


def _event_keys(frames: list[pd.DataFrame]) -> list[np.ndarray]:
    """(procedure, event code) as one int64 per row, comparable across ``frames``."""
    codes = pd.Index(sorted(set().union(*(set(frame["event_code"].unique()) for frame in frames))))
    return [
        frame["procedure_id"].to_numpy(dtype=np.int64) * (len(codes) + 1) + codes.get_indexer(frame["event_code"])
        for frame in frames
    ]


def classify_events(f: Frames) -> pd.DataFrame:
    """The events that count, each with one outcome: completed, missed, censored or pending."""
    events = f.events
    as_of = pd.Timestamp(f.as_of)
    status = events["status"].astype(object)
    event_keys, answer_keys = _event_keys([events, f.answers])
    completed = (status == COMPLETED).to_numpy() | np.isin(event_keys, answer_keys)
    cancelled = (status == CANCELLED).to_numpy()
    censoring_cause = cancelled & events["cancel_cause"].astype(object).isin(CENSORING_CAUSES).to_numpy()
    # When follow-up stopped: the death or withdrawal (as recorded by ``as_of``), or the day the event
    # was cancelled for one of those causes, whichever came first.
    stopped_on = pd.concat(
        [
            events["deceased_on"],
            events["withdrawn_on"],
            events["status_changed_on"].where(pd.Series(censoring_cause, index=events.index)),
        ],
        axis=1,
    ).min(axis=1)
    closes = events["window_closes_on"]
    # Censored only if the window was still open (or not yet open) when follow-up stopped.
    censored = ~completed & (stopped_on.notna() & (stopped_on <= closes) & (stopped_on <= as_of)).to_numpy()
    excluded = ~completed & ~censored & ((cancelled & ~censoring_cause) | (status == SUPERSEDED).to_numpy())
    outcome = np.select(
        [completed, censored, (closes >= as_of).to_numpy()],
        [COMPLETED, "censored", "pending"],
        default=MISSED,
    )
    invited = (events["invite_on"].notna() & (events["invite_on"] <= as_of)).to_numpy()
    return pd.DataFrame({"event_code": events["event_code"].to_numpy(), "outcome": outcome, "invited": invited})[
        ~excluded
    ]


def follow_up(f: Frames) -> dict:
    classified = classify_events(f)
    counts = classified.groupby(["event_code", "outcome"]).size()
    invited = classified.groupby("event_code")["invited"].sum()
    present = set(invited.index)
    codes = [code for code in EVENT_ORDER if code in present] + sorted(present - set(EVENT_ORDER))
    rows = {}
    for code in codes:
        of_code = counts.loc[code]
        completed, missed = int(of_code.get(COMPLETED, 0)), int(of_code.get(MISSED, 0))
        rows[code] = {
            "planned": int(of_code.sum()),
            "invited": int(invited[code]),
            "completed": completed,
            "missed": missed,
            "censored": int(of_code.get("censored", 0)),
            "pending": int(of_code.get("pending", 0)),
            "response_rate": _share(completed, completed + missed),
        }
    return rows


# --- bone health ---------------------------------------------------------------------------


def bone_health(f: Frames) -> dict:
    actions = f.bone_actions
    as_of = pd.Timestamp(f.as_of)
    result = {}
    for kind in BONE_HEALTH_KINDS:
        group = actions[(actions["kind"] == kind) & (actions["status"] != "not_applicable")]
        done = group["status"] == "done"
        # Actions count once their due date has come, or earlier if already done.
        due = group[(group["due_on"] <= as_of) | done]
        due_done = due["status"] == "done"
        on_time = due_done & (due["done_on"] <= due["due_on"])
        result[kind] = {
            "done": _share(due_done.sum(), len(due)),
            "done_by_due_date": _share(on_time.sum(), len(due)),
            "declined": _share((due["status"] == "declined").sum(), len(due)),
        }
    later = f.answers[f.answers["event_code"].isin(("m3", "m12"))]
    reported = later["osteoporosis_therapy_taken"].notna()
    taking = later["osteoporosis_therapy_taken"] == 1
    result["therapy_reported"] = {
        code: _share((taking & (later["event_code"] == code)).sum(), (reported & (later["event_code"] == code)).sum())
        for code in ("m3", "m12")
    }
    return result


# --- completeness --------------------------------------------------------------------------


def recorded(column: pd.Series) -> pd.Series:
    if column.dtype == object or isinstance(column.dtype, pd.CategoricalDtype):
        return column.notna() & (column != "")
    return column.notna()


def completeness(f: Frames) -> dict:
    procedures, levels, leak_rows = f.procedures, f.levels, f.leaks
    osteoporotic = procedures[procedures["indication"] == "osteoporotic"]
    fracture_age = recorded(procedures["fracture_age"]) | recorded(procedures["fracture_age_days"])
    baseline = f.answers[f.answers["event_code"] == "baseline"]
    has_baseline_vas = procedures["procedure_id"].isin(baseline.loc[baseline["vas"].notna(), "procedure_id"])
    has_baseline_odi = procedures["procedure_id"].isin(baseline.loc[baseline["odi_percent"].notna(), "procedure_id"])

    def share(mask: pd.Series) -> Proportion:
        return _share(mask.sum(), len(mask))

    return {
        "fracture_age": share(fracture_age),
        "mri_oedema": share(recorded(procedures["mri_oedema"])),
        "fluoroscopy_seconds": share(recorded(procedures["fluoroscopy_seconds"])),
        "dose_area_product": share(recorded(procedures["dose_area_product"])),
        "baseline_vas": share(has_baseline_vas),
        "baseline_odi": share(has_baseline_odi),
        "t_score_osteoporotic": share(recorded(osteoporotic["lowest_t_score"])),
        "body_volume": share(recorded(levels["body_volume_cc"])),
        "viscosity": share(recorded(levels["viscosity"])),
        "needle_gauge": share(recorded(levels["needle_gauge"])),
        "leak_pathway": share(recorded(leak_rows["pathway"])),
        "leak_size": share(recorded(leak_rows["size_grade"])),
    }


# --- sites (funnel plot) -------------------------------------------------------------------


def site_leak_rates(f: Frames) -> pd.DataFrame:
    """Per site: levels, levels with a leak and the rate, for the administrators' funnel plot."""
    grouped = f.levels.groupby("site_id")["has_leak"].agg(levels="size", leaking="sum").reset_index()
    grouped = grouped.merge(f.sites, on="site_id", how="left")
    grouped["rate"] = grouped["leaking"] / grouped["levels"]
    return grouped.sort_values("code").reset_index(drop=True)


def funnel_limits(overall_rate: float, sizes: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Normal-approximation control limits around the registry rate for each site size."""
    spread = z * np.sqrt(overall_rate * (1 - overall_rate) / sizes)
    return np.clip(overall_rate - spread, 0, 1), np.clip(overall_rate + spread, 0, 1)


@dataclass(frozen=True)
class Metrics:
    activity: dict
    cement: dict
    leaks: dict
    complications: dict
    outcomes: dict
    follow_up: dict
    bone_health: dict
    completeness: dict


def compute_all(f: Frames, *, outcome_figures: dict | None = None) -> Metrics:
    """``outcome_figures``: ``outcomes(f)`` computed elsewhere (the rollups, registry.rollups).

    The disclosure guard reads only the counts of the releases it compares with:
    ``reports.release_counts`` gives them for many releases at once, by the same rules."""
    return Metrics(
        activity=activity(f),
        cement=cement(f),
        leaks=leaks(f),
        complications=complications(f),
        outcomes=outcome_figures if outcome_figures is not None else outcomes(f),
        follow_up=follow_up(f),
        bone_health=bone_health(f),
        completeness=completeness(f),
    )
