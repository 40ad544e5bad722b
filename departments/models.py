"""Departments, their members and their API keys: who may act, and on whose behalf."""

from django.conf import settings
from django.db import models


class Department(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="departments", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A department's key for the REST API. Only a SHA-256 of the key is kept.

    The key itself has 256 bits from `secrets`, so a fast hash is enough: there is nothing to
    brute-force. `prefix` is shown in the admin so people can tell their keys apart.
    """

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.department})"
