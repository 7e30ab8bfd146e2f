"""The trigger functions every app's record tables use, and no TRUNCATE of the audit trail."""

from django.db import migrations

from audit.append_only import functions_install, truncate_refused


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]
    operations = [functions_install(), truncate_refused("audit.AuditEvent")]
