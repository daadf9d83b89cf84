app_name = "training_jobs"

"""Routes (filled in by the feature work)."""

urlpatterns: list = []
