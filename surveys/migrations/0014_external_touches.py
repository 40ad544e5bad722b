# External touches and the bring-your-own-tool flow (issue 16): see surveys/models/external.py.

import uuid

import django.contrib.postgres.functions
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("departments", "0001_initial"),
        ("surveys", "0013_overrides"),
    ]

    operations = [
        migrations.AlterField(
            model_name="sendrequest",
            name="audience_kind",
            field=models.CharField(
                choices=[
                    ("upload", "Uploaded list"),
                    ("filter", "Contacts filtered by attributes"),
                    ("all_known", "All contacts the department knows"),
                    ("trigger", "One contact, triggered by an event"),
                    ("external", "One contact, surveyed by another tool"),
                ],
                max_length=10,
            ),
        ),
        migrations.CreateModel(
            name="ExternalSurvey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "survey_kind",
                    models.CharField(
                        choices=[("relationship", "Relationship"), ("transactional", "Transactional")],
                        max_length=20,
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
                (
                    "survey",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="external",
                        to="surveys.survey",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("department", "survey_kind"), name="external_survey_one_per_kind"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ExternalTouch",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "public_id",
                    models.UUIDField(
                        db_default=django.contrib.postgres.functions.RandomUUID(),
                        default=uuid.uuid4,
                        editable=False,
                        unique=True,
                    ),
                ),
                ("source_tool", models.CharField(max_length=100)),
                ("external_id", models.CharField(blank=True, max_length=200)),
                ("reserved_until", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "department",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="departments.department",
                    ),
                ),
                (
                    "invitation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="external_touch",
                        to="surveys.invitation",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("external_id", ""), _negated=True),
                        fields=("department", "source_tool", "external_id"),
                        name="external_touch_idempotent",
                    )
                ],
                "indexes": [
                    models.Index(
                        condition=models.Q(("reserved_until__isnull", False)),
                        fields=["reserved_until"],
                        name="external_touch_reserved",
                    )
                ],
            },
        ),
    ]
