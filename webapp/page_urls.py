"""Account routes: sign up, sign in, sign out (POST only, as Django requires), and the home redirect."""

from django.contrib.auth import views as auth_views
from django.urls import path

from webapp import views

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
