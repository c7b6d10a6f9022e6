"""Reads for the import screens and API, on a user's behalf (access is checked by the caller's site)."""

from __future__ import annotations

from registry.imports.models import ImportMapping
from registry.patients.models import Site


def import_mapping_for(*, site: Site, name: str) -> ImportMapping | None:
    """A site's saved mapping by name; another site's mapping of the same name is never found."""
    return ImportMapping.objects.filter(site=site, name=name.strip()).first()
