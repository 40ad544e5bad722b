from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("departments", "0006_budgets_approval")]

    operations = []
