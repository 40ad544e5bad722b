# Import jobs (issue 19): a web import runs in the background, with progress, resume and cancel.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0007_accounts"),
    ]

    operations = [
        migrations.AddField(
            model_name="contactimport",
            name="committed_row",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="contactimport",
            name="dry_run",
            field=models.BooleanField(
                default=False, help_text="A preview: decides every row, writes no contact."
            ),
        ),
        migrations.AddField(
            model_name="contactimport",
            name="issue_total",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="contactimport",
            name="progress_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="contactimport",
            name="rows_done",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="contactimport",
            name="rows_total",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="contactimport",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("previewed", "Previewed"),
                    ("running", "Running"),
                    ("completed", "Completed"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                ],
                max_length=10,
            ),
        ),
        # Imports a web request left "running" forever (issue 19) get a last sign of life, so the
        # sweeper marks them failed with a reason.
        migrations.RunSQL(
            "UPDATE contacts_contactimport SET progress_at = created_at WHERE status = 'running'",
            migrations.RunSQL.noop,
        ),
    ]
