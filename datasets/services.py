"""Exports of the dataset: requested over the API, built by a Celery task.

`export_request` validates and normalises the request, returns the user's identical export that
is still queued or running, or creates one and queues the task once the transaction commits.
The task's run (building the files) and the expiry of files are in `runs`.
"""

import hashlib
import json
import logging
import uuid
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core.errors import ErrorCode, InvalidInput
from core.values import moment
from lots.models import ItemKind, ItemStatus
from measurements.models import Criticality, ModelType, Parameter

from .columns import AGGREGATIONS, GRANULARITIES, GROUP_KEYS
from .cycling_writers import CYCLING_TABLES
from .export_rules import SPLIT_SEED_DEFAULT, SPLIT_TEST_DEFAULT
from .models import Export, ExportStatus
from .selection import FILTERS
from .writers import FORMATS, LAYOUTS

log = logging.getLogger(__name__)
# API.md says "json"; the writers call it JSON Lines.
FORMAT_ALIASES = {"json": "jsonl"}
CONTENT_TYPES = {"parquet": "application/vnd.apache.parquet", "csv": "text/csv", "jsonl": "application/x-ndjson"}
# What a download may ask for: the dataset, and for cells their cycling data and its cycles.
DOWNLOAD_TABLES = ("cells", *CYCLING_TABLES)
ACTIVE = (ExportStatus.QUEUED, ExportStatus.RUNNING)


# --- Request -----------------------------------------------------------------------------------


def _choice(value: Any, name: str, choices: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidInput(f"Unknown {name} {value!r}: one of {', '.join(choices)}.", field=name)
    return value


def _filters(filters: Any) -> dict[str, Any]:
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise InvalidInput("filters is an object.", field="filters")
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise InvalidInput(
            f"Unknown filter {', '.join(unknown)}: one of {', '.join(FILTERS)}.", field=f"filters.{unknown[0]}"
        )
    clean: dict[str, Any] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if name == "codes":
            if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
                raise InvalidInput("codes is a list of item codes.", field="filters.codes")
            clean[name] = sorted(set(value))
        elif name in ("created_after", "created_before"):
            moment(value, field=f"filters.{name}")
            clean[name] = value
        else:
            if not isinstance(value, str):
                raise InvalidInput(f"{name} is a string.", field=f"filters.{name}")
            clean[name] = _known(value, name)
    return clean


def _known(value: str, name: str) -> str:
    """A kind or status the line has: anything else would export nothing, silently."""
    if name == "kind":
        if not ItemKind.objects.filter(code=value).exists():
            raise InvalidInput(f"Unknown kind {value!r}.", field="filters.kind", code=ErrorCode.UNKNOWN_KIND)
        return value
    return _choice(value, "filters.status", list(ItemStatus.values))


def _parameters(parameters: Any) -> list[str] | None:
    if parameters is None:
        return None
    if not isinstance(parameters, list) or not all(isinstance(code, str) for code in parameters):
        raise InvalidInput("parameters is a list of catalog codes.", field="parameters")
    codes = sorted(set(parameters))
    known = set(Parameter.objects.filter(code__in=codes).values_list("code", flat=True))
    missing = [code for code in codes if code not in known]
    if missing:
        raise InvalidInput(f"Unknown parameter {', '.join(missing)}.", field="parameters")
    return codes


def _criticality(criticality: Any) -> dict[str, str] | None:
    if not criticality:
        return None
    if not isinstance(criticality, dict):
        raise InvalidInput('criticality is an object such as {"ml": "high"}.', field="criticality")
    for model, least in criticality.items():
        if model not in ModelType.values:
            raise InvalidInput(
                f"Unknown model type {model!r}: one of {', '.join(ModelType.values)}.", field=f"criticality.{model}"
            )
        _choice(least, f"criticality.{model}", list(Criticality.values))
    return dict(sorted(criticality.items()))


def _split(split: Any) -> dict[str, Any] | None:
    if not split:
        return None
    if not isinstance(split, dict):
        raise InvalidInput('split is an object such as {"by": "slurry_batch", "test": 0.2}.', field="split")
    unknown = sorted(set(split) - {"by", "test", "seed"})
    if unknown:
        raise InvalidInput(f"Unknown split option {', '.join(unknown)}.", field=f"split.{unknown[0]}")
    by = _choice(split.get("by"), "split.by", [stem for stem, _kind in GROUP_KEYS])
    test = split.get("test", SPLIT_TEST_DEFAULT)
    if isinstance(test, bool) or not isinstance(test, int | float) or not 0 < test < 1:
        raise InvalidInput("split.test is a fraction between 0 and 1.", field="split.test")
    seed = split.get("seed", SPLIT_SEED_DEFAULT)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInput("split.seed is an integer.", field="split.seed")
    return {"by": by, "test": float(test), "seed": seed}


def _aggregations(aggregations: Any) -> list[str] | None:
    """None (all), or a non-empty list of `AGGREGATIONS`, kept in their order, each once."""
    if aggregations is None:
        return None
    if not isinstance(aggregations, list) or not aggregations:
        raise InvalidInput(f"aggregations is a non-empty list of {', '.join(AGGREGATIONS)}.", field="aggregations")
    for value in aggregations:
        if not isinstance(value, str) or value not in AGGREGATIONS:
            raise InvalidInput(
                f"Unknown aggregation {value!r}: one of {', '.join(AGGREGATIONS)}.", field="aggregations"
            )
    return [name for name in AGGREGATIONS if name in aggregations]


def request_sha256(query: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()


def export_query(export: Export) -> dict[str, Any]:
    """The normalised request, as recorded in the file and hashed to find identical requests;
    `aggregations` only when chosen (a request without them hashes as before they existed)."""
    query = {
        "granularity": export.granularity,
        "format": export.format,
        "layout": export.layout,
        "filters": export.filters,
        "parameters": export.parameters,
        "criticality": export.criticality,
        "split": export.split,
    }
    if export.aggregations is not None:
        query["aggregations"] = export.aggregations
    return query


def export_request(
    *,
    actor: User,
    granularity: Any = "cell",
    format: Any = "parquet",  # noqa: A002 - the API's name
    layout: Any = "wide",
    filters: Any = None,
    parameters: Any = None,
    criticality: Any = None,
    split: Any = None,
    aggregations: Any = None,
) -> Export:
    """The user's identical queued or running export, or a new one queued for Celery and recorded
    in the audit trail (`export.request`, with the normalised query)."""
    fmt = FORMAT_ALIASES.get(format, format) if isinstance(format, str) else format
    export = Export(
        created_by=actor,
        granularity=_choice(granularity, "granularity", GRANULARITIES),
        format=_choice(fmt, "format", FORMATS),
        layout=_choice(layout, "layout", LAYOUTS),
        filters=_filters(filters),
        parameters=_parameters(parameters),
        criticality=_criticality(criticality),
        split=_split(split),
        aggregations=_aggregations(aggregations),
    )
    export.request_sha256 = request_sha256(export_query(export))
    with transaction.atomic():
        running = (
            Export.objects.select_for_update()
            .filter(created_by=actor, request_sha256=export.request_sha256, status__in=ACTIVE)
            .order_by("id")
            .first()
        )
        if running is not None:
            return running
        export.celery_task_id = str(uuid.uuid4())
        export.save()
        export_id, task_id = export.pk, export.celery_task_id
        # Who took which data out, in the same transaction as the export row.
        audit_record(
            actor=actor, action="export.request", entity="export", entity_id=export_id, after=export_query(export)
        )

        transaction.on_commit(lambda: _dispatch(export_id, task_id))
    return export


def _dispatch(export_id: int, task_id: str) -> bool:
    """Send the export's task; with the broker away the export stays queued, its task id
    cleared: `exports_requeue` (Celery beat each minute, or `manage.py requeue_exports`) sends it
    once the broker is back. The request itself is not refused: the export is recorded."""
    from kombu.exceptions import OperationalError as BrokerUnavailable

    from .tasks import export_dataset_task

    try:
        export_dataset_task.apply_async(args=[export_id], task_id=task_id)
    except BrokerUnavailable:
        log.warning("export %s: the broker is unavailable, left queued for exports_requeue", export_id)
        Export.objects.filter(pk=export_id, celery_task_id=task_id).update(celery_task_id="")
        return False
    return True


def exports_requeue() -> int:
    """Send the tasks of queued exports that were never sent (the broker was away): each gets a
    new task id first, so a concurrent requeue sends it once. How many were sent."""
    sent = 0
    for export_id in Export.objects.filter(status=ExportStatus.QUEUED, celery_task_id="").values_list("pk", flat=True):
        task_id = str(uuid.uuid4())
        if Export.objects.filter(pk=export_id, status=ExportStatus.QUEUED, celery_task_id="").update(
            celery_task_id=task_id
        ):
            if not _dispatch(export_id, task_id):
                break  # the broker is still away: the rest wait for the next requeue
            sent += 1
    return sent


def export_expired(export: Export) -> bool:
    return export.expires_at is not None and export.expires_at <= timezone.now()
