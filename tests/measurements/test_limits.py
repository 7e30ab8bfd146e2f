"""Specification limits: /api/limits/, the limit that applies to an item, out_of_limits on every
way in (single, bulk JSON and CSV, operation parameters), and holds placed on violation."""

import math
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from lots.models import Item, ItemStatus
from measurements.ingest import measurements_ingest
from measurements.models import Measurement, SpecificationLimit
from measurements.selectors_limits import limit_book
from measurements.services import MeasurementInput, measurement_record
from measurements.services_limits import limit_set
from tests.factories import T0, register
from traceability.models import Hold
from traceability.services import InputSpec, OutputSpec, operation_record

pytestmark = pytest.mark.django_db

URL = "/api/limits/"
PRODUCT = "NMC811-G-pouch-5Ah"


@pytest.fixture
def roll(engineer: Any, stations: Any, catalog: Any) -> Item:
    """A 100 m cathode coated roll whose product comes from its slurry (not its own attributes)."""
    slurry = register(engineer, "slurry", 10, "kg", polarity="cathode", attributes={"product": PRODUCT})
    return operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=T0 + timedelta(hours=2),
        ended_at=T0 + timedelta(hours=3),
        inputs=[InputSpec(slurry.code, 8, "kg")],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
    ).outputs[0]


def record(actor: Any, item: Item | None, value: float, **extra: Any) -> Measurement:
    data = MeasurementInput(
        parameter=extra.pop("parameter", "mass_loading_t"),
        value=value,
        unit="mg/cm**2",
        item=item.code if item else None,
        measured_at=T0 + timedelta(hours=2, minutes=30),
        **extra,
    )
    return measurement_record(actor=actor, data=data).measurement


def limit(engineer: Any, **fields: Any) -> SpecificationLimit:
    return limit_set(actor=engineer, **({"parameter": "mass_loading_t", "unit": "mg/cm**2"} | fields))


# --- the API -------------------------------------------------------------------------------


def test_engineer_sets_a_limit_converted_to_the_canonical_unit(engineer_client: Any, catalog: Any) -> None:
    body = {
        "parameter": "mass_loading_t",
        "polarity": "anode",
        "product": PRODUCT,
        "target": 112,
        "lower": 108,
        "upper": 116,
        "unit": "g/m**2",
        "on_violation": "hold",
    }
    response = engineer_client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    got = response.json()
    assert got["unit"] == "mg/cm**2" and got["sent_unit"] == "g/m**2"
    assert (got["target"], got["lower"], got["upper"]) == pytest.approx((11.2, 10.8, 11.6))
    assert got["polarity"] == "anode" and got["product"] == PRODUCT and got["on_violation"] == "hold"
    assert got["version"] == 1 and got["active"] is True
    assert engineer_client.get(f"{URL}{got['id']}/").json()["upper"] == pytest.approx(11.6)
    listed = engineer_client.get(URL, {"parameter": "mass_loading_t", "product": PRODUCT}).json()["results"]
    assert [row["id"] for row in listed] == [got["id"]]
    assert engineer_client.get(URL, {"product": "other"}).json()["results"] == []
    assert AuditEvent.objects.filter(action="limit.create", entity_id=str(got["id"])).exists()


def test_a_change_is_a_new_version_and_the_old_one_stays(engineer_client: Any, catalog: Any) -> None:
    body = {"parameter": "mass_loading_t", "lower": 10, "upper": 12, "unit": "mg/cm**2"}
    first = engineer_client.post(URL, body, format="json").json()
    second = engineer_client.post(URL, body | {"upper": 13}, format="json").json()
    assert second["version"] == 2 and second["supersedes"] == first["id"]
    old = SpecificationLimit.objects.get(pk=first["id"])
    assert old.upper == 12 and old.retired_at is not None
    assert [r["id"] for r in engineer_client.get(URL).json()["results"]] == [second["id"]]
    history = engineer_client.get(URL, {"history": "true"}).json()["results"]
    assert [r["id"] for r in history] == [second["id"], first["id"]]
    revise = AuditEvent.objects.get(action="limit.revise")
    assert revise.before is not None and revise.after is not None
    assert revise.before["upper"] == 12 and revise.after["upper"] == 13


def test_operators_read_but_cannot_set_limits(operator_client: Any, anon_client: Any, catalog: Any) -> None:
    body = {"parameter": "mass_loading_t", "lower": 10, "unit": "mg/cm**2"}
    assert operator_client.post(URL, body, format="json").status_code == 403
    assert operator_client.get(URL).status_code == 200
    assert anon_client.get(URL).status_code == 401
    assert not SpecificationLimit.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"parameter": "no_such_parameter"}, "parameter"),
        ({"unit": "m/min"}, "unit"),
        ({"unit": "furlongs_per_fortnight"}, "unit"),
        ({"lower": 12, "upper": 10}, "lower"),
        ({"lower": None, "upper": None}, "lower"),
        ({"target": 20}, "target"),
        ({"lower": "NaN"}, "lower"),
        ({"upper": "Infinity"}, "upper"),
        ({"lower": True}, "lower"),
        ({"polarity": "both"}, "polarity"),
        ({"on_violation": "scrap"}, "on_violation"),
        ({"product": 5}, "product"),
        ({"product": "x" * 129}, "product"),
    ],
)
def test_bad_limits_are_400_naming_the_field(engineer_client: Any, catalog: Any, change: Any, field: str) -> None:
    body = {"parameter": "mass_loading_t", "lower": 10, "upper": 12, "target": 11, "unit": "mg/cm**2"} | change
    response = engineer_client.post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert not SpecificationLimit.objects.exists()


def test_the_database_refuses_what_the_service_refuses(engineer: Any, catalog: Any) -> None:
    first = limit(engineer, lower=10, upper=12)
    for bad in ({"lower": 12, "upper": 10}, {"lower": None, "upper": None}, {"lower": 10, "target": 9}):
        with pytest.raises(IntegrityError), transaction.atomic():
            SpecificationLimit.objects.create(parameter=catalog["mass_loading_t"], product="other", **bad)
    with pytest.raises(IntegrityError), transaction.atomic():  # a second active limit of one scope
        SpecificationLimit.objects.create(parameter=catalog["mass_loading_t"], lower=1)
    with pytest.raises(PermissionError):
        first.upper = 20
        first.save()


@pytest.mark.postgresql_only
def test_a_limit_is_never_updated_in_the_database(engineer: Any, catalog: Any) -> None:
    first = limit(engineer, lower=10, upper=12)
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        SpecificationLimit.objects.filter(pk=first.pk).update(upper=20)


# --- which limit applies -------------------------------------------------------------------


def test_no_limit_leaves_out_of_limits_null(engineer: Any, roll: Item) -> None:
    assert record(engineer, roll, 30).out_of_limits is None


def test_single_values_are_flagged_against_the_limit(engineer_client: Any, engineer: Any, roll: Item) -> None:
    limit(engineer, lower=10.8, upper=11.6, target=11.2)
    body = {
        "parameter": "mass_loading_t",
        "value": 21,
        "unit": "mg/cm**2",
        "item": roll.code,
        "position_m": 12,
        "measured_at": (T0 + timedelta(hours=2)).isoformat(),
    }
    response = engineer_client.post("/api/measurements/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["out_of_limits"] is True
    ok = engineer_client.post("/api/measurements/", body | {"value": 11.3}, format="json").json()
    assert ok["out_of_limits"] is False
    flagged = engineer_client.get("/api/measurements/", {"item": roll.code, "out_of_limits": "true"}).json()
    assert [m["value"] for m in flagged["results"]] == [21]
    assert not Hold.objects.exists()  # "flag" only


def test_most_specific_limit_wins(engineer: Any, roll: Item) -> None:
    limit(engineer, lower=0, upper=100)
    limit(engineer, polarity="cathode", lower=10, upper=12)
    limit(engineer, product=PRODUCT, lower=11, upper=11.5)
    both = limit(engineer, product=PRODUCT, polarity="cathode", lower=11.1, upper=11.3)
    anode = register(engineer, "coated_roll", 50, "m", polarity="anode", attributes={"product": PRODUCT})
    plain = register(engineer, "coated_roll", 50, "m", polarity="cathode")
    foil = register(engineer, "current_collector_foil", 50, "m")
    book = limit_book(None, [roll.pk, anode.pk, plain.pk, foil.pk])
    pid = both.parameter_id

    def upper(item_id: int | None) -> float | None:
        found = book.limit(pid, item_id)
        return found.upper if found is not None else None

    assert book.limit(pid, roll.pk) == both
    assert upper(anode.pk) == 11.5  # product, not polarity
    assert upper(plain.pk) == 12  # polarity
    assert upper(foil.pk) == 100  # parameter only
    assert upper(None) == 100  # a value about no item
    assert record(engineer, roll, 11.4).out_of_limits is True  # inside product's, outside product+polarity's
    assert record(engineer, anode, 11.4).out_of_limits is False


def test_product_is_inherited_from_upstream_and_the_nearest_wins(engineer: Any, roll: Item) -> None:
    limit(engineer, product=PRODUCT, lower=11, upper=12)
    limit(engineer, product="other", lower=1, upper=2)
    assert record(engineer, roll, 11.5).out_of_limits is False  # PRODUCT, from the slurry
    relabelled = operation_record(
        actor=engineer,
        step="calendering",
        station="CAL-01",
        started_at=T0 + timedelta(hours=4),
        inputs=[InputSpec(roll.code)],
        outputs=[OutputSpec(kind="calendered_roll", quantity=100, unit="m", attributes={"product": "other"})],
    ).outputs[0]
    assert record(engineer, relabelled, 1.5).out_of_limits is False  # its own product, not its slurry's
    assert record(engineer, relabelled, 11.5).out_of_limits is True


def test_a_value_about_a_station_meets_parameter_only_limits(engineer: Any, stations: Any, catalog: Any) -> None:
    limit_set(actor=engineer, parameter="dew_point_t", lower=-80, upper=-40, unit="degC")
    reading = MeasurementInput(parameter="dew_point_t", value=-20, unit="degC", room="dry-room-1", measured_at=T0)
    assert measurement_record(actor=engineer, data=reading).measurement.out_of_limits is True


# --- holds ---------------------------------------------------------------------------------


def test_hold_is_placed_on_the_stretch_around_the_value(engineer_client: Any, engineer: Any, roll: Item) -> None:
    limit(engineer, product=PRODUCT, lower=10.8, upper=11.6, target=11.2, on_violation="hold")
    body = {
        "parameter": "mass_loading_t",
        "value": 21.4,
        "unit": "mg/cm**2",
        "item": roll.code,
        "position_m": 40,
        "measured_at": (T0 + timedelta(hours=2)).isoformat(),
    }
    assert engineer_client.post("/api/measurements/", body | {"value": 11}, format="json").status_code == 201
    assert not Hold.objects.exists()
    response = engineer_client.post("/api/measurements/", body, format="json")
    assert response.json()["out_of_limits"] is True
    hold = Hold.objects.get()
    assert (hold.item_id, hold.from_m, hold.to_m) == (roll.pk, 39.5, 40.5)
    assert "21.4 mg/cm**2" in hold.reason and "at 40 m" in hold.reason
    assert f"for {PRODUCT}: lower 10.8 to upper 11.6 mg/cm**2 (target 11.2)" in hold.reason


def test_a_value_without_position_holds_the_whole_item(engineer: Any, roll: Item) -> None:
    limit(engineer, polarity="cathode", upper=11.6, on_violation="hold")
    record(engineer, roll, 12.5)
    hold = Hold.objects.get()
    assert hold.from_m is None and "12.5 mg/cm**2" in hold.reason
    roll.refresh_from_db()
    assert roll.status == ItemStatus.ON_HOLD


def test_a_stretch_at_the_end_is_clipped_to_the_item(engineer: Any, roll: Item) -> None:
    limit(engineer, lower=10, on_violation="hold")
    record(engineer, roll, 5, position_m=99.8)
    hold = Hold.objects.get()
    assert (hold.from_m, hold.to_m) == (pytest.approx(99.3), 100)


def test_the_hold_window_is_a_setting(engineer: Any, roll: Item, settings: Any) -> None:
    settings.LIMIT_HOLD_WINDOW_M = 2
    limit(engineer, lower=10, on_violation="hold")
    record(engineer, roll, 5, position_m=50)
    assert Hold.objects.values_list("from_m", "to_m").get() == (48, 52)


# --- bulk ----------------------------------------------------------------------------------


def bulk_rows(items: list[Item], values: list[float]) -> list[dict[str, Any]]:
    return [
        {
            "parameter": "mass_loading_t",
            "value": value,
            "unit": "mg/cm**2",
            "item": items[i % len(items)].code,
            "position_m": 10 + 0.5 * i,
            "measured_at": (T0 + timedelta(seconds=i)).isoformat(),
        }
        for i, value in enumerate(values)
    ]


def test_bulk_json_flags_and_merges_holds(engineer_client: Any, engineer: Any, roll: Item) -> None:
    limit(engineer, lower=10.8, upper=11.6, on_violation="hold")
    rows = bulk_rows([roll], [11, 21, 20, 11, 11, 11, 11, 11, 9])  # 10.5 m and 11 m, then 14 m
    response = engineer_client.post("/api/measurements/bulk/", rows, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["out_of_limits"], response.json()["holds"]) == (3, 2)
    flags = list(Measurement.objects.order_by("position_m").values_list("out_of_limits", flat=True))
    assert flags == [False, True, True, False, False, False, False, False, True]
    holds = list(Hold.objects.order_by("from_m").values_list("from_m", "to_m"))
    assert holds == [(10.0, 11.5), (13.5, 14.5)]
    assert "2 values outside" in Hold.objects.order_by("from_m")[0].reason


def test_bulk_csv_is_flagged(operator_client: Any, engineer: Any, roll: Item) -> None:
    limit(engineer, lower=10.8, upper=11.6)
    other = register(engineer, "coated_roll", 100, "m")  # no product, no polarity: no limit but the parameter's
    limit(engineer, product="elsewhere", lower=0, upper=1)
    body = (
        "parameter,value,unit,item,position_m,measured_at\n"
        f"mass_loading_t,11.0,mg/cm**2,{roll.code},1,{T0.isoformat()}\n"
        f"mass_loading_t,12.0,mg/cm**2,{roll.code},2,{T0.isoformat()}\n"
        f"mass_loading_t,12.0,mg/cm**2,{other.code},2,{T0.isoformat()}\n"
        f"coating_thickness_t,100,um,{roll.code},2,{T0.isoformat()}\n"
    )
    response = operator_client.post("/api/measurements/bulk/", body, content_type="text/csv")
    assert response.status_code == 201, response.json()
    assert response.json()["out_of_limits"] == 2
    got = list(Measurement.objects.order_by("id").values_list("out_of_limits", flat=True))
    assert got == [False, True, True, None]


def test_bulk_query_count_is_flat_in_rows(engineer: Any, roll: Item) -> None:
    limit(engineer, product=PRODUCT, lower=10.8, upper=11.6)
    limit(engineer, polarity="cathode", lower=10, upper=12)

    def queries(n: int) -> int:
        items = [
            register(engineer, "coated_roll", 1000, "m", polarity="cathode", attributes={"product": PRODUCT})
            for _ in range(n // 5)
        ]
        with CaptureQueriesContext(connection) as captured:
            result = measurements_ingest(actor=engineer, rows=bulk_rows(items, [11 + (i % 3) for i in range(n)]))
        assert result.count == n and result.out_of_limits == sum(1 for i in range(n) if i % 3)
        return len(captured)

    assert queries(20) == queries(400)


def test_a_bad_row_stores_nothing_and_holds_nothing(engineer: Any, roll: Item) -> None:
    limit(engineer, upper=11.6, on_violation="hold")
    rows = bulk_rows([roll], [21, 22])
    rows[1]["value"] = "x"
    with pytest.raises(Exception, match="Row 2"):
        measurements_ingest(actor=engineer, rows=rows)
    assert not Measurement.objects.exists() and not Hold.objects.exists()


# --- operation parameters ------------------------------------------------------------------


def test_operation_parameters_are_flagged_and_hold_the_output(engineer: Any, roll: Item) -> None:
    limit_set(actor=engineer, parameter="coating_speed_t", upper=3, unit="m/min", on_violation="hold")
    slurry = register(engineer, "slurry", 10, "kg", polarity="cathode", attributes={"product": PRODUCT})
    made = operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=T0 + timedelta(hours=5),
        ended_at=T0 + timedelta(hours=6),
        inputs=[InputSpec(slurry.code, 8, "kg")],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
        parameters={"coating_speed_t": {"value": 4, "unit": "m/min"}, "note": {"value": "x"}},
    )
    value = Measurement.objects.get(operation=made.operation, parameter__code="coating_speed_t")
    assert value.out_of_limits is True
    hold = Hold.objects.get()
    assert hold.item == made.outputs[0] and "coating_speed_t 4 m/min" in hold.reason
    made.outputs[0].refresh_from_db()
    assert made.outputs[0].status == ItemStatus.ON_HOLD


def test_finite_limits_only(engineer: Any, catalog: Any) -> None:
    with pytest.raises(Exception, match="finite|number"):
        limit(engineer, lower=math.inf)


# --- pages ---------------------------------------------------------------------------------


def test_the_station_done_page_flags_operation_parameters(engineer: Any, roll: Item) -> None:
    limit_set(actor=engineer, parameter="coating_speed_t", upper=3, unit="m/min")
    slurry = register(engineer, "slurry", 10, "kg", polarity="cathode")
    made = operation_record(
        actor=engineer,
        step="coating",
        station="COAT-01",
        started_at=T0 + timedelta(hours=5),
        ended_at=T0 + timedelta(hours=6),
        inputs=[InputSpec(slurry.code, 8, "kg")],
        outputs=[OutputSpec(kind="coated_roll", quantity=100, unit="m")],
        parameters={"coating_speed_t": {"value": 4, "unit": "m/min"}},
    )
    client = Client()
    client.force_login(engineer)
    page = client.get(f"/station/COAT-01/operations/{made.operation.pk}/").content.decode()
    assert 'id="outside-limits"' in page and "coating speed t 4 m/min" in page
    assert "on hold" not in page  # flag only


def test_the_item_page_sends_the_limits_of_its_profiles(engineer: Any, roll: Item) -> None:
    limit(engineer, product=PRODUCT, polarity="cathode", lower=10.8, upper=11.6, target=11.2)
    record(engineer, roll, 11.0, position_m=1)
    record(engineer, roll, 12.0, position_m=2)
    client = Client()
    client.force_login(engineer)
    context = client.get(f"/items/{roll.code}/").context
    (plot,) = [p for p in context["plots"] if p.get("limits")]
    assert (plot["limits"]["lower"], plot["limits"]["upper"], plot["limits"]["target"]) == (10.8, 11.6, 11.2)
    assert plot["flags"] == [False, True]


@pytest.mark.parametrize("product", ["a\x00b", "   "])
def test_odd_products(engineer_client: Any, catalog: Any, product: str) -> None:
    body = {"parameter": "mass_loading_t", "lower": 10, "unit": "mg/cm**2", "product": product}
    response = engineer_client.post(URL, body, format="json")
    if product.strip():
        assert response.status_code == 400 and not SpecificationLimit.objects.exists()
    else:  # blank is "every product"
        assert response.status_code == 201 and response.json()["product"] is None


def test_a_limit_of_a_converted_unit_overflowing_is_400(engineer_client: Any, catalog: Any) -> None:
    body = {"parameter": "mass_loading_t", "upper": 1e307, "unit": "kg/m**2"}
    response = engineer_client.post(URL, body, format="json")
    assert response.status_code == 400 and "upper" in response.json()["errors"]
