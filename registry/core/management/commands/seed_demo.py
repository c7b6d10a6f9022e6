"""Demo data for the first README command: sites, one login per role, a synthetic cohort.

Safe to run again: sites and users are updated in place and the cohort is only generated when the
registry has no patients yet.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry.accounts.models import Role
from registry.accounts.services import site_membership_set
from registry.patients.models import Patient, Site

DEMO_SITES = [
    ("TOL", "Hospital Virgen de la Salud — Interventional Radiology", "Europe/Madrid", "112"),
    ("BOS", "Boston Spine Center — Neuroradiology", "America/New_York", "911"),
    ("MEL", "Melbourne Spine Unit", "Australia/Melbourne", "000"),
]

# Demo passwords are printed on purpose: they exist only on a developer's machine.
DEMO_USERS = [
    ("admin", None, None, "demo-admin-2026"),
    ("coordinator", "TOL", Role.COORDINATOR, "demo-coordinator-2026"),
    ("coordinator_bos", "BOS", Role.COORDINATOR, "demo-coordinator-2026"),
    ("investigator", "TOL", Role.INVESTIGATOR, "demo-investigator-2026"),
    ("reviewer", "TOL", Role.REVIEWER, "demo-reviewer-2026"),
]


class Command(BaseCommand):
    help = "Load demo sites, one user per role (passwords printed) and a synthetic cohort."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=300, help="Synthetic patients (default 300).")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--force", action="store_true", help="Allow outside DEBUG (never in production).")

    def handle(self, *args, patients: int, seed: int, force: bool, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_demo creates accounts with published passwords; it runs only with DEBUG on.")
        with transaction.atomic():
            sites = self._sites()
            self._users(sites)
        created = self._cohort(list(sites.values()), patients, seed)
        self.stdout.write(self.style.SUCCESS("Demo logins (username / password):"))
        for username, site, role, password in DEMO_USERS:
            what = "registry administrator" if role is None else f"{Role(role).label} at {site}"
            self.stdout.write(f"  {username:<16} {password:<24} {what}")
        if created:
            self.stdout.write(f"Synthetic cohort: {created}")

    def _sites(self) -> dict[str, Site]:
        sites = {}
        for code, name, tz, emergency_number in DEMO_SITES:
            sites[code], _ = Site.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "time_zone": tz,
                    "emergency_number": emergency_number,
                    "contact_email": f"registry-{code.lower()}@hospital.example",
                    "clinician_email": f"spine-{code.lower()}@hospital.example",
                },
            )
        return sites

    def _users(self, sites: dict[str, Site]) -> None:
        User = get_user_model()
        admin = None
        for username, site_code, role, password in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@hospital.example"})
            user.set_password(password)
            user.is_staff = user.is_superuser = role is None
            user.save()
            if role is None:
                admin = user  # Listed first: the demo administrator grants the other roles.
            else:
                site_membership_set(acting_user=admin, user=user, site=sites[site_code], role=role)

    def _cohort(self, sites: list[Site], n_patients: int, seed: int):
        if Patient.objects.exists() or n_patients <= 0:
            return None
        from registry.demo.cohort import generate_cohort
        from registry.demo.followup import simulate_followup

        counts = generate_cohort(sites=sites, n_patients=n_patients, seed=seed)
        counts.update(simulate_followup(seed=seed))
        return counts
