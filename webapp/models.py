"""Account rows of the platform itself: invitation codes for sign-up by invitation."""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def invitation_code_new() -> str:
    # 16 random characters from a URL-safe alphabet: no guessing one within the sign-up rate limit.
    return secrets.token_urlsafe(12)


class Invitation(models.Model):
    """A one-time code that lets one person sign up while SIGHTLINE_SIGNUP is "invite"."""

    code = models.CharField(max_length=64, unique=True, default=invitation_code_new)
    note = models.CharField(max_length=200, blank=True, help_text="Who it is for (only staff see this).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    used_by = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitation",
        editable=False,
    )
    used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.note or self.code
