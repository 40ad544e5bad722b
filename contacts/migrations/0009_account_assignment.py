from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("contacts", "0008_import_jobs")]

    operations = []
