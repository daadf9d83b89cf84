"""List (by default) or delete stored files that no row references; beat deletes them daily."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from classifier.services.orphans import stored_orphans_delete, stored_orphans_find


class Command(BaseCommand):
    help = "List stored files no row references (a dry run); --delete removes them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--delete", action="store_true", help="Delete them instead of listing them.")
        parser.add_argument(
            "--min-age-hours",
            type=float,
            default=settings.SIGHTLINE_ORPHAN_MIN_AGE_HOURS,
            help="Leave files younger than this alone (a file is written just before its row).",
        )

    def handle(self, *args: Any, delete: bool, min_age_hours: float, **options: Any) -> None:
        min_age = timedelta(hours=min_age_hours)
        orphans = stored_orphans_delete(min_age=min_age) if delete else stored_orphans_find(min_age=min_age)
        for name in orphans:
            self.stdout.write(name)
        verb = "Deleted" if delete else "Found"
        hint = "" if delete or not orphans else " (a dry run: add --delete to remove them)"
        self.stderr.write(f"{verb} {len(orphans)} stored file(s) that no row references{hint}.")
