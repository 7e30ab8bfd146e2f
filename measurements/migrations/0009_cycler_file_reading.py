"""A cycler file's detected format version and reader, and the values derived from a file.

SQLite rebuilds the table to add the text columns, and the rebuild drops its triggers: they
are put back as 0007_sqlite_never_overwritten_again does. PostgreSQL keeps its triggers."""

import django.db.models.deletion
from django.db import migrations, models


def sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    table = apps.get_model("measurements", "Measurement")._meta.db_table
    for event in ("UPDATE", "DELETE"):
        name = f"measurement_no_{event.lower()}"
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
        schema_editor.execute(
            f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is never overwritten'); END;"
        )


class Migration(migrations.Migration):
    dependencies = [("measurements", "0008_specification_limits")]

    operations = [
        migrations.AddField(
            model_name="measurement",
            name="derived_from",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="derived",
                to="measurements.measurement",
            ),
        ),
        migrations.AddField(
            model_name="measurement",
            name="file_format",
            field=models.CharField(blank=True, default="", db_default="", max_length=64),
        ),
        migrations.AddField(
            model_name="measurement",
            name="file_reader",
            field=models.CharField(blank=True, default="", db_default="", max_length=64),
        ),
        migrations.RunPython(sqlite_triggers, migrations.RunPython.noop),
    ]
