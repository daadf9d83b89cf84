"""Account writes: sign-up (open or by invitation) and deactivating accounts."""

from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from webapp.selectors import invitations_usable

SIGNUP_CLOSED_MESSAGE = "Sign-up is closed on this server. Ask its administrators for an account."
INVITATION_REFUSED_MESSAGE = "This invitation code is unknown, already used or expired."


@transaction.atomic
def user_sign_up(
    *, username: str, password: str, email: str = "", invitation_code: str | None = None
) -> User:
    """Create an account as SIGHTLINE_SIGNUP allows: refused when closed, and by invitation only with a
    usable code, which this account then uses up (claimed with a conditional update, so two sign-ups
    racing for one code cannot both succeed: the loser's account is rolled back)."""
    mode = settings.SIGHTLINE_SIGNUP
    if mode == "closed":
        raise PermissionDenied(SIGNUP_CLOSED_MESSAGE)
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    if mode == "invite":
        claimed = invitations_usable().filter(code=invitation_code or "").update(
            used_by=user, used_at=timezone.now()
        )
        if claimed != 1:
            raise ValidationError({"invitation_code": INVITATION_REFUSED_MESSAGE})
    return user


def users_deactivate(*, users: Iterable[AbstractBaseUser], by: AbstractBaseUser) -> int:
    """Stop the accounts signing in or using their tokens (their rows and data stay; reactivating
    restores them). The acting staff member is never among them. Returns how many changed."""
    ids = [user.pk for user in users if user.pk != by.pk]
    return get_user_model().objects.filter(pk__in=ids, is_active=True).update(is_active=False)
