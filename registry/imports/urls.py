from django.urls import path

from registry.imports import views

app_name = "imports"
urlpatterns = [
    path("", views.import_home, name="home"),
    path("mapping/", views.mapping_page, name="mapping"),
    path("<int:batch_id>/", views.import_preview_page, name="preview"),
    path("<int:batch_id>/commit/", views.import_commit_view, name="commit"),
    path("template.<str:file_format>", views.import_template, name="template"),
    path("export/", views.export_download, name="export"),
]
