"""Writes to datasets, classes and images. Views, serializers, admin actions and tasks call these."""
