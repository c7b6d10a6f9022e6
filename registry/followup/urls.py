from django.urls import path

from registry.followup import views

app_name = "followup"
urlpatterns = [
    path("worklist/", views.worklist, name="worklist"),
    path("worklist/<int:item_id>/done/", views.worklist_done, name="worklist_done"),
    path("worklist/<int:item_id>/assign/", views.worklist_assign, name="worklist_assign"),
    path("account/email/", views.staff_mail_settings, name="staff_mail_settings"),
]
