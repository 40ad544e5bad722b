# Rule drafts and their simulations (issue 15, item 4): surveys/models/simulation.py.

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0011_approvals_budgets"),
        ("departments", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RuleDraft",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=200)),
                (
                    "status",
                    models.CharField(
                        choices=[("open", "Open"), ("published", "Published"), ("discarded", "Discarded")],
                        default="open",
                        max_length=10,
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-created_at"]},
        ),
        migrations.CreateModel(
            name="RuleSimulation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "days",
                    models.PositiveIntegerField(
                        default=90, validators=[django.core.validators.MinValueValidator(1)]
                    ),
                ),
                ("period_start", models.DateTimeField()),
                ("period_end", models.DateTimeField()),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                        ],
                        default="queued",
                        max_length=10,
                    ),
                ),
                ("done", models.PositiveBigIntegerField(default=0)),
                ("total", models.PositiveBigIntegerField(blank=True, null=True)),
                ("batch_bounds", models.JSONField(blank=True, default=list)),
                ("batches_done", models.PositiveIntegerField(default=0)),
                ("rules", models.JSONField(blank=True, default=list)),
                ("report", models.JSONField(blank=True, default=dict)),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "draft",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="simulations",
                        to="surveys.ruledraft",
                    ),
                ),
            ],
            options={"ordering": ["-created_at"]},
        ),
        migrations.CreateModel(
            name="DraftRule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("base_version", models.PositiveIntegerField(blank=True, editable=False, null=True)),
                ("name", models.CharField(max_length=200)),
                ("is_active", models.BooleanField(default=True)),
                (
                    "max_touches",
                    models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1)]),
                ),
                (
                    "window",
                    models.DurationField(help_text="Rolling window, e.g. 30 days or 12:00:00 for 12 hours."),
                ),
                (
                    "scope_survey_kind",
                    models.CharField(
                        blank=True,
                        choices=[("relationship", "Relationship"), ("transactional", "Transactional")],
                        max_length=20,
                    ),
                ),
                (
                    "scope_channel",
                    models.CharField(blank=True, choices=[("email", "Email"), ("sms", "SMS")], max_length=10),
                ),
                (
                    "clock",
                    models.CharField(
                        choices=[("invitation", "Invitation sent"), ("response", "Response received")],
                        default="invitation",
                        max_length=10,
                    ),
                ),
                ("new_contact_grace", models.DurationField(blank=True, null=True)),
                (
                    "rule",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="surveys.frequencyrule",
                    ),
                ),
                (
                    "scope_department",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="departments.department",
                    ),
                ),
                (
                    "draft",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rules",
                        to="surveys.ruledraft",
                    ),
                ),
            ],
            options={
                "ordering": ["draft", "pk"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("rule__isnull", False)),
                        fields=("draft", "rule"),
                        name="draft_rule_once",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("window__gt", "0 seconds")), name="draft_rule_window_positive"
                    ),
                ],
            },
        ),
    ]
