"""Rows for datasets, their label classes and images.

Business rules (imports, splits, relabelling) live in ``classifier.services``; these classes only
describe what is stored.
"""

from django.conf import settings
from django.db import models


class Dataset(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # A public dataset (the ready-made ImageNet-1k models) is readable and usable by every user and
    # changeable by staff only.
    is_public = models.BooleanField(default=False)
    # Splits are reproducible from this seed and these fractions (see services.splits).
    split_seed = models.PositiveIntegerField(default=0)
    val_fraction = models.FloatField(default=0.1)
    test_fraction = models.FloatField(default=0.1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="dataset_name_unique_per_owner"),
        ]

    def __str__(self) -> str:
        return self.name


class LabelClass(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="classes")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "label classes"
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="label_class_name_unique_per_dataset"),
        ]

    def __str__(self) -> str:
        return self.name


class DatasetImage(models.Model):
    class Split(models.TextChoices):
        TRAIN = "train", "Train"
        VAL = "val", "Validation"
        TEST = "test", "Test"

    class Origin(models.TextChoices):
        UPLOAD = "upload", "Upload"
        IMPORT = "import", "Import"
        AUGMENTED = "augmented", "Augmented"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="images")
    label = models.ForeignKey(
        LabelClass, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    file = models.FileField(max_length=300)
    thumbnail = models.FileField(max_length=300, blank=True)
    original_name = models.CharField(max_length=300, blank=True)
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    split = models.CharField(max_length=5, choices=Split.choices, default=Split.TRAIN)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.UPLOAD)
    source_image = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="augmented_copies"
    )
    # The import or augmentation job that stored it: a job resumed after a lost worker counts what
    # its earlier attempts stored as its own, not as duplicates.
    job = models.ForeignKey(
        "training_jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="created_images"
    )
    # What its files (the original and the thumbnail) take in storage: counted against its owner's quota.
    stored_bytes = models.PositiveBigIntegerField(default=0)
    # A perceptual hash of the picture (hex; services.near_duplicates): resized, recompressed or slightly
    # cropped copies hash close to each other, which the exact sha256 cannot tell. Empty until computed.
    perceptual_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "sha256"], name="image_sha256_unique_per_dataset"),
        ]
        indexes = [models.Index(fields=["dataset", "label", "split"])]

    def __str__(self) -> str:
        return self.original_name or self.sha256[:12]


class ModelVersion(models.Model):
    """One trained (or training) classifier of a dataset, numbered 1, 2, 3… per dataset.

    Class names are frozen at training time: the dataset's classes may change later, and a version
    must answer with the names it was trained on, in its own order.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="model_versions")
    number = models.PositiveIntegerField()
    backbone = models.CharField(max_length=50)
    image_size = models.PositiveIntegerField()
    # The full TrainingConfig (classifier.ml.config) the version was trained with.
    hyperparameters = models.JSONField(default=dict)
    # How its time budget was spent (classifier.ml.plan): the budget, what the plan chose and why, the
    # options the user gave, and what the worker measured while training (epoch time, expected end).
    plan = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    class_names = models.JSONField(default=list, blank=True)
    keras_file = models.FileField(max_length=300, blank=True)
    tflite_file = models.FileField(max_length=300, blank=True)
    # The same served model quantized to int8 (classifier.ml.quantize); empty when quantization failed.
    tflite_int8_file = models.FileField(max_length=300, blank=True)
    # The int8 model's record: accuracy (float) and accuracy_int8 on the same test images, test_images,
    # calibration_images, size_bytes, or error. Apart from `metrics` because serving reads it on every
    # prediction, where the large metrics are not loaded (see services.quantization).
    quantization = models.JSONField(default=dict, blank=True)
    # A zipped TensorFlow SavedModel of the Keras model, for TF Serving and other TF tooling.
    savedmodel_file = models.FileField(max_length=300, blank=True)
    # The exact images it was trained, validated and tested on, with the label and split each had then
    # (services.manifests): its metrics stay reproducible after relabels, moves and deletions.
    manifest_file = models.FileField(max_length=300, blank=True)
    # accuracy, per_class, confusion_matrix, best_epoch, split sizes (see services.training).
    metrics = models.JSONField(default=dict, blank=True)
    # Test images the version got most confidently wrong: [{image_id, true, predicted, probability}].
    most_confused = models.JSONField(default=list, blank=True)
    # temperature, ece_before, ece_after and reliability bins before/after.
    calibration = models.JSONField(default=dict, blank=True)
    # Reference embeddings for telling "none of my classes" apart (classifier.ml.unknown), and the
    # detector's summary: method, threshold chosen on validation data, AUROC where measured.
    unknown_file = models.FileField(max_length=300, blank=True)
    unknown_stats = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=False)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="model_versions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    trained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="model_version_number_unique_per_dataset"),
            models.UniqueConstraint(
                fields=["dataset"], condition=models.Q(is_active=True), name="one_active_version_per_dataset"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"


class Prediction(models.Model):
    """One image classified by one model version (or an ensemble of several), kept in its owner's
    history with the image, the answer, and the owner's feedback on it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="predictions"
    )
    # For an ensemble: the ids of every member version, in the order asked for.
    ensemble_version_ids = models.JSONField(default=list, blank=True)
    image = models.FileField(max_length=300, blank=True)
    source_url = models.URLField(max_length=2000, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    top_k = models.PositiveSmallIntegerField(default=5)
    # [{"label", "probability"}] sorted; for ensembles also {"members": [{version, predictions}]}.
    results = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)
    is_unknown = models.BooleanField(default=False)
    unknown_score = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    # A queued prediction's task: when it was last handed to the broker (null: not yet, or refused),
    # when a worker last started it, and how many times one did (a worker lost mid-prediction).
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Feedback: right or wrong, and what it really is; a wrong answer can become a training image.
    is_correct = models.BooleanField(null=True, blank=True)
    correct_label = models.CharField(max_length=200, blank=True)
    added_image = models.ForeignKey(
        DatasetImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="from_predictions"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Prediction #{self.pk}"


class AccountQuota(models.Model):
    """One account's own limits (classifier.services.quotas), set by staff in the admin. An empty field
    means the site's default (``SIGHTLINE_QUOTA_*``); 0 means no limit."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_quota")
    images = models.PositiveIntegerField(null=True, blank=True, help_text="Images stored, in all datasets.")
    storage_bytes = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Bytes of image files stored (5 GB = 5368709120)."
    )
    active_jobs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Jobs of any kind queued or running at once."
    )
    active_gpu_jobs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Trainings and batch predictions queued or running at once."
    )
    training_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Training minutes in any 24 hours (budgets of the trainings started)."
    )

    def __str__(self) -> str:
        return f"Quota of {self.user}"


class TrainingUsage(models.Model):
    """A training's claim on its account's daily training minutes. Kept when its job is deleted with its
    version or dataset, so deleting a version does not give the minutes back."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_usage")
    job = models.OneToOneField(
        "training_jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="training_usage"
    )
    budget_minutes = models.FloatField()
    # The minutes it ran, written when its job is about to be deleted; while the job exists they are read
    # from it (its budget while it is queued or running).
    minutes = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.budget_minutes:g} min for {self.user}"


class LabelIssue(models.Model):
    """An image a label-issue job found likely mislabelled, waiting for its owner's review.

    Relabelling or deleting the image ends the issue (the row goes); keeping the label marks it kept, and
    a later job does not ask again about the same image with the same label.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        KEPT = "kept", "Kept"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="label_issues")
    image = models.OneToOneField(DatasetImage, on_delete=models.CASCADE, related_name="label_issue")
    # The label the image had when it was judged, and the one the out-of-sample model suggests.
    given_label = models.ForeignKey(LabelClass, null=True, on_delete=models.CASCADE, related_name="+")
    suggested_label = models.ForeignKey(LabelClass, null=True, on_delete=models.SET_NULL, related_name="+")
    # How likely the given label is wrong, 0-1: higher is more suspicious; the queue is sorted by it.
    score = models.FloatField()
    # The out-of-sample probability of the given and of the suggested label.
    given_probability = models.FloatField(null=True)
    suggested_probability = models.FloatField(null=True)
    status = models.CharField(max_length=5, choices=Status.choices, default=Status.OPEN)
    job = models.ForeignKey(
        "training_jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="label_issues"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score", "id"]
        indexes = [models.Index(fields=["dataset", "status", "-score"])]

    def __str__(self) -> str:
        return f"Label issue of {self.image}"
