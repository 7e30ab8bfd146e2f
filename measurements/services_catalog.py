"""Writes of the parameter catalog: create and edit one parameter, with the rules the loader shares.

A parameter's values travel as a plain dict keyed by `CATALOG_FIELDS`, with `step` as the step
code (or None). `parameter_validate` checks such a dict; `parameter_check` adds the rules that
depend on the row being replaced. The API, the admin and `catalog_load` all go through them.
"""

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_slug
from django.db import IntegrityError, transaction

from audit.services import Actor, audit_record
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound
from core.units import parse_unit
from traceability.models import Step

from .files import DEFAULT_TYPES, file_types_unknown
from .models import Category, Criticality, ModelType, Parameter, Scope

CRITICALITY_FIELDS: tuple[str, ...] = tuple(f"criticality_{model}" for model in ModelType.values)
# Every field of a parameter but its code, which never changes once created.
CATALOG_FIELDS: tuple[str, ...] = (
    "name",
    "scope",
    "step",
    "category",
    "unit",
    *CRITICALITY_FIELDS,
    "measurability",
    "online",
    "techniques",
    "typical_min",
    "typical_max",
    "accuracy",
    "ontology_iri",
    "source",
    "file_types",
)
DEFAULTS: dict[str, Any] = {
    "scope": Scope.STEP.value,
    "step": None,
    **dict.fromkeys(CRITICALITY_FIELDS, ""),
    "measurability": "",
    "online": None,
    "techniques": [],
    "typical_min": None,
    "typical_max": None,
    "accuracy": "",
    "ontology_iri": "",
    "source": "",
    "file_types": [],
}
_LEVEL_FIELDS = (*CRITICALITY_FIELDS, "measurability")
_TEXT_FIELDS = ("name", "unit", "accuracy", "ontology_iri", "source")
_http_url = URLValidator(schemes=["http", "https"])


def parameter_values(parameter: Parameter) -> dict[str, Any]:
    """The catalog values of a stored parameter, as the services, the loader and the audit use them."""
    values = {name: getattr(parameter, name) for name in CATALOG_FIELDS if name != "step"}
    values["step"] = parameter.step_id
    return values


def _max_length(name: str) -> int:
    return int(getattr(Parameter._meta.get_field(name), "max_length", None) or 0)


@dataclass(frozen=True)
class _Problem:
    field: str
    message: str
    code: str = InvalidInput.code


def _code_problems(values: Mapping[str, Any]) -> list[_Problem]:
    if "code" not in values:
        return []
    code = values["code"]
    try:
        if not isinstance(code, str) or len(code) > _max_length("code"):
            raise ValidationError("too long")
        validate_slug(code)
    except ValidationError:
        return [
            _Problem("code", f"{code!r} is not a code: letters, digits, '_' and '-', at most {_max_length('code')}.")
        ]
    return []


def _text_problems(values: Mapping[str, Any]) -> list[_Problem]:
    found = []
    for name in _TEXT_FIELDS:
        value = values[name]
        if not isinstance(value, str):
            found.append(_Problem(name, "A text is required."))
        elif len(value) > _max_length(name):
            found.append(_Problem(name, f"At most {_max_length(name)} characters."))
    if isinstance(values["name"], str) and not values["name"].strip():
        found.append(_Problem("name", "A name is required."))
    return found


def _choice_problems(values: Mapping[str, Any]) -> list[_Problem]:
    found = [
        _Problem(name, f"{values[name]!r} is not one of {', '.join(choices)}.")
        for name, choices in (("scope", Scope.values), ("category", Category.values))
        if values[name] not in choices
    ]
    found += [
        _Problem(name, f"{values[name]!r} is not one of {', '.join(Criticality.values)} (or empty).")
        for name in _LEVEL_FIELDS
        if values[name] not in ("", *Criticality.values)
    ]
    return found


def _unit_problems(values: Mapping[str, Any]) -> list[_Problem]:
    # A unit that is not a text, or too long, was named by _text_problems already.
    if not isinstance(values["unit"], str) or len(values["unit"]) > _max_length("unit"):
        return []
    try:
        parse_unit(values["unit"], field="unit")
    except InvalidInput as exc:
        return [_Problem("unit", exc.message, exc.code)]
    return []


def _step_problems(values: Mapping[str, Any], steps: Collection[str] | None) -> list[_Problem]:
    step = values["step"]
    if step is None:
        if values["scope"] == Scope.STEP:
            return [_Problem("step", "A parameter of scope 'step' names its step.", ErrorCode.UNKNOWN_STEP)]
        return []
    known = isinstance(step, str) and (step in steps if steps is not None else Step.objects.filter(code=step).exists())
    return [] if known else [_Problem("step", f"Unknown step {step!r}.", ErrorCode.UNKNOWN_STEP)]


def _list_problems(values: Mapping[str, Any]) -> list[_Problem]:
    found = []
    if values["online"] not in (None, True, False):
        found.append(_Problem("online", "true, false or null."))
    for name in ("techniques", "file_types"):
        value = values[name]
        if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
            found.append(_Problem(name, "A list of non-empty texts is required."))
        elif name == "file_types" and (unknown := file_types_unknown(value)):
            message = f"Unknown file types {', '.join(unknown)}: one of {', '.join(DEFAULT_TYPES)}."
            found.append(_Problem(name, message, ErrorCode.UNKNOWN_FILE_TYPE))
    return found


def _range_problems(values: Mapping[str, Any]) -> list[_Problem]:
    found = []
    bounds = []
    for name in ("typical_min", "typical_max"):
        value = values[name]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            found.append(_Problem(name, "A finite number or null is required."))
        else:
            bounds.append(value)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        message = f"typical_max ({bounds[1]}) is below typical_min ({bounds[0]})."
        found.append(_Problem("typical_max", message, ErrorCode.BAD_RANGE))
    return found


def _iri_problems(values: Mapping[str, Any]) -> list[_Problem]:
    iri = values["ontology_iri"]
    if not isinstance(iri, str) or not iri:
        return []
    try:
        _http_url(iri)
    except ValidationError:
        return [_Problem("ontology_iri", f"{iri!r} is not an http(s) URL.")]
    return []


def parameter_validate(values: Mapping[str, Any], *, steps: Collection[str] | None = None) -> None:
    """Check a complete set of catalog values (plus `code` when given); one InvalidInput names every bad field.

    `steps` is the set of known step codes when the caller has it (the loader checks 190 rows with
    one query); otherwise the step is looked up. The first problem found gives the message and code.
    """
    problems = [
        *_code_problems(values),
        *_text_problems(values),
        *_choice_problems(values),
        *_unit_problems(values),
        *_step_problems(values, steps),
        *_list_problems(values),
        *_range_problems(values),
        *_iri_problems(values),
    ]
    if problems:
        errors: dict[str, list[str]] = {}
        for problem in problems:
            errors.setdefault(problem.field, []).append(problem.message)
        first = problems[0]
        raise InvalidInput(f"{first.field}: {first.message}", code=first.code, errors=errors)


def parameter_check(*, values: Mapping[str, Any], current: Parameter | None = None) -> None:
    """`parameter_validate`, then the rules of replacing `current` with `values`.

    Values are stored converted to the parameter's unit, so once a parameter has measurements its
    unit cannot change: the stored numbers would silently mean something else.
    """
    parameter_validate(values)
    if current is not None and values["unit"] != current.unit and current.measurements.exists():
        raise Conflict(
            f"{current.code} has measurements stored in {current.unit!r}; its unit cannot change.",
            field="unit",
            code=ErrorCode.UNIT_IN_USE,
        )


def parameter_create(
    *,
    actor: Actor,
    code: str,
    name: str,
    category: str,
    unit: str,
    scope: str = Scope.STEP,
    step: str | None = None,
    criticality_empirical: str = "",
    criticality_continuum: str = "",
    criticality_discrete: str = "",
    criticality_ml: str = "",
    measurability: str = "",
    online: bool | None = None,
    techniques: list[str] | None = None,
    typical_min: float | None = None,
    typical_max: float | None = None,
    accuracy: str = "",
    ontology_iri: str = "",
    source: str = "",
    file_types: list[str] | None = None,
) -> Parameter:
    values: dict[str, Any] = {
        "name": name,
        "scope": str(scope),
        "step": step or None,
        "category": category,
        "unit": unit,
        "criticality_empirical": criticality_empirical,
        "criticality_continuum": criticality_continuum,
        "criticality_discrete": criticality_discrete,
        "criticality_ml": criticality_ml,
        "measurability": measurability,
        "online": online,
        "techniques": list(techniques or []),
        "typical_min": typical_min,
        "typical_max": typical_max,
        "accuracy": accuracy,
        "ontology_iri": ontology_iri,
        "source": source,
        "file_types": list(file_types or []),
    }
    parameter_check(values={"code": code, **values})
    fields = {k: v for k, v in values.items() if k != "step"}
    try:
        # A savepoint: a concurrent create of the same code fails on the unique index, not the caller's transaction.
        with transaction.atomic():
            parameter = Parameter.objects.create(code=code, step_id=values["step"], **fields)
            audit_record(actor=actor, action="parameter.create", entity="parameter", entity_id=code, after=values)
    except IntegrityError:
        if Parameter.objects.filter(code=code).exists():
            raise Conflict(f"Parameter {code!r} exists.", field="code", code=ErrorCode.DUPLICATE_CODE) from None
        raise
    return parameter


def parameter_update(*, actor: Actor, code: str, data: Mapping[str, Any]) -> Parameter:
    """Change some fields of one parameter; only fields whose value changes are written and audited."""
    for name, value in data.items():
        if name == "code" and value != code:
            raise InvalidInput("The code of a parameter never changes.", field="code", code=ErrorCode.CODE_IMMUTABLE)
        if name not in CATALOG_FIELDS and name != "code":
            raise InvalidInput(f"{name!r} is not a field of a parameter.", field=name, code=ErrorCode.UNKNOWN_FIELD)
    with transaction.atomic():
        # Locked so that two engineers editing the same parameter each audit what they really replaced.
        # order_by("pk") drops the default ordering, whose outer join to step FOR UPDATE refuses.
        parameter = Parameter.objects.select_for_update().filter(code=code).order_by("pk").first()
        if parameter is None:
            raise NotFound(f"No parameter {code!r}.", field="code", code=ErrorCode.UNKNOWN_PARAMETER)
        before = parameter_values(parameter)
        after = before | {k: v for k, v in data.items() if k != "code"}
        if after["step"] == "":
            after["step"] = None
        changed = [name for name in CATALOG_FIELDS if after[name] != before[name]]
        if not changed:
            return parameter
        parameter_check(values=after, current=parameter)
        for name in changed:
            setattr(parameter, "step_id" if name == "step" else name, after[name])
        parameter.save(update_fields=[*changed, "updated_at"])
        audit_record(
            actor=actor,
            action="parameter.update",
            entity="parameter",
            entity_id=code,
            before={name: before[name] for name in changed},
            after={name: after[name] for name in changed},
        )
    return parameter
