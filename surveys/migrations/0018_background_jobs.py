from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("surveys", "0017_translations_previews")]

    operations = []
