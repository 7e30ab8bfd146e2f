"""SQLite rebuilds a table to add a check constraint (0006_value_ranges), and the rebuild drops
its triggers: put back the ones of 0002_never_overwritten. PostgreSQL keeps its triggers."""

from django.db import migrations

EVENTS = ("UPDATE", "DELETE")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    table = apps.get_model("measurements", "Measurement")._meta.db_table
    for event in EVENTS:
        name = f"measurement_no_{event.lower()}"
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
        schema_editor.execute(
            f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is never overwritten'); END;"
        )


class Migration(migrations.Migration):
    dependencies = [("measurements", "0006_value_ranges")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
