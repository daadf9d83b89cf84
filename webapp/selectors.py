"""Account reads: which invitation codes can still sign an account up."""

from django.db.models import QuerySet
from django.utils import timezone

from webapp.models import Invitation


def invitations_usable() -> QuerySet[Invitation]:
    """Invitations not used yet and not expired."""
    return Invitation.objects.filter(used_at__isnull=True).exclude(expires_at__lte=timezone.now())


def invitation_is_usable(*, code: str) -> bool:
    return invitations_usable().filter(code=code).exists()
