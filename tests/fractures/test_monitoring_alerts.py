"""A site whose leak rate doubles is signalled once to the administrators and its investigators."""

import datetime as dt
import re

import pytest

from registry.procedures.models import VertebralLevel as V
from reports import site_monitoring
from reports.models import MonitoringSignal
from reports.tasks import site_monitoring_check_task
from tests.factories import CementLeakFactory, TreatedLevelFactory
from tests.fractures.conftest import DAY0, treated_patient
from tests.utils import wait_for

pytestmark = pytest.mark.django_db


def test_one_alert_per_signal_to_admins_and_the_sites_investigators(
    site_a, site_b, investigator_a, admin_user, reviewer_a, mailoutbox
):
    # Site A: 12 procedures of one level each, every one leaking (p0 = 36.6 %, p1 = 73.2 %):
    # each leak adds ln 2 = 0.693, so the CUSUM reaches h = 4.5 at the 7th level (7 x 0.693 = 4.85).
    for index in range(12):
        _, procedure = treated_patient(site_a, V.L1, performed_on=DAY0 + dt.timedelta(days=index))
        CementLeakFactory(treated_level=procedure.levels.get())
    # Site B: levels without a leak never signal.
    for index in range(12):
        _, procedure = treated_patient(site_b, V.L2, performed_on=DAY0 + dt.timedelta(days=index))
        TreatedLevelFactory(procedure=procedure, level=V.L3)

    ids = site_monitoring.signals_record(as_of=DAY0 + dt.timedelta(days=30))
    sent = [site_monitoring.signal_alert(signal_id=pk) for pk in ids]

    (signal,) = MonitoringSignal.objects.filter(measure="leak_per_level")
    assert signal.site == site_a and signal.observed_on == DAY0 + dt.timedelta(days=6)
    assert sent == [2]
    assert sorted(m.to[0] for m in mailoutbox) == sorted([admin_user.email, investigator_a.email])
    assert mailoutbox[0].subject == "Registry monitoring: CUSUM signal at TOL (cement leak per treated level)"
    # Run again (beat twice, a retried task): no second row, no second email.
    again = site_monitoring.signals_record(as_of=DAY0 + dt.timedelta(days=30))
    assert again == [] and [site_monitoring.signal_alert(signal_id=signal.pk)] == [0]
    assert MonitoringSignal.objects.count() == 1 and len(mailoutbox) == 2


def test_monitoring_page_states_methods_limits_and_sources(client_for, reviewer_a, site_a):
    # Three levels, one leaking: a reviewer sees <5, not the counts, and no rate.
    for index in range(3):
        _, procedure = treated_patient(site_a, V.L1, performed_on=DAY0 + dt.timedelta(days=index))
        if index == 0:
            CementLeakFactory(treated_level=procedure.levels.get())
    page = client_for(reviewer_a).get("/reports/monitoring/").content.decode()
    row = page.split('id="measure-leak_per_level"')[1].split("</tr>")[1]
    assert '<th scope="row">TOL</th><td>&lt;5</td><td>&lt;5</td><td>—</td>' in row
    assert "Bernoulli CUSUM" in page and "Barriga-Martín et al. 2022, Table 3" in page
    assert "decision limit h = 4.5" in page and "99.8 %" in page


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_check_at_once_alert_each_signal_once(start_worker, site_a, investigator_a):
    # Site A: 7 leaking levels in a row cross h = 4.5 once (7 × ln 2 = 4.85).
    for index in range(7):
        _, procedure = treated_patient(site_a, V.L1, performed_on=DAY0 + dt.timedelta(days=index))
        CementLeakFactory(treated_level=procedure.levels.get())
    worker = start_worker(concurrency=2)

    for _ in range(3):
        site_monitoring_check_task.delay()

    signal = wait_for(
        lambda: MonitoringSignal.objects.filter(notified_at__isnull=False).first(), timeout=120, message="the alert"
    )
    assert MonitoringSignal.objects.count() == 1 and signal.site == site_a

    # Every queued alert task has run; exactly one sent mail (to the site's one investigator).
    def alert_results():
        log = worker.output()
        received = log.count("site_monitoring_alert_task[") - len(re.findall(r"alert_task\[[^\]]+\] succeeded", log))
        results = re.findall(r"site_monitoring_alert_task\[[^\]]+\] succeeded in [0-9.e-]+s: (\d+)", log)
        return results if results and len(results) == received else None

    results = wait_for(alert_results, timeout=60, message="the alert tasks")
    assert sorted(results) == ["0"] * (len(results) - 1) + ["1"]
