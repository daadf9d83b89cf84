from django.apps import AppConfig


class TrainingJobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "training_jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # Jobs are sent by task name (``job_send``); registering the task in every process, web ones
        # included, lets eager mode (CELERY_TASK_ALWAYS_EAGER) run them inline, as it did when the
        # sender imported the task.
        import training_jobs.tasks  # noqa: F401
