"""Operations, what they took and scrapped, lineage edges and holds are never changed, deleted or
truncated; an open operation may be finished once, a hold released once."""

from django.db import migrations

from audit.append_only import append_only, truncate_refused

FROZEN = ["traceability.OperationInput", "traceability.Scrap", "traceability.LineageEdge", "traceability.HoldItem"]


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_append_only"), ("traceability", "0003_hold_stretch")]
    operations = [
        append_only("traceability.Operation", once=["ended_at"]),
        append_only("traceability.Hold", once=["released_at", "released_by", "release_reason"]),
        *[append_only(model) for model in FROZEN],
        *[truncate_refused(model) for model in ["traceability.Operation", "traceability.Hold", *FROZEN]],
    ]
