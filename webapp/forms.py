"""Forms of the account pages: sign up."""

from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User

from webapp.selectors import invitation_is_usable
from webapp.services import INVITATION_REFUSED_MESSAGE


class SignUpForm(UserCreationForm[User]):
    """Django's sign-up form plus an optional email, kept for password resets by an admin, and an
    invitation code when sign-up is by invitation."""

    email = forms.EmailField(required=False, help_text="Optional.")
    invitation_code = forms.CharField(
        max_length=64, help_text="The code from the invitation you were given.", strip=True
    )

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if settings.SIGHTLINE_SIGNUP != "invite":
            del self.fields["invitation_code"]

    def clean_invitation_code(self) -> str:
        code: str = self.cleaned_data["invitation_code"]
        if not invitation_is_usable(code=code):
            raise forms.ValidationError(INVITATION_REFUSED_MESSAGE)
        return code
