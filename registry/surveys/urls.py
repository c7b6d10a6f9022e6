from django.urls import path

from registry.surveys import views

app_name = "surveys"
# Patient paths must stay as registry.followup.tokens builds them: /s/<token>/ and /s/<token>/stop/.
# Coordinator paths carry only primary keys (no PHI in URLs).
urlpatterns = [
    path("entry/<int:patient_pk>/", views.entry_choose, name="entry_choose"),
    path("entry/<int:patient_pk>/<int:event_pk>/", views.entry, name="entry"),
    path("<str:token>/", views.survey, name="survey"),
    path("<str:token>/stop/", views.stop, name="stop"),
    path("<str:token>/thanks/", views.thanks, name="thanks"),
]
