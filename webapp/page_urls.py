"""Account routes: sign up, sign in, sign out (POST only, as Django requires), and the home redirect.

Sign-up and sign-in posts are rate-limited per client address (webapp.throttling)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from webapp import views
from webapp.throttling import rate_limited_page

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path(
        "login/",
        rate_limited_page("login", counted="sign-in attempts")(
            auth_views.LoginView.as_view(redirect_authenticated_user=True)
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
