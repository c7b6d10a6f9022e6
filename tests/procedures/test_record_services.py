"""procedure_record and friends: every range of DATA_DICTIONARY.md section 2 at its edges."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from registry.core.events import complication_reported, procedure_changed, procedure_recorded
from registry.procedures import services
from registry.procedures.models import (
    CementLeak,
    CementLot,
    Complication,
    Procedure,
    TreatedLevel,
    VertebralLevel,
)
from tests.factories import PatientFactory
from tests.procedures.builders import (
    complication_row,
    days_ago,
    kit_product,
    leak_row,
    level_row,
    procedure_data,
    today,
)

L1, L2, T12 = VertebralLevel.L1, VertebralLevel.L2, VertebralLevel.T12


@pytest.fixture
def patient(site_a):
    return PatientFactory(site=site_a, date_of_birth=dt.date(1940, 5, 1))


def record(patient, user, *, data=None, levels=None, complications=(), confirm=False):
    return services.procedure_record(
        patient=patient,
        acting_user=user,
        data=data or procedure_data(),
        levels=levels if levels is not None else [level_row(L1)],
        complications=complications,
        confirm=confirm,
    )


def errors_of(exc_info) -> dict:
    return exc_info.value.message_dict


def nothing_saved():
    return not Procedure.objects.exists() and not TreatedLevel.objects.exists() and not Complication.objects.exists()


def test_a_two_level_kyphoplasty_with_a_leak_and_an_embolism_is_recorded_in_one_go(patient, coordinator_a):
    procedure = record(
        patient,
        coordinator_a,
        levels=[
            level_row(T12, vertebral_body_volume_cc=Decimal("25.0"), cement_volume_ml=Decimal("2.5")),
            level_row(L1, leaks=[leak_row(location="disc_inferior", symptomatic=True, complication_index=0)]),
        ],
        complications=[complication_row(level=L1)],
    )

    levels = {lv.level: lv for lv in procedure.levels.all()}
    assert set(levels) == {T12, L1}
    assert levels[T12].fill_percent == Decimal("10.0")
    leak = CementLeak.objects.get()
    assert leak.treated_level == levels[L1] and leak.complication.complication_type == "embolism_pulmonary"
    assert leak.complication.treated_level == levels[L1]
    assert procedure.site == patient.site and procedure.recorded_by == coordinator_a
    assert procedure.history.first().history_user == coordinator_a
    assert levels[L1].history.first().history_user == coordinator_a


def test_lot_numbers_typed_differently_reuse_one_lot(patient, coordinator_a):
    record(
        patient,
        coordinator_a,
        levels=[level_row(T12, lot_number="ab 12345"), level_row(L1, lot_number="AB-12345")],
    )
    assert CementLot.objects.count() == 1
    assert CementLot.objects.get().lot_number_normalised == "AB12345"


@pytest.mark.parametrize(
    ("volume", "ok"),
    [("0", False), ("0.1", True), ("15", True), ("15.1", False)],
)
def test_cement_volume_edges(patient, coordinator_a, volume, ok):
    levels = [level_row(L1, cement_volume_ml=Decimal(volume))]
    if ok:
        record(patient, coordinator_a, levels=levels, confirm=True)
        assert TreatedLevel.objects.get().cement_volume_ml == Decimal(volume)
    else:
        with pytest.raises(ValidationError) as exc:
            record(patient, coordinator_a, levels=levels, confirm=True)
        assert "levels.0.cement_volume_ml" in errors_of(exc)
        assert nothing_saved()


@pytest.mark.parametrize(("gauge", "ok"), [(7, False), (8, True), (15, True), (16, False)])
def test_needle_gauge_edges(patient, coordinator_a, gauge, ok):
    levels = [level_row(L1, needle_gauge=gauge)]
    if ok:
        record(patient, coordinator_a, levels=levels)
    else:
        with pytest.raises(ValidationError) as exc:
            record(patient, coordinator_a, levels=levels)
        assert "levels.0.needle_gauge" in errors_of(exc)


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("height_loss_percent", 0, True),
        ("height_loss_percent", 100, True),
        ("height_loss_percent", 101, False),
        ("vertebral_body_volume_cc", Decimal("0.9"), False),
        ("vertebral_body_volume_cc", Decimal("1"), True),
        ("vertebral_body_volume_cc", Decimal("200"), True),
        ("vertebral_body_volume_cc", Decimal("200.1"), False),
        ("kyphotic_angle_deg", Decimal("-90"), True),
        ("kyphotic_angle_deg", Decimal("90.1"), False),
    ],
)
def test_level_morphology_edges(patient, coordinator_a, field, value, ok):
    levels = [level_row(L1, **{field: value})]
    if ok:
        record(patient, coordinator_a, levels=levels)
    else:
        with pytest.raises(ValidationError) as exc:
            record(patient, coordinator_a, levels=levels)
        assert f"levels.0.{field}" in errors_of(exc)


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("fluoroscopy_seconds", 0, True),
        ("fluoroscopy_seconds", 7200, True),
        ("fluoroscopy_seconds", 7201, False),
        ("dose_area_product", Decimal("0"), True),
        ("dose_area_product", Decimal("1000"), True),
        ("dose_area_product", Decimal("1000.01"), False),
        ("dose_area_product", Decimal("-0.01"), False),
        ("baseline_karnofsky", 0, True),
        ("baseline_karnofsky", 100, True),
        ("baseline_karnofsky", 55, False),
        ("baseline_karnofsky", 110, False),
    ],
)
def test_procedure_range_edges(patient, coordinator_a, field, value, ok):
    data = procedure_data(**{field: value})
    if ok:
        record(patient, coordinator_a, data=data)
    else:
        with pytest.raises(ValidationError) as exc:
            record(patient, coordinator_a, data=data)
        assert any(key.startswith("procedure.") for key in errors_of(exc))
        assert nothing_saved()


def test_procedure_date_not_in_the_future(patient, coordinator_a):
    record(patient, coordinator_a, data=procedure_data(performed_on=today()))
    with pytest.raises(ValidationError) as exc:
        record(patient, coordinator_a, data=procedure_data(performed_on=today() + dt.timedelta(days=1)))
    assert "procedure.performed_on" in errors_of(exc)


@pytest.mark.parametrize(
    ("age_days_offset", "ok"),
    [
        # Born so that the patient is 17 the day before their 18th birthday, or exactly 18.
        ("17", False),
        ("18", True),
        ("110", True),
        ("111", False),
    ],
)
def test_age_at_procedure_is_18_to_110(site_a, coordinator_a, age_days_offset, ok):
    on = days_ago(5)
    years = int(age_days_offset)
    born = on.replace(year=on.year - years)
    if years == 17:
        born = on.replace(year=on.year - 18) + dt.timedelta(days=1)  # 18 tomorrow
    if years == 111:
        born = on.replace(year=on.year - 111)
    patient = PatientFactory(site=site_a, date_of_birth=born)
    if ok:
        record(patient, coordinator_a, data=procedure_data(performed_on=on))
    else:
        with pytest.raises(ValidationError) as exc:
            record(patient, coordinator_a, data=procedure_data(performed_on=on))
        assert "procedure.performed_on" in errors_of(exc)


def test_a_level_is_treated_once_per_session(patient, coordinator_a):
    with pytest.raises(ValidationError) as exc:
        record(patient, coordinator_a, levels=[level_row(L1), level_row(L2), level_row(L1)])
    assert "row 1" in errors_of(exc)["levels.2.level"][0]
    assert nothing_saved()


def test_a_symptomatic_leak_must_point_to_a_complication(patient, coordinator_a):
    with pytest.raises(ValidationError) as exc:
        record(patient, coordinator_a, levels=[level_row(L1, leaks=[leak_row(symptomatic=True)])])
    assert "levels.0.leaks.0.complication" in errors_of(exc)
    assert nothing_saved() and not CementLeak.objects.exists()


def test_complication_onset_cannot_precede_the_procedure(patient, coordinator_a):
    with pytest.raises(ValidationError) as exc:
        record(patient, coordinator_a, complications=[complication_row(onset_on=days_ago(11))])
    assert "complications.0.onset_on" in errors_of(exc)
    record(patient, coordinator_a, complications=[complication_row(onset_on=days_ago(10))])


def test_complication_resolution_cannot_precede_onset(patient, coordinator_a):
    with pytest.raises(ValidationError) as exc:
        record(
            patient,
            coordinator_a,
            complications=[complication_row(onset_on=days_ago(5), resolved_on=days_ago(6), outcome="resolved")],
        )
    assert "complications.0.resolved_on" in errors_of(exc)


def test_complication_level_must_be_one_of_the_session(patient, coordinator_a):
    with pytest.raises(ValidationError) as exc:
        record(patient, coordinator_a, complications=[complication_row(level=L2)])
    assert "complications.0.level" in errors_of(exc)


def test_a_balloon_belongs_to_kyphoplasty(patient, coordinator_a):
    with pytest.raises(ValidationError) as exc:
        record(
            patient,
            coordinator_a,
            data=procedure_data(procedure_type="PVP"),
            levels=[level_row(L1, balloon_inflated=True)],
        )
    assert "levels.0.balloon_inflated" in errors_of(exc)


def test_lot_number_is_required(patient, coordinator_a):
    with pytest.raises(ValidationError) as exc:
        record(patient, coordinator_a, levels=[level_row(L1, lot_number=" - ")])
    assert "levels.0.lot_number" in errors_of(exc)
    assert not CementLot.objects.exists()


def test_fracture_age_in_days_sets_the_category_and_must_agree_with_it(patient, coordinator_a):
    procedure = record(patient, coordinator_a, data=procedure_data(fracture_age_days=41))
    assert procedure.fracture_age == "acute"
    with pytest.raises(ValidationError) as exc:
        record(patient, coordinator_a, data=procedure_data(fracture_age_days=91, fracture_age="subacute"))
    assert "procedure.fracture_age" in errors_of(exc)


def test_all_errors_come_back_at_once_and_nothing_is_saved(patient, coordinator_a):
    with pytest.raises(ValidationError) as exc:
        record(
            patient,
            coordinator_a,
            data=procedure_data(fluoroscopy_seconds=9999),
            levels=[level_row(T12, cement_volume_ml=Decimal("16")), level_row(L1, needle_gauge=20)],
            complications=[complication_row(onset_on=days_ago(30))],
        )
    assert {
        "procedure.fluoroscopy_seconds",
        "levels.0.cement_volume_ml",
        "levels.1.needle_gauge",
        "complications.0.onset_on",
    } <= set(errors_of(exc))
    assert nothing_saved() and not CementLot.objects.exists()


# --- Warnings that need a confirmation -------------------------------------------------------


def test_more_than_7_ml_asks_for_confirmation(patient, coordinator_a):
    record(patient, coordinator_a, levels=[level_row(L1, cement_volume_ml=Decimal("7.0"))])
    with pytest.raises(services.ConfirmationRequired) as exc:
        record(patient, coordinator_a, levels=[level_row(L2, cement_volume_ml=Decimal("7.1"))])
    assert "7.1 mL" in exc.value.warnings[0]
    assert Procedure.objects.count() == 1
    record(patient, coordinator_a, levels=[level_row(L2, cement_volume_ml=Decimal("7.1"))], confirm=True)
    assert Procedure.objects.count() == 2


def test_a_lot_past_its_expiry_asks_for_confirmation(patient, coordinator_a):
    on = days_ago(10)
    with pytest.raises(services.ConfirmationRequired) as exc:
        record(patient, coordinator_a, levels=[level_row(L1, lot_expires_on=on - dt.timedelta(days=1))])
    assert "expired" in exc.value.warnings[0]
    record(patient, coordinator_a, levels=[level_row(L1, lot_expires_on=on)])  # expires that day: fine


def test_five_levels_in_one_session_ask_for_confirmation(patient, coordinator_a):
    four = [level_row(level) for level in (T12 - 1, T12, L1, L2)]
    record(patient, coordinator_a, levels=four)
    with pytest.raises(services.ConfirmationRequired):
        record(patient, coordinator_a, levels=[*four, level_row(L2 + 1)])
    record(patient, coordinator_a, levels=[*four, level_row(L2 + 1)], confirm=True)
    assert Procedure.objects.count() == 2


def test_warnings_digest_changes_with_the_warnings():
    a = services.warnings_digest(["x"])
    assert a == services.warnings_digest(["x"])
    assert a != services.warnings_digest(["x", "y"])


# --- Announcements after commit --------------------------------------------------------------


@pytest.fixture
def heard():
    received = []

    def listen(signal_):
        def receiver(sender, signal, **kwargs):
            received.append((signal, kwargs))

        signal_.connect(receiver, weak=False, dispatch_uid=f"test-{id(signal_)}")
        return receiver

    signals = [procedure_recorded, procedure_changed, complication_reported]
    for signal in signals:
        listen(signal)
    yield received
    for signal in signals:
        signal.disconnect(dispatch_uid=f"test-{id(signal)}")


def test_recording_announces_the_procedure_and_its_complications_after_commit(
    patient, coordinator_a, heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        procedure = record(patient, coordinator_a, complications=[complication_row()])
        assert heard == []  # nothing before the commit
    assert (procedure_recorded, {"procedure_id": procedure.pk}) in heard
    assert (complication_reported, {"complication_id": Complication.objects.get().pk}) in heard


def test_a_refused_case_announces_nothing(patient, coordinator_a, heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError):
        record(patient, coordinator_a, levels=[level_row(L1, cement_volume_ml=Decimal("0"))])
    assert callbacks == [] and heard == []


def test_a_new_date_or_type_is_announced_other_edits_are_not(
    patient, coordinator_a, heard, django_capture_on_commit_callbacks
):
    procedure = record(patient, coordinator_a)
    with django_capture_on_commit_callbacks(execute=True):
        services.procedure_update(procedure=procedure, acting_user=coordinator_a, data={"operator": "Dr Ortiz"})
    assert heard == []
    with django_capture_on_commit_callbacks(execute=True):
        services.procedure_update(procedure=procedure, acting_user=coordinator_a, data={"performed_on": days_ago(12)})
    assert heard == [(procedure_changed, {"procedure_id": procedure.pk})]
    record_ = procedure.history.first()
    assert record_.history_user == coordinator_a and record_.performed_on == days_ago(12)


def test_moving_the_date_after_a_complication_onset_is_refused(patient, coordinator_a):
    procedure = record(patient, coordinator_a, complications=[complication_row(onset_on=days_ago(10))])
    with pytest.raises(ValidationError) as exc:
        services.procedure_update(procedure=procedure, acting_user=coordinator_a, data={"performed_on": days_ago(9)})
    assert "procedure.performed_on" in errors_of(exc)


def test_reporting_a_complication_announces_it(patient, coordinator_a, heard, django_capture_on_commit_callbacks):
    procedure = record(patient, coordinator_a)
    with django_capture_on_commit_callbacks(execute=True):
        complication = services.complication_report(
            procedure=procedure,
            acting_user=coordinator_a,
            data={**complication_row(), "complication_type": "fracture_adjacent", "onset_on": days_ago(1)},
        )
    assert heard == [(complication_reported, {"complication_id": complication.pk})]


# --- Level and leak edits ----------------------------------------------------------------------


def test_adding_a_level_already_treated_is_refused(patient, coordinator_a):
    procedure = record(patient, coordinator_a)
    row = {k: v for k, v in level_row(L1).items() if k != "leaks"}
    with pytest.raises(ValidationError) as exc:
        services.treated_level_add(procedure=procedure, acting_user=coordinator_a, data=row)
    assert "level.level" in errors_of(exc)


def test_editing_a_level_to_more_than_7_ml_needs_confirmation(patient, coordinator_a):
    procedure = record(patient, coordinator_a)
    level = procedure.levels.get()
    row = {k: v for k, v in level_row(L1, cement_volume_ml=Decimal("8")).items() if k != "leaks"}
    with pytest.raises(services.ConfirmationRequired):
        services.treated_level_update(treated_level=level, acting_user=coordinator_a, data=row)
    level.refresh_from_db()
    assert level.cement_volume_ml == Decimal("2.0")
    services.treated_level_update(treated_level=level, acting_user=coordinator_a, data=row, confirm=True)
    level.refresh_from_db()
    assert level.cement_volume_ml == Decimal("8.0")
    changes = level.history.first().diff_against(level.history.all()[1]).changes
    assert [(c.field, c.old, c.new) for c in changes] == [("cement_volume_ml", Decimal("2.0"), Decimal("8.0"))]


def test_a_leak_made_symptomatic_needs_a_complication_of_the_same_session(patient, coordinator_a):
    procedure = record(patient, coordinator_a, levels=[level_row(L1, leaks=[leak_row()])])
    other = record(
        patient,
        coordinator_a,
        data=procedure_data(performed_on=days_ago(3)),
        complications=[complication_row(onset_on=days_ago(3))],
    )
    leak = CementLeak.objects.get()
    with pytest.raises(ValidationError) as exc:
        services.leak_update(leak=leak, acting_user=coordinator_a, data={"symptomatic": True})
    assert "leak.complication" in errors_of(exc)
    with pytest.raises(ValidationError):
        services.leak_update(
            leak=leak, acting_user=coordinator_a, data={"symptomatic": True, "complication": other.complications.get()}
        )
    complication = services.complication_report(procedure=procedure, acting_user=coordinator_a, data=complication_row())
    services.leak_update(leak=leak, acting_user=coordinator_a, data={"symptomatic": True, "complication": complication})
    assert CementLeak.objects.get().complication == complication


def test_removing_a_level_removes_its_leaks_and_is_audited(patient, coordinator_a):
    procedure = record(patient, coordinator_a, levels=[level_row(L1, leaks=[leak_row()]), level_row(L2)])
    level = procedure.levels.get(level=L1)
    services.treated_level_remove(treated_level=level, acting_user=coordinator_a)
    assert list(procedure.levels.values_list("level", flat=True)) == [L2]
    assert not CementLeak.objects.exists()
    assert TreatedLevel.history.filter(id=level.pk, history_type="-").get().history_user == coordinator_a
    assert CementLeak.history.filter(history_type="-").get().history_user == coordinator_a


def test_coordinator_of_another_site_cannot_record(patient, coordinator_b):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        record(patient, coordinator_b)


def test_lot_get_or_create_fills_a_missing_expiry_only(coordinator_a, db):
    product = kit_product()
    lot = services.cement_lot_get_or_create(product=product, lot_number="x-1", acting_user=coordinator_a)
    assert lot.expires_on is None
    same = services.cement_lot_get_or_create(
        product=product, lot_number="X 1", expires_on=dt.date(2030, 1, 31), acting_user=coordinator_a
    )
    assert same.pk == lot.pk and same.expires_on == dt.date(2030, 1, 31)
    again = services.cement_lot_get_or_create(
        product=product, lot_number="X1", expires_on=dt.date(2031, 1, 31), acting_user=coordinator_a
    )
    assert again.expires_on == dt.date(2030, 1, 31)
