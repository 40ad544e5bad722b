from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("surveys", "0016_external_touch_imports")]

    operations = []
