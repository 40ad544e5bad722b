# A CX lead's controls (issue 15): requests awaiting approval, their approvals, and the daily count
# behind a department's trigger cap.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0010_send_request_unscreened"),
        ("departments", "0006_budgets_approval"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Widening a varchar is a catalogue change in PostgreSQL: no table rewrite.
        migrations.AlterField(
            model_name="sendrequest",
            name="status",
            field=models.CharField(
                choices=[
                    ("draft", "Draft"),
                    ("submitted", "Submitted"),
                    ("screened", "Screened"),
                    ("awaiting_approval", "Awaiting approval"),
                    ("sending", "Sending"),
                    ("completed", "Completed"),
                    ("cancelled", "Cancelled"),
                ],
                default="draft",
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="Approval",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "reasons",
                    models.JSONField(default=list, help_text='Reason values, e.g. ["size", "budget"].'),
                ),
                (
                    "audience",
                    models.PositiveIntegerField(
                        help_text="Contacts the request reserved: eligible now and planned."
                    ),
                ),
                ("threshold", models.PositiveIntegerField(blank=True, null=True)),
                ("budget", models.PositiveIntegerField(blank=True, null=True)),
                (
                    "budget_used",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="The department's counted touches that month, before this request.",
                        null=True,
                    ),
                ),
                (
                    "budget_month",
                    models.DateField(blank=True, help_text="First day of the budget's month.", null=True),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "Awaiting approval"),
                            ("approved", "Approved"),
                            ("rejected", "Rejected"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("requested_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("comment", models.CharField(blank=True, max_length=1000)),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "send_request",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="approval",
                        to="surveys.sendrequest",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        condition=models.Q(("state", "pending")),
                        fields=["requested_at"],
                        name="approval_pending",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="TriggerDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("triggers", models.PositiveIntegerField(default=0)),
                (
                    "department",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="departments.department",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("department", "day"), name="trigger_day_unique")
                ],
            },
        ),
    ]
