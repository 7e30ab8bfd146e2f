"""Writes of specification limits.

A limit is never overwritten: setting one for a (parameter, polarity, product) that has one
retires the old version (its `retired_at`, set once) and creates the next, both audited.
The holds a value outside a limit places are in measurements.holds_limits.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Actor, actor_user, audit_record
from core.errors import Conflict, InvalidInput
from core.values import finite, number
from lots.models import Polarity

from .models import OnViolation, Parameter, SpecificationLimit
from .services import linear_to_canonical, parameter_get

PRODUCT_MAX = 128


def _bound(raw: object, linear_field: str, linear: object) -> float | None:
    if raw is None:
        return None
    value = finite(number(raw, field=linear_field), field=linear_field)
    return finite(linear(value), field=linear_field)  # type: ignore[operator]


def _limit_snapshot(limit: SpecificationLimit) -> dict[str, object]:
    return {
        "parameter": limit.parameter.code,
        "polarity": limit.polarity,
        "product": limit.product,
        "target": limit.target,
        "lower": limit.lower,
        "upper": limit.upper,
        "unit": limit.parameter.unit,
        "on_violation": limit.on_violation,
        "version": limit.version,
    }


@dataclass(frozen=True)
class _Bounds:
    """A limit's bounds in the parameter's canonical unit."""

    lower: float | None
    upper: float | None
    target: float | None


def _scope_check(polarity: str | None, product: str | None, on_violation: str) -> str | None:
    """The product stripped (None when blank), once polarity and on_violation are known values."""
    if polarity is not None and polarity not in Polarity.values:
        raise InvalidInput("polarity is cathode or anode.", field="polarity")
    if product is not None:
        product = product.strip() or None
        if product is not None and len(product) > PRODUCT_MAX:
            raise InvalidInput(f"At most {PRODUCT_MAX} characters.", field="product")
    if on_violation not in OnViolation.values:
        raise InvalidInput("on_violation is flag or hold.", field="on_violation")
    return product


def _bounds_convert(
    parameter: Parameter, unit: str | None, lower: float | None, upper: float | None, target: float | None
) -> _Bounds:
    linear = linear_to_canonical(unit, parameter)
    low, high, aim = (_bound(lower, "lower", linear), _bound(upper, "upper", linear), _bound(target, "target", linear))
    if linear.scale < 0:  # a unit that turns the scale round (none in practice): keep lower <= upper
        low, high = high, low
    if low is None and high is None:
        raise InvalidInput("Give a lower or an upper limit (or both).", field="lower")
    if low is not None and high is not None and low > high:
        raise InvalidInput(f"lower {lower} is above upper {upper}.", field="lower")
    if aim is not None and ((low is not None and aim < low) or (high is not None and aim > high)):
        raise InvalidInput(f"target {target} lies outside the limits.", field="target")
    return _Bounds(lower=low, upper=high, target=aim)


@transaction.atomic
def limit_set(
    *,
    actor: Actor,
    parameter: str,
    lower: float | None = None,
    upper: float | None = None,
    target: float | None = None,
    unit: str | None = None,
    polarity: str | None = None,
    product: str | None = None,
    on_violation: str = OnViolation.FLAG,
) -> SpecificationLimit:
    """Create the limit of a parameter for a polarity and product, or its next version."""
    parameter_obj = parameter_get(parameter)
    product = _scope_check(polarity, product, on_violation)
    bounds = _bounds_convert(parameter_obj, unit, lower, upper, target)
    old = (
        SpecificationLimit.objects.select_for_update()
        .filter(parameter=parameter_obj, polarity=polarity, product=product, retired_at__isnull=True)
        .first()
    )
    if old is not None:
        old.retired_at = timezone.now()
        old.save(update_fields=["retired_at"])
    try:
        with transaction.atomic():
            limit = SpecificationLimit.objects.create(
                parameter=parameter_obj,
                polarity=polarity,
                product=product,
                target=bounds.target,
                lower=bounds.lower,
                upper=bounds.upper,
                sent_unit=unit or "",
                on_violation=on_violation,
                version=old.version + 1 if old is not None else 1,
                supersedes=old,
                created_by=actor_user(actor),
            )
    except IntegrityError:  # a concurrent first version of the same scope
        raise Conflict("Another limit for this parameter, polarity and product was just set; retry.") from None
    audit_record(
        actor=actor,
        action="limit.revise" if old is not None else "limit.create",
        entity="specification_limit",
        entity_id=limit.pk,
        before=_limit_snapshot(old) | {"id": old.pk} if old is not None else None,
        after=_limit_snapshot(limit),
    )
    return limit
