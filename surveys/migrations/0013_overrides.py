# Overrides (issue 15): a CX lead lets a send request past a frequency rule; the decisions it let
# through name it. And the frequency rules' constraints get messages in plain words. Decision.override is a nullable column without constraint or index: adding it
# rewrites nothing and screening's bulk INSERT leaves it out.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0012_rule_simulations"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Override",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("reason", models.CharField(max_length=500)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("approved_at", models.DateTimeField(blank=True, null=True)),
                ("applied_at", models.DateTimeField(blank=True, null=True)),
                ("applied_contacts", models.PositiveIntegerField(default=0)),
                (
                    "approved_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "contacts",
                    models.ManyToManyField(
                        blank=True,
                        help_text="Empty: every contact of the request.",
                        related_name="+",
                        to="contacts.contact",
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        blank=True,
                        help_text="Empty: every frequency rule.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="surveys.frequencyrule",
                    ),
                ),
                (
                    "send_request",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="overrides",
                        to="surveys.sendrequest",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.AddField(
            model_name="decision",
            name="override",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="decisions",
                to="surveys.override",
            ),
        ),
        migrations.AddIndex(
            model_name="override",
            index=models.Index(
                condition=models.Q(("applied_at__isnull", False)),
                fields=["applied_at"],
                name="override_applied",
            ),
        ),
        migrations.AddConstraint(
            model_name="override",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("approved_by__isnull", True),
                    models.Q(("approved_by", models.F("requested_by")), _negated=True),
                    _connector="OR",
                ),
                name="override_approver_not_requester",
            ),
        ),
        # Readable history (issue 15): a rule's constraints answer in plain words (no database change).
        migrations.AlterConstraint(
            model_name="frequencyrule",
            name="rule_window_positive",
            constraint=models.CheckConstraint(
                condition=models.Q(("window__gt", "0 seconds")),
                name="rule_window_positive",
                violation_error_message="The window must be longer than zero.",
            ),
        ),
        migrations.AlterConstraint(
            model_name="frequencyrule",
            name="rule_max_touches_positive",
            constraint=models.CheckConstraint(
                condition=models.Q(("max_touches__gte", 1)),
                name="rule_max_touches_positive",
                violation_error_message="Max touches must be at least 1.",
            ),
        ),
    ]
