"""Account pages (sign up; sign in and out are Django's auth views) and the home redirect."""

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from webapp.forms import SignUpForm


def home(request: HttpRequest) -> HttpResponse:
    # Datasets are where every workflow starts; the login requirement there sends strangers to sign in.
    return redirect("classifier:dataset-list")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("classifier:dataset-list")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("classifier:dataset-list")
    return render(request, "registration/signup.html", {"form": form})
