from django.apps import AppConfig


class ClassifierConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "classifier"

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        # Every decoder in the process (imports, training, serving) refuses decompression bombs
        # at the same limit the import checks report.
        Image.MAX_IMAGE_PIXELS = settings.SIGHTLINE_MAX_IMAGE_PIXELS

        from classifier.jobs import register

        register()
        # Queued predictions send their task by name (``services.prediction_queue``); registering it in
        # every process, web ones included, lets eager mode (CELERY_TASK_ALWAYS_EAGER) run it inline.
        import classifier.tasks  # noqa: F401
