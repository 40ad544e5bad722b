"""Results exports too large for a web request run as background jobs (issue 19)."""

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("departments", "0007_sender_branding"),
        ("results", "0003_follow_ups_wait_for_frequency_rules"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ExportJob",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                (
                    "kind",
                    models.CharField(
                        choices=[("responses", "Responses"), ("summary", "Summary")], max_length=12
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="queued",
                        max_length=12,
                    ),
                ),
                ("department_ids", models.JSONField(default=list)),
                ("is_cx_lead", models.BooleanField(default=False)),
                ("results_filter", models.JSONField(default=dict)),
                ("last_response_id", models.BigIntegerField(blank=True, null=True)),
                ("rows_total", models.IntegerField(blank=True, null=True)),
                ("rows_done", models.IntegerField(default=0)),
                ("committed_response_id", models.BigIntegerField(default=0)),
                ("committed_bytes", models.BigIntegerField(default=0)),
                ("file_path", models.CharField(blank=True, max_length=500)),
                (
                    "attempts",
                    models.PositiveSmallIntegerField(default=0, help_text="Runs started, resumes included."),
                ),
                ("error", models.TextField(blank=True)),
                (
                    "progress_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, help_text="The job's last sign of life."
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "api_key",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="departments.apikey",
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("state__in", ["queued", "running"])),
                        fields=["progress_at"],
                        name="export_job_active",
                    )
                ],
            },
        ),
    ]
