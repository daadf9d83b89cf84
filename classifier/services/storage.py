"""Stored files: where a dataset's and a version's files live, and deleting them.

Everything a dataset owns sits under two folders (``datasets/<id>/`` for images and thumbnails,
``models/<id>/`` for versions' artifacts), so deleting a dataset or a version deletes a folder, and
no file is forgotten when an artifact is added later.
"""


def dataset_images_folder(dataset_id: int) -> str:
    return f"datasets/{dataset_id}"


def dataset_models_folder(dataset_id: int) -> str:
    return f"models/{dataset_id}"


def model_version_folder(*, dataset_id: int, number: int, version_id: int) -> str:
    return f"{dataset_models_folder(dataset_id)}/v{number}-{version_id}"
