"""Datasets, label classes, images, model versions and predictions."""
