import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("surveys", "0016_external_touch_imports")]

    operations = [
        migrations.AddField(
            model_name="survey",
            name="language",
            field=models.CharField(
                default="en",
                help_text='The language of its texts, e.g. "en"; translations add others.',
                max_length=10,
            ),
        ),
        migrations.CreateModel(
            name="SurveyTranslation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "language",
                    models.CharField(
                        help_text='A language code, e.g. "de"; contacts whose locale is "de-AT" get it too.',
                        max_length=10,
                    ),
                ),
                (
                    "name",
                    models.CharField(blank=True, help_text="The survey's title on its page.", max_length=200),
                ),
                ("intro", models.TextField(blank=True)),
                (
                    "email_subject",
                    models.CharField(
                        blank=True, help_text="Empty: the standard subject in this language.", max_length=200
                    ),
                ),
                (
                    "email_body",
                    models.TextField(
                        blank=True,
                        help_text="The invitation's message above the button; empty: the standard message in "
                        "this language.",
                    ),
                ),
                ("questions", models.JSONField(blank=True, default=list)),
                (
                    "survey",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="translations",
                        to="surveys.survey",
                    ),
                ),
            ],
            options={
                "ordering": ["survey", "language"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("survey", "language"), name="survey_translation_one_per_language"
                    )
                ],
            },
        ),
    ]
