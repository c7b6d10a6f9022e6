"""The REST API under /api/: a router of the registry's records, and its OpenAPI documentation.

The schema and both documentation pages are served from the project (drf-spectacular-sidecar
assets, no CDN) to authenticated users.
"""

from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from registry.api import views

app_name = "api"

# Redoc's bundle adds two <style> elements as it loads, before its nonce option is read (see
# registry/static/registry/redoc-init.js): an empty one and a fixed stylesheet of the pinned
# drf-spectacular-sidecar release. Their hashes allow exactly those on this page; a new release
# that changes them shows as a CSP violation in tests/security/test_headers.py.
REDOC_STYLE_HASHES = [
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
]
REDOC_VIEW = csp_update({"style-src": REDOC_STYLE_HASHES})(SpectacularRedocView.as_view(url_name="api:schema"))

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("sites", views.SiteViewSet, basename="site")
router.register("cement-products", views.CementProductViewSet, basename="cement-product")
router.register("patients", views.PatientViewSet, basename="patient")
router.register("procedures", views.ProcedureViewSet, basename="procedure")
router.register("treated-levels", views.TreatedLevelViewSet, basename="treated-level")
router.register("leaks", views.CementLeakViewSet, basename="leak")
router.register("complications", views.ComplicationViewSet, basename="complication")
router.register("followup-events", views.FollowUpEventViewSet, basename="followup-event")
router.register("survey-responses", views.SurveyResponseViewSet, basename="survey-response")
router.register("bone-health-actions", views.BoneHealthActionViewSet, basename="bone-health-action")
router.register("worklist-items", views.WorklistItemViewSet, basename="worklist-item")
router.register("imports", views.ImportViewSet, basename="import")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script as its own request: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", REDOC_VIEW, name="redoc"),
    path("auth/logout/", views.TokenRevokeView.as_view(), name="token_revoke"),
    path("auth/logoutall/", views.TokenRevokeAllView.as_view(), name="token_revoke_all"),
    path("", include(router.urls)),
]
