"""The measurement table's foreign keys to other tables replaced by one check per statement and
delete guards on the parents (measurements.partitioning.parents_check_sql says why). PostgreSQL
and only a partitioned table; Django's state keeps the foreign keys (docs/partitioning.md)."""

from django.db import migrations

from measurements.partitioning import TABLE, is_partitioned, parent_delete_guard_sql, parents_check_sql


def parents_checked_per_statement(apps, schema_editor):
    connection = schema_editor.connection
    if not is_partitioned(connection):
        return
    model = apps.get_model("measurements", "Measurement")
    parents = [
        (field.column, field.related_model._meta.db_table)
        for field in model._meta.local_fields
        if field.remote_field is not None and field.related_model is not model
    ]
    assert all(field.target_field.column == "id" for field in model._meta.local_fields if field.remote_field)
    with connection.cursor() as cursor:
        # Only the partitioned table's own constraints (the partitions' clones go with them).
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype = 'f' "
            "AND conparentid = 0 AND confrelid <> conrelid",
            [TABLE],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {schema_editor.quote_name(name)}")
    schema_editor.execute(parents_check_sql(parents), params=None)
    for column, parent in parents:
        schema_editor.execute(parent_delete_guard_sql(column, parent))


class Migration(migrations.Migration):
    dependencies = [("measurements", "0010_partitioned_by_month")]

    operations = [migrations.RunPython(parents_checked_per_statement, migrations.RunPython.noop)]
