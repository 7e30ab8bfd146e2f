"""An item is never deleted or truncated; only its status and remaining quantity change."""

from django.db import migrations

from audit.append_only import append_only, truncate_refused


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_only"), ("lots", "0003_seed_kinds")]
    operations = [
        append_only("lots.Item", free=["status", "quantity"]),
        truncate_refused("lots.Item"),
    ]
