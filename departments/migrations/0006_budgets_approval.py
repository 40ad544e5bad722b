# A CX lead's controls (issue 15): approval thresholds, monthly touch budgets, daily trigger caps.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("departments", "0005_company_settings_follow_ups_wait"),
    ]

    operations = [
        migrations.AddField(
            model_name="companysettings",
            name="approval_threshold",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="A send request that would reach more contacts than this (eligible now and planned) waits for a CX lead's approval, unless its department has a threshold of its own. Empty: no approval for size.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="department",
            name="approval_threshold",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="A send request that would reach more contacts than this (eligible now and planned) waits for a CX lead's approval. Empty: the company's threshold.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="department",
            name="daily_trigger_cap",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Triggers (single-contact sends from the API) this department may make per calendar day; past it they are refused. Triggers are never held for approval. Empty: no cap.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="department",
            name="monthly_touch_budget",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Counted touches (invitations not cancelled or failed) this department may make per calendar month; a request that would go past it waits for a CX lead's approval. Empty: no budget.",
                null=True,
            ),
        ),
    ]
