from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("quarterly/", views.quarterly_list, name="quarterly_list"),
    path("quarterly/rebuild/", views.quarterly_rebuild, name="quarterly_rebuild"),
    path("quarterly/<int:report_id>/", views.quarterly_detail, name="quarterly_detail"),
    path("quarterly/<int:report_id>/<str:file_type>/", views.quarterly_file, name="quarterly_file"),
    path("export/", views.research_export, name="research_export"),
    path("monitoring/", views.monitoring, name="monitoring"),
]
