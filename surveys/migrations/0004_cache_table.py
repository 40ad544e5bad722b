# The shared cache's table (settings.CACHES: DatabaseCache unless REDIS_URL is set), created here so
# every database the app migrates has it: the public pages' rate limits count in it across all
# gunicorn workers. `createcachetable` skips tables that exist and caches that are not in the database.

from django.core.management import call_command
from django.db import migrations


def cache_table_create(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):

    dependencies = [
        ('surveys', '0003_responses'),
    ]

    operations = [
        migrations.RunPython(cache_table_create, migrations.RunPython.noop, elidable=True),
    ]
