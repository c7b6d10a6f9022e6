"""Every read of procedures and their records on a user's behalf, scoped to their sites."""

from __future__ import annotations

from django.db.models import QuerySet

from registry import access
from registry.procedures.barcodes import ScannedKit
from registry.procedures.models import (
    CementLeak,
    CementProduct,
    Complication,
    Procedure,
    TreatedLevel,
    normalise_lot_number,
)


def procedure_get_for_user(*, user, procedure_id: int) -> Procedure:
    return access.get_scoped_or_404(Procedure.objects.select_related("patient", "site"), user, pk=procedure_id)


def treated_level_get_for_user(*, user, treated_level_id: int) -> TreatedLevel:
    return access.get_scoped_or_404(
        TreatedLevel.objects.select_related("procedure__patient", "cement_lot__product"),
        user,
        site_field="procedure__site",
        pk=treated_level_id,
    )


def leak_get_for_user(*, user, leak_id: int) -> CementLeak:
    return access.get_scoped_or_404(
        CementLeak.objects.select_related("treated_level__procedure__patient"),
        user,
        site_field="treated_level__procedure__site",
        pk=leak_id,
    )


def complication_get_for_user(*, user, complication_id: int) -> Complication:
    return access.get_scoped_or_404(
        Complication.objects.select_related("procedure__patient"),
        user,
        site_field="procedure__site",
        pk=complication_id,
    )


def cement_products() -> QuerySet[CementProduct]:
    return CementProduct.objects.filter(active=True).order_by("manufacturer", "brand")


def cement_product_for_scan(kit: ScannedKit) -> CementProduct | None:
    """The catalogue product a scanned kit belongs to (by GTIN, or HIBC labeler + product code)."""
    if kit.gtin:
        return CementProduct.objects.filter(gtin=kit.gtin.zfill(14)).first()
    if kit.hibc_labeler_product:
        return CementProduct.objects.filter(hibc_labeler_product__iexact=kit.hibc_labeler_product).first()
    return None


def lot_recall_for_user(*, user, lot_number: str = "", product_id: int | None = None) -> QuerySet[TreatedLevel]:
    """Treated levels that received lot ``lot_number`` (matched ignoring case, spaces and dashes),
    of any product or of ``product_id``; or every lot of ``product_id`` when no lot is given.
    """
    normalised = normalise_lot_number(lot_number)
    if not normalised and not product_id:
        return TreatedLevel.objects.none()
    levels = access.scope_to_sites(TreatedLevel.objects.all(), user, site_field="procedure__site")
    if normalised:
        levels = levels.filter(cement_lot__lot_number_normalised=normalised)
    if product_id:
        levels = levels.filter(cement_lot__product_id=product_id)
    return levels.select_related("procedure__patient", "procedure__site", "cement_lot__product").order_by(
        "procedure__site__code", "procedure__patient__study_id", "procedure__performed_on", "level"
    )
