from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("surveys", "0017_translations_previews")]

    operations = [
        migrations.AddField(
            model_name="sendrequest",
            name="screening_total",
            field=models.PositiveIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="sendrequest",
            name="screening_done",
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.AddField(
            model_name="sendrequest",
            name="screening_after",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="sendrequest",
            name="screening_progress_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
