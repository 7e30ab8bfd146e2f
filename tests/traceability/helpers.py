"""Helpers shared by the traceability and API tests."""

from typing import Any

from audit.models import AuditEvent
from core.models import IdempotencyKey
from lots.models import Item
from traceability.models import Hold, HoldItem, LineageEdge, Operation, OperationInput, Scrap


def row_counts() -> dict[str, int]:
    """How many rows every table an operation or a hold writes has: compare before and after."""
    return {
        "items": Item.objects.count(),
        "operations": Operation.objects.count(),
        "inputs": OperationInput.objects.count(),
        "edges": LineageEdge.objects.count(),
        "scrap": Scrap.objects.count(),
        "holds": Hold.objects.count(),
        "hold_items": HoldItem.objects.count(),
        "audit": AuditEvent.objects.count(),
        "idempotency_keys": IdempotencyKey.objects.count(),
    }


def item_state(code: str) -> tuple[str, float]:
    item = Item.objects.get(code=code)
    return item.status, float(item.quantity)


def slitting_body(**changes: Any) -> dict[str, Any]:
    """The operation example of API.md, word for word (CAL-0007 must exist, 520 m)."""
    body: dict[str, Any] = {
        "step": "slitting",
        "station": "SLT-01",
        "started_at": "2026-03-02T08:00:00+01:00",
        "ended_at": "2026-03-02T08:40:00+01:00",
        "inputs": [{"item": "CAL-0007", "quantity": 520, "unit": "m", "consume": True}],
        "outputs": [
            {
                "kind": "slit_roll",
                "quantity": 520,
                "unit": "m",
                "lane": 1,
                "from": [{"item": "CAL-0007", "from_m": 0, "to_m": 520}],
            }
        ],
        "parameters": {"slitting_speed": {"value": 100, "unit": "m/min"}},
        "scrap": [{"item": "CAL-0007", "quantity": 3, "unit": "m", "reason": "edge trim"}],
    }
    body.update(changes)
    return body
