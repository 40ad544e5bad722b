from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("surveys", "0015_blackouts_accounts_burden")]

    operations = []
