"""Background jobs (import, augmentation, training, batch prediction, export) and their Celery tasks."""
