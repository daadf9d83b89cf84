from django.apps import AppConfig


class TrainingJobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "training_jobs"
    verbose_name = "Jobs"
