"""Create, change and delete datasets and their label classes."""

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from classifier.models import Dataset, LabelClass
from classifier.services.quotas import training_usage_settle
from classifier.services.storage import dataset_images_folder, dataset_models_folder
from training_jobs.models import Job
from training_jobs.services import JobInputError, jobs_cancel, jobs_result_files
from webapp.storage import stored_files_delete, stored_folder_delete


def job_dataset(job: Job) -> Dataset:
    """The dataset an import, augmentation, scoring or label-issue job works on. Such a job is deleted with
    its dataset, so one without a dataset was made wrong: it fails saying so."""
    if job.dataset is None:
        raise JobInputError(f"Job {job.id} names no dataset to work on.")
    return job.dataset


def split_fractions_check(val_fraction: float, test_fraction: float) -> None:
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValidationError(
            "Split fractions must each be in [0, 1) and leave room for training: "
            f"val={val_fraction}, test={test_fraction}."
        )


def _check_name_free(*, owner: User, name: str, exclude_id: int | None = None) -> None:
    taken = Dataset.objects.filter(owner=owner, name=name)
    if exclude_id is not None:
        taken = taken.exclude(id=exclude_id)
    if taken.exists():
        raise ValidationError({"name": f'You already have a dataset named "{name}".'})


@transaction.atomic
def dataset_create(
    *,
    owner: User,
    name: str,
    description: str = "",
    val_fraction: float | None = None,
    test_fraction: float | None = None,
    split_seed: int = 0,
) -> Dataset:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A dataset needs a name."})
    val_fraction = settings.SIGHTLINE_DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction
    test_fraction = settings.SIGHTLINE_DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
    split_fractions_check(val_fraction, test_fraction)
    _check_name_free(owner=owner, name=name)
    return Dataset.objects.create(
        owner=owner,
        name=name,
        description=description,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
    )


@transaction.atomic
def dataset_update(*, dataset: Dataset, name: str | None = None, description: str | None = None) -> Dataset:
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError({"name": "A dataset needs a name."})
        _check_name_free(owner=dataset.owner, name=name, exclude_id=dataset.id)
        dataset.name = name
    if description is not None:
        dataset.description = description
    dataset.save()
    return dataset


def dataset_delete(*, dataset: Dataset) -> None:
    """Cancel the dataset's jobs, delete its rows, then its images, model files and job results once
    the deletion has committed.

    A job's worker finds its job gone at its next heartbeat and stops; an image it stores meanwhile
    cannot be written (its dataset row is gone), and its files are removed with the failed write."""
    folders = [dataset_images_folder(dataset.id), dataset_models_folder(dataset.id)]
    with transaction.atomic():
        jobs = Job.objects.filter(Q(dataset=dataset) | Q(model_version__dataset=dataset))
        jobs_cancel(jobs=jobs)
        # Its trainings' minutes still count today once their jobs are gone.
        training_usage_settle(jobs=jobs)
        results = jobs_result_files(jobs=jobs)
        dataset.delete()

        def files_delete() -> None:
            for folder in folders:
                stored_folder_delete(folder=folder)
            stored_files_delete(names=results)

        transaction.on_commit(files_delete, robust=True)


def label_class_get_or_create(*, dataset: Dataset, name: str) -> LabelClass:
    name = name.strip()
    if not name:
        raise ValidationError({"label": "A class name cannot be empty."})
    if len(name) > 200:
        raise ValidationError({"label": "A class name can be at most 200 characters."})
    label, _ = LabelClass.objects.get_or_create(dataset=dataset, name=name)
    return label


def label_class_delete(*, label: LabelClass) -> None:
    """Delete a class; its images stay in the dataset, unlabelled."""
    label.delete()
