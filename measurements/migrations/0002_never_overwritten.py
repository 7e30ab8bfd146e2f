"""The database itself refuses to change or delete a measurement: corrections are new rows."""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION measurement_never_overwritten() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'measurements_measurement is never overwritten; record a correction';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER measurement_never_overwritten
    BEFORE UPDATE OR DELETE ON measurements_measurement
    FOR EACH ROW EXECUTE FUNCTION measurement_never_overwritten();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS measurement_never_overwritten ON measurements_measurement;
DROP FUNCTION IF EXISTS measurement_never_overwritten();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD)
    elif schema_editor.connection.vendor == "sqlite":
        for event in ("UPDATE", "DELETE"):
            schema_editor.execute(
                f"CREATE TRIGGER measurement_no_{event.lower()} BEFORE {event} ON measurements_measurement "
                "BEGIN SELECT RAISE(ABORT, 'measurements_measurement is never overwritten'); END;"
            )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS measurement_no_update")
        schema_editor.execute("DROP TRIGGER IF EXISTS measurement_no_delete")


class Migration(migrations.Migration):
    dependencies = [("measurements", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
