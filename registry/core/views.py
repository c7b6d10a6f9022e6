from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from registry import access
from registry.core.health import broker_ok, database_ok


@require_GET
@never_cache
def healthz(request):
    db, db_detail = database_ok()
    broker, broker_detail = broker_ok()
    healthy = db and broker
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "database": db_detail,
            "broker": broker_detail,
        },
        status=200 if healthy else 503,
    )


@login_required
def home(request):
    return render(
        request,
        "core/home.html",
        {
            "identified_sites": access.sites_for_user(request.user),
            "aggregate_sites": access.sites_for_user(request.user, identified=False),
        },
    )
