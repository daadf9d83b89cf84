"""Account pages (sign up; sign in and out are Django's auth views) and the home redirect."""

from django.conf import settings
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from webapp.forms import SignUpForm
from webapp.services import SIGNUP_CLOSED_MESSAGE, user_sign_up
from webapp.throttling import rate_limited_page


def home(request: HttpRequest) -> HttpResponse:
    # Datasets are where every workflow starts; the login requirement there sends strangers to sign in.
    return redirect("classifier:dataset-list")


@require_http_methods(["GET", "POST"])
@rate_limited_page("signup", counted="sign-up attempts")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("classifier:dataset-list")
    if settings.SIGHTLINE_SIGNUP == "closed":
        status = 403 if request.method == "POST" else 200
        return render(request, "registration/signup.html", {"closed_message": SIGNUP_CLOSED_MESSAGE}, status=status)
    # An invitation link (?code=...) fills the code in.
    form = SignUpForm(request.POST or None, initial={"invitation_code": request.GET.get("code", "")})
    if request.method == "POST" and form.is_valid():
        try:
            user = user_sign_up(
                username=form.cleaned_data["username"],
                email=form.cleaned_data.get("email") or "",
                password=form.cleaned_data["password1"],
                invitation_code=form.cleaned_data.get("invitation_code"),
            )
        except ValidationError as refusal:
            form.add_error(None, refusal)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("classifier:dataset-list")
    return render(request, "registration/signup.html", {"form": form})
