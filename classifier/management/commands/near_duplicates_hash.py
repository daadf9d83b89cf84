"""Hash the images stored before perceptual hashes were computed at upload, so every dataset's
near-duplicate check sees all of them at once (the check otherwise hashes them a few hundred per look).

    manage.py near_duplicates_hash [--dataset ID ...] [--retry-unreadable]
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from classifier.ml.near_duplicates import UNREADABLE
from classifier.models import Dataset, DatasetImage
from classifier.services.near_duplicates import perceptual_hashes_fill


class Command(BaseCommand):
    help = "Compute the missing perceptual hashes of every dataset's images (or of the datasets given)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", type=int, action="append", help="A dataset id; repeat for more.")
        parser.add_argument(
            "--retry-unreadable",
            action="store_true",
            help="Also try again the images whose files could not be read before (after restoring them).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        waiting = ["", UNREADABLE] if options["retry_unreadable"] else [""]
        pending = DatasetImage.objects.filter(perceptual_hash__in=waiting).exclude(
            origin=DatasetImage.Origin.AUGMENTED
        )
        datasets = Dataset.objects.filter(id__in=pending.values("dataset_id")).order_by("id")
        if options["dataset"]:
            datasets = datasets.filter(id__in=options["dataset"])
        total = 0
        for dataset in datasets:
            filled = perceptual_hashes_fill(dataset=dataset, retry_unreadable=options["retry_unreadable"])
            total += filled
            self.stdout.write(f"{dataset.name} (#{dataset.id}): {filled} images hashed")
        self.stdout.write(self.style.SUCCESS(f"{total} images hashed"))
