from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("departments", "0006_budgets_approval")]

    operations = [
        migrations.AddField(
            model_name="companysettings",
            name="company_name",
            field=models.CharField(
                blank=True,
                help_text="The company's name as customers know it: shown on the survey pages, in the "
                "admin's header and as the sender's name of invitations (\"Support at <company>\").",
                max_length=200,
            ),
        ),
    ]
