"""Django admin for the platform's own rows: invitation codes (sign-up by invitation)."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from webapp.models import Invitation
from webapp.users import request_user


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    """Staff add an invitation (a note is enough: the code is made, the expiry proposed) and send its link."""

    list_display = ("code", "note", "created_by", "created_at", "expires_at", "used_by", "used_at")
    list_filter = ("used_at",)
    search_fields = ("code", "note", "used_by__username")
    readonly_fields = ("code", "created_by", "created_at", "used_by", "used_at", "signup_link")
    fields = ("note", "expires_at", "code", "signup_link", "created_by", "created_at", "used_by", "used_at")

    @admin.display(description="Sign-up link")
    def signup_link(self, invitation: Invitation) -> str:
        if not invitation.pk:
            return "Shown once saved."
        return f"{reverse('signup')}?code={invitation.code}"

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"expires_at": timezone.now() + timedelta(days=settings.SIGHTLINE_INVITATION_DAYS)}

    def save_model(self, request: HttpRequest, obj: Invitation, form: ModelForm[Invitation], change: bool) -> None:
        if not change:
            obj.created_by = request_user(request)
        super().save_model(request, obj, form, change)
