"""Django admin for staff: every dataset, class and image, whoever owns it."""

from django.contrib import admin

from classifier.models import Dataset, DatasetImage, LabelClass


class LabelClassInline(admin.TabularInline):
    model = LabelClass
    extra = 0


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "created_at")
    list_filter = ("owner",)
    search_fields = ("name", "description", "owner__username")
    inlines = [LabelClassInline]


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
