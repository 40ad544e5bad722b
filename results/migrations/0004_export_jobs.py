from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("results", "0003_follow_ups_wait_for_frequency_rules")]

    operations = []
