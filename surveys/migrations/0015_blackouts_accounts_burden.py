# Blackouts, rules per account or counting burden, survey burden and invitation weight (issue 16).

import datetime

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0014_external_touches"),
        ("contacts", "0007_accounts"),
        ("departments", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="decision",
            name="blackout_kind",
            field=models.CharField(blank=True, db_default="", default="", max_length=20),
        ),
        migrations.AddField(
            model_name="frequencyrule",
            name="counts",
            field=models.CharField(
                choices=[("touches", "Touches"), ("weight", "Burden (minutes of surveys)")],
                default="touches",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="frequencyrule",
            name="per_account",
            field=models.BooleanField(default=False, help_text="Count all contacts of one account together."),
        ),
        migrations.AddField(
            model_name="invitation",
            name="weight",
            field=models.PositiveSmallIntegerField(db_default=1, default=1),
        ),
        migrations.AddField(
            model_name="survey",
            name="burden_weight",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text="Minutes; empty: estimated.",
                null=True,
                validators=[django.core.validators.MinValueValidator(1)],
            ),
        ),
        migrations.AlterField(
            model_name="decision",
            name="reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("opted_out", "Opted out"),
                    ("snoozed", "Snoozed"),
                    ("duplicate_in_audience", "Duplicate in audience"),
                    ("no_address", "No address on this channel"),
                    ("already_invited", "Already has an open invitation for this survey"),
                    ("rule", "Frequency rule"),
                    ("blackout", "Blackout (a complaint, ticket, outage or cancellation)"),
                ],
                max_length=30,
            ),
        ),
        migrations.CreateModel(
            name="Blackout",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("external_id", models.CharField(max_length=200)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("complaint", "an open complaint"),
                            ("ticket", "an open support ticket"),
                            ("outage", "an outage"),
                            ("cancellation", "a cancellation in progress"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "summary",
                    models.CharField(
                        blank=True, help_text="The opener's own note; no one else sees it.", max_length=500
                    ),
                ),
                ("opened_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "tail",
                    models.DurationField(
                        default=datetime.timedelta(days=7),
                        help_text="Surveys stay blocked this long after it closes.",
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "account",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contacts.account",
                    ),
                ),
                (
                    "contact",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contacts.contact",
                    ),
                ),
                (
                    "department",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="departments.department",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("department", "external_id"), name="blackout_external_id_unique"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("contact__isnull", True), ("account__isnull", True), _connector="XOR"
                        ),
                        name="blackout_contact_or_account",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("tail__gte", datetime.timedelta(0))),
                        name="blackout_tail_not_negative",
                    ),
                ],
            },
        ),
    ]
