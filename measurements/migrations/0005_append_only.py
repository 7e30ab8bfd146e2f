"""No TRUNCATE of measurements (0002's trigger already refuses UPDATE and DELETE)."""

from django.db import migrations

from audit.append_only import truncate_refused


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_only"), ("measurements", "0004_item_position_index")]
    operations = [truncate_refused("measurements.Measurement")]
