from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("departments", "0004_department_phone_region"),
    ]

    operations = [
        migrations.AddField(
            model_name="companysettings",
            name="follow_ups_wait_for_frequency_rules",
            field=models.BooleanField(
                default=False,
                help_text="Off (the default): a follow-up of a detractor is a personal reply, not a survey, and a department may start it whenever it is ready. On: starting any follow-up (in progress) waits until the frequency rules would allow a survey to that customer on that channel, and the follow-up shows the date that becomes possible. Closing one is always possible.",
                verbose_name="follow-ups wait for the survey frequency rules",
            ),
        ),
    ]
