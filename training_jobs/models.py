"""Background jobs and the per-epoch metrics that make training curves.

A job moves queued → running → succeeded | failed | cancelled, and back from running to queued when
its worker was lost and it resumes. Transitions are made by ``training_jobs.services`` with
conditional updates, so a task delivered twice cannot run twice; ``attempts`` numbers each run, so a
worker whose job was resumed elsewhere cannot write over the new attempt.
"""

from django.conf import settings
from django.db import models


class Job(models.Model):
    class Kind(models.TextChoices):
        IMPORT = "import", "Import"
        AUGMENT = "augment", "Augmentation"
        TRAIN = "train", "Training"
        BATCH_PREDICT = "batch_predict", "Batch prediction"
        LABEL_ISSUES = "label_issues", "Label-issue search"
        SCORE = "score", "Scoring"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    TERMINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    # What the job was asked to do (e.g. the stored archive's name) and what it found.
    params = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    # A file the job produced for the user (a batch prediction's CSV), through the storage API.
    result_file = models.FileField(max_length=300, blank=True)
    # Every row of the report's lists when they were longer than the report keeps (report_limits).
    report_file = models.FileField(max_length=300, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    dataset = models.ForeignKey(
        "classifier.Dataset", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    model_version = models.ForeignKey(
        "classifier.ModelVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    celery_task_id = models.CharField(max_length=64, blank=True)
    # How many times a worker has started this job: 1 on the first run, more after a lost worker.
    attempts = models.PositiveIntegerField(default=0)
    # When its task was last handed to the broker; null while that has not succeeded.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.TERMINAL_STATUSES


class EpochMetric(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="epochs")
    epoch = models.PositiveIntegerField()
    phase = models.CharField(max_length=20, blank=True)
    loss = models.FloatField(null=True)
    accuracy = models.FloatField(null=True)
    val_loss = models.FloatField(null=True)
    val_accuracy = models.FloatField(null=True)
    learning_rate = models.FloatField(null=True)
    seconds = models.FloatField(null=True)

    class Meta:
        ordering = ["job", "epoch"]
        constraints = [models.UniqueConstraint(fields=["job", "epoch"], name="epoch_unique_per_job")]

    def __str__(self) -> str:
        return f"{self.job} epoch {self.epoch}"
