"""Django admin for staff: every dataset, class and image, whoever owns it."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from classifier.models import Dataset, DatasetImage, LabelClass, ModelVersion
from classifier.services.model_versions import model_version_create, model_version_retrain


class LabelClassInline(admin.TabularInline):
    model = LabelClass
    extra = 0


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "created_at")
    list_filter = ("owner",)
    search_fields = ("name", "description", "owner__username")
    inlines = [LabelClassInline]
    actions = ["retrain"]

    @admin.action(description="Retrain: a new version from the latest version's settings")
    def retrain(self, request, queryset):
        for dataset in queryset:
            latest = dataset.model_versions.order_by("-number").first()
            try:
                version = (
                    model_version_retrain(version=latest, requested_by=request.user)
                    if latest
                    else model_version_create(dataset=dataset, requested_by=request.user, options={})
                )
            except ValidationError as exc:
                self.message_user(request, f"{dataset}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{dataset}: version {version.number} queued for training.")


@admin.register(LabelClass)
class LabelClassAdmin(admin.ModelAdmin):
    list_display = ("name", "dataset")
    search_fields = ("name", "dataset__name")


@admin.register(DatasetImage)
class DatasetImageAdmin(admin.ModelAdmin):
    list_display = ("id", "original_name", "dataset", "label", "split", "origin", "width", "height", "created_at")
    list_filter = ("split", "origin")
    search_fields = ("original_name", "sha256", "dataset__name")
    raw_id_fields = ("dataset", "label", "source_image")
    readonly_fields = ("sha256", "width", "height", "created_at")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "backbone", "image_size", "status", "is_active", "created_by", "created_at")
    list_filter = ("status", "is_active", "backbone")
    search_fields = ("dataset__name",)
    raw_id_fields = ("dataset", "parent", "created_by")
    readonly_fields = ("class_names", "metrics", "calibration", "most_confused", "trained_at", "created_at")
