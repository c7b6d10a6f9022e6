from django.urls import path

from registry.procedures import views

app_name = "procedures"
urlpatterns = [
    path("cases/new/", views.new_case, name="new_case"),
    path("procedures/<int:pk>/edit/", views.procedure_edit, name="edit"),
    path("procedures/<int:pk>/levels/add/", views.level_add, name="level_add"),
    path("procedures/<int:pk>/complications/add/", views.complication_add, name="complication_add"),
    path("levels/<int:pk>/edit/", views.level_edit, name="level_edit"),
    path("levels/<int:pk>/remove/", views.level_delete, name="level_delete"),
    path("levels/<int:pk>/leaks/add/", views.leak_add, name="leak_add"),
    path("leaks/<int:pk>/edit/", views.leak_edit, name="leak_edit"),
    path("leaks/<int:pk>/remove/", views.leak_delete, name="leak_delete"),
    path("complications/<int:pk>/edit/", views.complication_edit, name="complication_edit"),
    path("recall/", views.lot_recall, name="lot_recall"),
    path("barcode/", views.barcode_lookup, name="barcode_lookup"),
]
