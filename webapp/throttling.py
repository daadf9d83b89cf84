"""Rate limits: the client's real address, DRF throttles keyed on it (or on the account), and the same
limits for the sign-in and sign-up pages.

Counts live in the default cache (``SIGHTLINE_CACHE_URL``: Redis, shared by every web process), kept by
``webapp.rate_counts`` (checked and added to in one atomic step), and rates come from
``SIGHTLINE_THROTTLE_RATES``, read on each request.
"""

import logging
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render
from redis.exceptions import RedisError
from rest_framework import status
from rest_framework.exceptions import APIException, Throttled
from rest_framework.throttling import SimpleRateThrottle

from webapp.rate_counts import request_count

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

_PERIOD_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
logger = logging.getLogger(__name__)
# Set in a request's META by the predict endpoint's lean path (classifier.api.predict_fast_path) once it
# has counted the request, so the DRF view it hands the request on to does not count it again. No
# client can set it: headers reach META as HTTP_* keys.
PREDICTION_COUNTED = "sightline.prediction_counted"


class CountsUnavailable(APIException):
    """The rate limits' counts cannot be read (Redis is down or does not answer in time): the request is
    refused rather than let through unlimited."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = (
        "Sightline cannot check its rate limits right now (the store that keeps their counts does not "
        "answer). Nothing was done; try again in a minute."
    )
    default_code = "rate_limit_counts_unavailable"


def client_address(request: HttpRequest) -> str:
    """The address of the client: the connection's own, or, behind ``SIGHTLINE_TRUSTED_PROXIES`` proxies,
    the one the outermost of them saw (each proxy appends the address it received from to
    X-Forwarded-For, so anything further left was written by the client and proves nothing)."""
    remote: str = request.META.get("REMOTE_ADDR", "")
    proxies = settings.SIGHTLINE_TRUSTED_PROXIES
    forwarded: str = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies == 0 or not forwarded:
        return remote
    addresses = [address.strip() for address in forwarded.split(",")]
    return addresses[-min(proxies, len(addresses))] or remote


class AddressRateThrottle(SimpleRateThrottle):
    """Counts requests per client address under ``scope``; over the rate, a 429 that says which limit was
    reached and, with DRF's Retry-After header, when to try again."""

    counted = "requests"
    counted_per = "from your address"
    # Not DRF's "throttle_…": its keys hold a pickled list, ours a Redis sorted set, and neither version
    # of the code must meet the other's keys (an upgrade, or going back to the earlier release).
    cache_format = "rate_%(scope)s_%(ident)s"
    # Set by SimpleRateThrottle from the rate, which settings checked reads like "10/min".
    num_requests: int
    duration: int

    def __init__(self, scope: str | None = None) -> None:
        if scope is not None:
            self.scope = scope
        super().__init__()

    def get_rate(self) -> str:
        if self.scope is None:
            raise ImproperlyConfigured(f"{type(self).__name__} has no scope to look its rate up by.")
        rate: str = settings.SIGHTLINE_THROTTLE_RATES[self.scope]
        return rate

    def get_ident(self, request: HttpRequest) -> str:
        return client_address(request)

    def get_cache_key(self, request: HttpRequest, view: object) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request: "Request", view: "APIView") -> bool:
        """DRF's rule (fewer than the rate's count in its last period), counted atomically: see
        ``webapp.rate_counts`` for why DRF's read-modify-write of the cache is not used."""
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        try:
            counted = request_count(
                cache=self.cache, key=self.key, now=self.now, duration=self.duration, limit=self.num_requests
            )
        except RedisError as error:
            # One line a request, no traceback: while Redis is down every counted request ends here.
            logger.error("The %s rate limit's count could not be read from Redis: %s", self.scope, error)
            raise CountsUnavailable from None
        self.frees_at = counted.frees_at
        return True if counted.allowed else self.throttle_failure()

    def wait(self) -> float:
        """Seconds until enough counted requests leave the period for one more to be allowed."""
        return max(0.0, self.frees_at + self.duration - self.now)

    def throttle_failure(self) -> bool:
        period = _PERIOD_NAMES.get(self.duration, f"{self.duration} seconds")
        raise Throttled(
            wait=self.wait(),
            detail=f"Rate limit reached: {self.num_requests} of {self.num_requests} {self.counted} per {period} "
            f"{self.counted_per} used.",
        )


class TokenRateThrottle(AddressRateThrottle):
    """Password guesses at the token endpoint, per address (django-axes locks out a username too)."""

    scope = "token"
    counted = "sign-in attempts"


class PredictionRateThrottle(AddressRateThrottle):
    """Predictions asked for by one account (reading them back is not counted)."""

    scope = "predictions"
    counted = "predictions"
    counted_per = "for your account"

    def allow_request(self, request: "Request", view: "APIView") -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS") or request.META.get(PREDICTION_COUNTED):
            return True
        return super().allow_request(request, view)

    def get_ident(self, request: HttpRequest) -> str:
        user = request.user
        return f"user-{user.pk}" if user.is_authenticated else client_address(request)


def rate_limited_page(
    scope: str, counted: str
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Counts a page's form posts per client address under ``scope``; over the rate the page answers 429
    with a readable explanation and Retry-After, and the view does not run."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def limited(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
            if request.method == "POST":
                throttle = AddressRateThrottle(scope)
                throttle.counted = counted
                try:
                    # DRF's throttle reads only the request's META and needs no view; a page's request has both.
                    throttle.allow_request(request, None)  # type: ignore[arg-type]
                except Throttled as refusal:
                    response = render(request, "429.html", {"message": refusal.detail}, status=429)
                    # Throttled sets ``wait`` in its constructor; its stub does not declare it.
                    response["Retry-After"] = str(refusal.wait)  # type: ignore[attr-defined]
                    return response
                except CountsUnavailable as unavailable:
                    return render(request, "503.html", {"message": unavailable.detail}, status=503)
            return view(request, *args, **kwargs)

        return limited

    return decorator
