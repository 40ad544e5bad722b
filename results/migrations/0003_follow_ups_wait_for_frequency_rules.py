"""Follow-ups no longer wait for the survey frequency rules unless a CX lead says so (issue 14).

`exempt_from_frequency_rules` (on rules and on the follow-ups they opened) becomes
`waits_for_frequency_rules`, the other way round. Every row ends up not waiting: an exempt rule
did not wait before either, and a rule that was not exempt only had the old default, not a CX
lead's choice. A CX lead who wants every follow-up to wait as before turns on "Follow-ups wait for
the survey frequency rules" in Company settings. Going back, a follow-up that does not wait was an
exempt one.
"""

from django.db import migrations, models

MODELS = ("FollowUpRule", "FollowUp")


def none_waits(apps, schema_editor) -> None:
    for name in MODELS:
        apps.get_model("results", name).objects.update(waits_for_frequency_rules=False)


def not_waiting_was_exempt(apps, schema_editor) -> None:
    for name in MODELS:
        model = apps.get_model("results", name)
        model.objects.update(waits_for_frequency_rules=~models.Q(waits_for_frequency_rules=True))


class Migration(migrations.Migration):
    dependencies = [
        ("results", "0002_daily_rollups"),
    ]

    operations = [
        migrations.RenameField(
            model_name="followuprule",
            old_name="exempt_from_frequency_rules",
            new_name="waits_for_frequency_rules",
        ),
        migrations.RenameField(
            model_name="followup",
            old_name="exempt_from_frequency_rules",
            new_name="waits_for_frequency_rules",
        ),
        migrations.AlterField(
            model_name="followuprule",
            name="waits_for_frequency_rules",
            field=models.BooleanField(
                default=False,
                help_text="On: a department may start (in progress) a follow-up this rule opened only when the frequency rules would allow a survey to that customer now; it shows the date that becomes possible. Off (the default): a follow-up is a personal reply, not a survey, and starts at once. An answer the built-in thresholds (NPS 0–6, CSAT 1–2) also catch never waits because of a rule; Company settings can make every follow-up wait.",
                verbose_name="follow-ups wait for the survey frequency rules",
            ),
        ),
        migrations.RunPython(none_waits, not_waiting_was_exempt),
    ]
