"""Django admin for staff: every dataset, class and image, whoever owns it.

Deleting here goes through the same services as the pages and the API (jobs cancelled first, every
stored file removed), never through a bare row delete that would leave files and running jobs behind.
"""

from typing import Generic, TypeVar

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from classifier.models import AccountQuota, Dataset, DatasetImage, LabelClass, ModelVersion
from classifier.services.accounts import user_delete
from classifier.services.datasets import dataset_delete
from classifier.services.image_deletion import images_delete
from classifier.services.model_versions import model_version_create, model_version_delete, model_version_retrain
from webapp.services import users_deactivate
from webapp.users import request_user

ModelT = TypeVar("ModelT", bound=Model)


class ServiceDeleteMixin(Generic[ModelT]):
    """Route the admin's delete (one object, or the bulk action) through a service function."""

    def delete_with_service(self, obj: ModelT) -> None:
        raise NotImplementedError

    def delete_model(self, request: HttpRequest, obj: ModelT) -> None:
        self.delete_with_service(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelT]) -> None:
        for obj in queryset:
            self.delete_with_service(obj)


class LabelClassInline(admin.TabularInline[LabelClass, Dataset]):
    model = LabelClass
    extra = 0


@admin.register(Dataset)
class DatasetAdmin(ServiceDeleteMixin[Dataset], admin.ModelAdmin[Dataset]):
    list_display = ("name", "owner", "created_at")
    list_filter = ("owner",)
    search_fields = ("name", "description", "owner__username")
    inlines = [LabelClassInline]
    actions = ["retrain"]

    def delete_with_service(self, obj: Dataset) -> None:
        dataset_delete(dataset=obj)

    @admin.action(description="Retrain: a new version from the latest version's settings")
    def retrain(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        user = request_user(request)
        for dataset in queryset:
            latest = dataset.model_versions.order_by("-number").first()
            try:
                version = (
                    model_version_retrain(version=latest, requested_by=user)
                    if latest
                    else model_version_create(dataset=dataset, requested_by=user, options={})
                )
            except ValidationError as exc:
                self.message_user(request, f"{dataset}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{dataset}: version {version.number} queued for training.")


@admin.register(LabelClass)
class LabelClassAdmin(admin.ModelAdmin[LabelClass]):
    list_display = ("name", "dataset")
    search_fields = ("name", "dataset__name")


@admin.register(DatasetImage)
class DatasetImageAdmin(admin.ModelAdmin[DatasetImage]):
    def delete_model(self, request: HttpRequest, obj: DatasetImage) -> None:
        images_delete(images=DatasetImage.objects.filter(id=obj.id))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[DatasetImage]) -> None:
        images_delete(images=queryset)

    list_display = ("id", "original_name", "dataset", "label", "split", "origin", "width", "height", "created_at")
    list_filter = ("split", "origin")
    search_fields = ("original_name", "sha256", "dataset__name")
    raw_id_fields = ("dataset", "label", "source_image")
    readonly_fields = ("sha256", "width", "height", "stored_bytes", "created_at")


@admin.register(ModelVersion)
class ModelVersionAdmin(ServiceDeleteMixin[ModelVersion], admin.ModelAdmin[ModelVersion]):
    list_display = ("__str__", "backbone", "image_size", "status", "is_active", "created_by", "created_at")
    list_filter = ("status", "is_active", "backbone")
    search_fields = ("dataset__name",)
    raw_id_fields = ("dataset", "parent", "created_by")
    readonly_fields = ("class_names", "metrics", "calibration", "most_confused", "trained_at", "created_at")

    def delete_with_service(self, obj: ModelVersion) -> None:
        # Staff confirmed the deletion page, which says what goes; even the active version may.
        model_version_delete(version=obj, allow_active=True)


class AccountQuotaInline(admin.StackedInline[AccountQuota, User]):
    """The account's own limits; an empty field keeps the site's default (SIGHTLINE_QUOTA_*), 0 is no limit."""

    model = AccountQuota
    verbose_name = "quota"
    verbose_name_plural = "quotas (empty: the site's default; 0: no limit; staff have none)"


admin.site.unregister(User)


@admin.register(User)
class SightlineUserAdmin(ServiceDeleteMixin[User], UserAdmin[User]):
    """The stock user admin, but deleting a user deletes their datasets' files and jobs too, and an account
    can be deactivated instead: it keeps its data but can no longer sign in or use its token."""

    list_display = ("username", "email", "is_active", "is_staff", "date_joined", "last_login")
    actions = ["deactivate_selected"]
    inlines = [AccountQuotaInline]

    def delete_with_service(self, obj: User) -> None:
        user_delete(user=obj)

    @admin.action(description="Deactivate selected accounts (no sign-in, no API token; data kept)")
    def deactivate_selected(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        changed = users_deactivate(users=queryset, by=request_user(request))
        self.message_user(request, f"{changed} account(s) deactivated. Your own account is never included.")
