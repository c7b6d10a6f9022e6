from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from registry.accounts import views as account_views
from registry.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    # Password reset by email (a link valid for PASSWORD_RESET_TIMEOUT), and two-factor pages.
    path("accounts/reset/", account_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("accounts/", include("registry.accounts.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]
# Each app's screens; apps own their url modules so that they can grow independently.
urlpatterns += [
    path("", include("registry.patients.urls")),
    path("", include("registry.procedures.urls")),
    path("", include("registry.followup.urls")),
    path("s/", include("registry.surveys.urls")),
    path("reports/", include("reports.urls")),
    path("api/", include("registry.api.urls")),
    path("imports/", include("registry.imports.urls")),
    path("", include("registry.fractures.urls")),
]
