"""The items endpoints through HTTP: register, look up, list, scrap; roles, idempotency, limits."""

from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.models import AuditEvent
from core.errors import ErrorCode, InvalidInput
from core.models import IdempotencyKey
from lots.identifiers import kind_gtin
from lots.models import Item, ItemStatus
from lots.services import item_register
from tests.contract import ITEM_FIELDS

ITEMS = "/api/items/"
SGTIN = "urn:epc:id:sgtin:0614141.812345.6789"
SGTIN_HEX = "3034257BF7194E4000001A85"
NAM = {"kind": "cathode_active_material", "quantity": 25, "unit": "kg"}


def _counts() -> tuple[int, int]:
    return Item.objects.count(), AuditEvent.objects.count()


def _assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    if field is not None:
        assert field in body["errors"], body
    return body


# --- Register ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_register_returns_201_with_the_contract_item_shape(operator, operator_client, stations):
    before = datetime.now(UTC)
    body = {
        **NAM,
        "rfid_epc": SGTIN_HEX,
        "supplier_lot": "NMC-A1",
        "attributes": {"d50_um": 11.2},
        "station": "MIX-01",
    }
    response = operator_client.post(ITEMS, body, format="json")
    assert response.status_code == 201, response.content
    item = response.json()
    assert ITEM_FIELDS <= set(item)
    assert item["code"].startswith("CAM-")
    assert item["kind"] == "cathode_active_material"
    assert item["level"] == "batch"
    assert item["status"] == "active"
    assert item["quantity"] == 25.0
    assert item["unit"] == "kg"
    assert item["length_m"] is None
    assert item["polarity"] is None
    assert item["rfid_epc"] == SGTIN
    assert item["supplier_lot"] == "NMC-A1"
    assert item["attributes"] == {"d50_um": 11.2}
    assert item["created_by"] == operator.username
    assert item["station"] == "MIX-01"
    assert item["digital_link"] == f"https://id.celltrace.example/01/{kind_gtin(101)}/10/{item['code']}"
    created_at = datetime.fromisoformat(item["created_at"])
    assert created_at.utcoffset() is not None
    assert before <= created_at <= datetime.now(UTC)
    assert Item.objects.get(code=item["code"]).created_by == operator


@pytest.mark.django_db
def test_register_writes_an_audit_row(operator, operator_client):
    code = operator_client.post(ITEMS, NAM, format="json").json()["code"]
    event = AuditEvent.objects.get(action="item.register", entity_id=code)
    assert event.actor == operator
    assert event.entity == "item"
    assert event.after["code"] == code
    assert event.after["kind"] == "cathode_active_material"
    assert event.after["status"] == "active"
    assert event.after["unit"] == "kg"


@pytest.mark.django_db
def test_register_a_roll_gives_its_length_and_polarity(operator_client):
    body = {"kind": "coated_roll", "quantity": 0.52, "unit": "km", "polarity": "anode"}
    item = operator_client.post(ITEMS, body, format="json").json()
    assert item["code"].startswith("CR-")
    assert item["length_m"] == pytest.approx(520.0)
    assert (item["quantity"], item["unit"], item["polarity"]) == (0.52, "km", "anode")


@pytest.mark.django_db
def test_register_an_instance_kind(settings, operator_client):
    settings.CELLTRACE_RESOLVER = "resolver.pilot-line.test"
    item = operator_client.post(ITEMS, {"kind": "cell"}, format="json").json()
    assert (item["level"], item["quantity"], item["unit"]) == ("instance", 1.0, "count")
    assert item["digital_link"] == f"https://resolver.pilot-line.test/01/{kind_gtin(401)}/21/{item['code']}"


@pytest.mark.django_db
def test_generated_codes_are_unique_with_the_kind_prefix(operator_client):
    codes = [operator_client.post(ITEMS, NAM, format="json").json()["code"] for _ in range(3)]
    assert len(set(codes)) == 3
    assert all(code.startswith("CAM-") for code in codes)


@pytest.mark.django_db
def test_a_given_code_is_kept(operator_client):
    item = operator_client.post(ITEMS, {**NAM, "code": "NMC-LOT-42"}, format="json").json()
    assert item["code"] == "NMC-LOT-42"
    assert item["digital_link"].endswith("/10/NMC-LOT-42")


@pytest.mark.django_db
def test_duplicate_code_is_409(operator_client):
    operator_client.post(ITEMS, {**NAM, "code": "NMC-LOT-42"}, format="json")
    counts = _counts()
    response = operator_client.post(ITEMS, {**NAM, "code": "NMC-LOT-42"}, format="json")
    _assert_error(response, 409, ErrorCode.DUPLICATE_CODE, "code")
    assert _counts() == counts


@pytest.mark.django_db
def test_duplicate_epc_is_409_whatever_its_spelling(operator_client):
    operator_client.post(ITEMS, {**NAM, "rfid_epc": SGTIN}, format="json")
    counts = _counts()
    response = operator_client.post(ITEMS, {**NAM, "rfid_epc": SGTIN_HEX}, format="json")
    _assert_error(response, 409, ErrorCode.DUPLICATE_EPC, "rfid_epc")
    assert _counts() == counts


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({**NAM, "kind": "unobtainium"}, "kind", ErrorCode.UNKNOWN_KIND),
        ({"quantity": 25, "unit": "kg"}, "kind", InvalidInput.code),
        ({**NAM, "quantity": -1}, "quantity", ErrorCode.BAD_QUANTITY),
        ({**NAM, "quantity": 0}, "quantity", ErrorCode.BAD_QUANTITY),
        ({**NAM, "quantity": "NaN"}, "quantity", ErrorCode.BAD_QUANTITY),
        ({**NAM, "quantity": "-Infinity"}, "quantity", ErrorCode.BAD_QUANTITY),
        ({**NAM, "quantity": 1e15}, "quantity", ErrorCode.BAD_QUANTITY),
        ({**NAM, "quantity": "heavy"}, "quantity", InvalidInput.code),
        ({"kind": "cathode_active_material", "quantity": 25}, "unit", ErrorCode.BAD_UNIT),
        ({**NAM, "unit": ""}, "unit", ErrorCode.BAD_UNIT),
        ({**NAM, "unit": "furlongz"}, "unit", ErrorCode.BAD_UNIT),
        ({**NAM, "unit": "kg/0"}, "unit", ErrorCode.BAD_UNIT),
        ({"kind": "coated_roll", "quantity": 100, "unit": "kg"}, "unit", ErrorCode.INCOMPATIBLE_UNIT),
        ({**NAM, "polarity": "cathode"}, "polarity", InvalidInput.code),
        ({**NAM, "polarity": "north"}, "polarity", InvalidInput.code),
        ({**NAM, "rfid_epc": "not-an-epc"}, "rfid_epc", ErrorCode.BAD_EPC),
        ({**NAM, "code": "has space"}, "code", InvalidInput.code),
        ({**NAM, "code": "x" * 65}, "code", InvalidInput.code),
        ({**NAM, "attributes": ["not", "a", "dict"]}, "attributes", InvalidInput.code),
        ({**NAM, "station": "NO-SUCH-STATION"}, "station", ErrorCode.UNKNOWN_STATION),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(operator_client, body, field, code):
    counts = _counts()
    response = operator_client.post(ITEMS, body, format="json")
    _assert_error(response, 400, code, field)
    assert _counts() == counts


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        '{"kind": "cathode_active_material", "quantity": 25, "unit": "kg"',
        "not json at all",
        '{"kind": "cathode_active_material", "quantity": NaN, "unit": "kg"}',
    ],
)
def test_malformed_json_is_400_malformed(operator_client, raw):
    counts = _counts()
    response = operator_client.post(ITEMS, raw, content_type="application/json")
    _assert_error(response, 400, ErrorCode.MALFORMED, "body")
    assert _counts() == counts


@pytest.mark.django_db
def test_a_json_number_too_big_for_a_float_is_bad_quantity(operator_client):
    counts = _counts()
    raw = '{"kind": "cathode_active_material", "quantity": 1e999, "unit": "kg"}'  # json reads inf
    response = operator_client.post(ITEMS, raw, content_type="application/json")
    _assert_error(response, 400, ErrorCode.BAD_QUANTITY, "quantity")
    assert _counts() == counts


@pytest.mark.django_db
def test_a_body_over_the_upload_limit_is_413(settings, operator_client):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    counts = _counts()
    body = {**NAM, "attributes": {"notes": "x" * 4096}}
    response = operator_client.post(ITEMS, body, format="json")
    _assert_error(response, 413, ErrorCode.BODY_TOO_LARGE)
    assert _counts() == counts
    # Under the limit the same endpoint still works.
    assert operator_client.post(ITEMS, {**NAM, "attributes": {"notes": "x" * 100}}, format="json").status_code == 201


@pytest.mark.django_db
def test_a_form_body_is_415_not_an_item_of_defaults(operator_client):
    # A form would be read as an object missing what it does not carry; items take JSON only.
    counts = _counts()
    form = urlencode({key: str(value) for key, value in NAM.items()})
    for response in (
        operator_client.post(ITEMS, NAM, format="multipart"),
        operator_client.post(ITEMS, form, content_type="application/x-www-form-urlencoded"),
    ):
        assert response.status_code == 415, response.content
        assert response.json()["code"] == "unsupported_media_type"
    assert _counts() == counts


# --- Look up ----------------------------------------------------------------------------------


@pytest.fixture
def tagged(operator):
    return item_register(actor=operator, kind="electrolyte", quantity=20, unit="L", rfid_epc=SGTIN)


@pytest.mark.django_db
def test_get_by_code(operator_client, tagged, django_assert_num_queries):
    # 1 token + user with the user's groups (role), 2 the item with kind, creator and station.
    with django_assert_num_queries(2):
        response = operator_client.get(f"{ITEMS}{tagged.code}/")
    assert response.status_code == 200
    item = response.json()
    assert ITEM_FIELDS <= set(item)
    assert (item["code"], item["rfid_epc"], item["unit"]) == (tagged.code, SGTIN, "L")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "identifier",
    [SGTIN, SGTIN_HEX, SGTIN_HEX.lower(), "urn:epc:tag:sgtin-96:3.0614141.812345.6789"],
)
def test_get_by_epc(operator_client, tagged, identifier):
    response = operator_client.get(f"{ITEMS}{identifier}/")
    assert response.status_code == 200, response.content
    assert response.json()["code"] == tagged.code


@pytest.mark.django_db
def test_get_by_url_encoded_digital_link(operator_client, tagged):
    link = operator_client.get(f"{ITEMS}{tagged.code}/").json()["digital_link"]
    response = operator_client.get(f"{ITEMS}{quote(link, safe='')}/")
    assert response.status_code == 200, response.content
    assert response.json()["code"] == tagged.code


@pytest.mark.django_db
def test_get_by_digital_link_of_a_code_that_needs_percent_encoding(operator, operator_client):
    item = item_register(actor=operator, kind="binder", quantity=5, unit="kg", code="PVDF lot 7/\u00e9")
    link = operator_client.get(f"{ITEMS}{quote(item.code, safe='')}/").json()["digital_link"]
    assert link.endswith("/10/PVDF%20lot%207%2F%C3%A9")
    response = operator_client.get(f"{ITEMS}{quote(link, safe='')}/")
    assert response.status_code == 200, response.content
    assert response.json()["code"] == item.code


@pytest.mark.django_db
@pytest.mark.parametrize(
    "identifier",
    [
        "NOPE-000001",
        "urn:epc:id:sgtin:0614141.812345.6790",
        quote("https://id.celltrace.example/01/00614141001019/10/NOPE-1", safe=""),
        "not%20even%20a%20code",
    ],
)
def test_unknown_item_is_404_with_the_error_shape(operator_client, tagged, identifier):
    _assert_error(operator_client.get(f"{ITEMS}{identifier}/"), 404, ErrorCode.UNKNOWN_ITEM)


# --- List -------------------------------------------------------------------------------------


def _make_items(actor, count: int, station=None) -> list[Item]:
    return [
        item_register(actor=actor, kind="cathode_active_material", quantity=1 + i, unit="kg", station=station)
        for i in range(count)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("count", [3, 30])
def test_list_query_count_does_not_grow_with_items(
    operator, operator_client, stations, django_assert_num_queries, count
):
    _make_items(operator, count, station=stations["MIX-01"])
    # 1 token + user with the user's groups (role), 2 the page of items joined to kind, creator,
    # station (cursor pagination: no COUNT).
    with django_assert_num_queries(2):
        response = operator_client.get(ITEMS)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == count
    assert {r["station"] for r in results} == {"MIX-01"}
    assert {r["created_by"] for r in results} == {operator.username}


@pytest.mark.django_db
def test_list_is_paginated_newest_first(operator, operator_client):
    codes = [i.code for i in _make_items(operator, 5)]
    page = operator_client.get(ITEMS, {"page_size": 2}).json()
    seen = [r["code"] for r in page["results"]]
    assert len(seen) == 2 and page["next"]
    while page["next"]:
        page = operator_client.get(page["next"]).json()
        seen += [r["code"] for r in page["results"]]
    assert seen == codes[::-1]


@pytest.fixture
def assortment(operator):
    t0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    nmc = item_register(
        actor=operator, kind="cathode_active_material", quantity=25, unit="kg", supplier_lot="NMC-A1", created_at=t0
    )
    graphite = item_register(
        actor=operator,
        kind="anode_active_material",
        quantity=25,
        unit="kg",
        supplier_lot="GR-77",
        created_at=t0 + timedelta(days=1),
    )
    foil = item_register(
        actor=operator, kind="current_collector_foil", quantity=1000, unit="m", created_at=t0 + timedelta(days=2)
    )
    Item.objects.filter(pk=foil.pk).update(status=ItemStatus.SCRAPPED)
    return {"nmc": nmc.code, "graphite": graphite.code, "foil": foil.code, "t0": t0}


def _listed(client, **params) -> set[str]:
    response = client.get(ITEMS, params)
    assert response.status_code == 200, response.content
    return {r["code"] for r in response.json()["results"]}


@pytest.mark.django_db
def test_list_filters(operator_client, assortment):
    a = assortment
    assert _listed(operator_client) == {a["nmc"], a["graphite"], a["foil"]}
    assert _listed(operator_client, kind="anode_active_material") == {a["graphite"]}
    assert _listed(operator_client, status="scrapped") == {a["foil"]}
    assert _listed(operator_client, status="active") == {a["nmc"], a["graphite"]}
    after = (a["t0"] + timedelta(hours=12)).astimezone(UTC).isoformat()
    assert _listed(operator_client, created_after=after) == {a["graphite"], a["foil"]}
    assert _listed(operator_client, created_after="2026-03-03T07:00:00+02:00") == {a["graphite"], a["foil"]}
    assert _listed(operator_client, q="nmc-a") == {a["nmc"]}  # supplier lot, any case
    assert _listed(operator_client, q=a["foil"].lower()) == {a["foil"]}  # code
    assert _listed(operator_client, kind="cathode_active_material", status="scrapped") == set()


@pytest.mark.django_db
@pytest.mark.parametrize(("param", "value"), [("status", "melted"), ("created_after", "yesterday")])
def test_list_bad_filter_is_400_naming_it(operator_client, param, value):
    _assert_error(operator_client.get(ITEMS, {param: value}), 400, InvalidInput.code, param)


# --- Permissions ------------------------------------------------------------------------------


@pytest.fixture
def roleless_client(db) -> APIClient:
    user = User.objects.create_user(username="nora-norole")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.django_db
def test_no_token_is_401(anon_client):
    counts = _counts()
    assert anon_client.get(ITEMS).status_code == 401
    _assert_error(anon_client.post(ITEMS, NAM, format="json"), 401, "not_authenticated")
    assert anon_client.get(f"{ITEMS}CAM-000001/").status_code == 401
    assert _counts() == counts


@pytest.mark.django_db
def test_a_bad_token_is_401(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    assert client.post(ITEMS, NAM, format="json").status_code == 401


@pytest.mark.django_db
def test_a_user_without_a_role_is_403(roleless_client):
    counts = _counts()
    _assert_error(roleless_client.post(ITEMS, NAM, format="json"), 403, "permission_denied")
    assert roleless_client.get(ITEMS).status_code == 403
    assert _counts() == counts


@pytest.mark.django_db
@pytest.mark.parametrize("client_fixture", ["operator_client", "engineer_client", "admin_client_api"])
def test_every_role_may_register_items(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    assert client.post(ITEMS, NAM, format="json").status_code == 201


STATION = {"code": "SLT-09", "name": "Slitter 9", "steps": ["slitting"], "room": "dry-room-1"}


@pytest.mark.django_db
def test_operator_may_not_create_stations(operator_client):
    _assert_error(operator_client.post("/api/stations/", STATION, format="json"), 403, "permission_denied")
    assert not AuditEvent.objects.filter(action="station.create").exists()


@pytest.mark.django_db
def test_anonymous_may_not_create_stations(anon_client):
    assert anon_client.post("/api/stations/", STATION, format="json").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("client_fixture", ["engineer_client", "admin_client_api"])
def test_engineer_and_admin_create_stations(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    response = client.post("/api/stations/", STATION, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {"code": "SLT-09", "name": "Slitter 9", "room": "dry-room-1", "steps": ["slitting"]}
    assert client.get("/api/stations/").json()[0]["code"] == "SLT-09"


# --- Idempotency ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_same_key_same_body_replays_and_writes_once(operator_client):
    headers = {"HTTP_IDEMPOTENCY_KEY": "scanner-7-0001"}
    first = operator_client.post(ITEMS, NAM, format="json", **headers)
    counts = _counts()
    second = operator_client.post(ITEMS, NAM, format="json", **headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replay"] == "true"
    assert _counts() == counts
    assert Item.objects.filter(code=first.json()["code"]).count() == 1


@pytest.mark.django_db
def test_same_key_other_body_is_409(operator_client):
    headers = {"HTTP_IDEMPOTENCY_KEY": "scanner-7-0002"}
    operator_client.post(ITEMS, NAM, format="json", **headers)
    counts = _counts()
    response = operator_client.post(ITEMS, {**NAM, "quantity": 26}, format="json", **headers)
    _assert_error(response, 409, ErrorCode.IDEMPOTENCY_KEY_REUSED, "Idempotency-Key")
    assert _counts() == counts


@pytest.mark.django_db
def test_keys_belong_to_their_user(operator_client, engineer_client):
    headers = {"HTTP_IDEMPOTENCY_KEY": "shared-key"}
    first = operator_client.post(ITEMS, NAM, format="json", **headers)
    second = engineer_client.post(ITEMS, NAM, format="json", **headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["code"] != second.json()["code"]
    assert IdempotencyKey.objects.filter(key="shared-key").count() == 2


@pytest.mark.django_db
def test_a_failed_write_does_not_burn_the_key(operator_client):
    headers = {"HTTP_IDEMPOTENCY_KEY": "scanner-7-0003"}
    bad = operator_client.post(ITEMS, {**NAM, "kind": "unobtainium"}, format="json", **headers)
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.filter(key="scanner-7-0003").exists()
    assert operator_client.post(ITEMS, NAM, format="json", **headers).status_code == 201


@pytest.mark.django_db
def test_an_overlong_key_is_400(operator_client):
    counts = _counts()
    response = operator_client.post(ITEMS, NAM, format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)
    _assert_error(response, 400, InvalidInput.code, "Idempotency-Key")
    assert _counts() == counts


# --- Scrap ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_scrap_then_scrap_again(operator, operator_client):
    code = operator_client.post(ITEMS, NAM, format="json").json()["code"]
    response = operator_client.post(f"{ITEMS}{code}/scrap/", {"reason": "moisture over spec"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "scrapped"
    assert ITEM_FIELDS <= set(response.json())
    assert Item.objects.get(code=code).status == ItemStatus.SCRAPPED
    event = AuditEvent.objects.get(action="item.scrap", entity_id=code)
    assert (event.actor, event.after["reason"]) == (operator, "moisture over spec")
    audits = AuditEvent.objects.count()
    again = operator_client.post(f"{ITEMS}{code}/scrap/", {"reason": "still wet"}, format="json")
    _assert_error(again, 409, ErrorCode.ITEM_NOT_ACTIVE, "item")
    assert AuditEvent.objects.count() == audits


@pytest.mark.django_db
def test_scrap_by_epc(operator_client):
    code = operator_client.post(ITEMS, {**NAM, "rfid_epc": SGTIN}, format="json").json()["code"]
    response = operator_client.post(f"{ITEMS}{SGTIN_HEX}/scrap/", {"reason": "dropped"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["code"] == code


@pytest.mark.django_db
def test_scrap_needs_a_reason(operator_client):
    code = operator_client.post(ITEMS, NAM, format="json").json()["code"]
    _assert_error(operator_client.post(f"{ITEMS}{code}/scrap/", {}, format="json"), 400, InvalidInput.code, "reason")
    blank = operator_client.post(f"{ITEMS}{code}/scrap/", {"reason": " "}, format="json")
    _assert_error(blank, 400, InvalidInput.code, "reason")
    assert Item.objects.get(code=code).status == ItemStatus.ACTIVE


@pytest.mark.django_db
def test_scrap_unknown_item_is_404(operator_client):
    response = operator_client.post(f"{ITEMS}NOPE-000001/scrap/", {"reason": "x"}, format="json")
    _assert_error(response, 404, ErrorCode.UNKNOWN_ITEM)


@pytest.mark.django_db
def test_scrap_needs_a_token_and_a_role(operator, anon_client, roleless_client):
    item = item_register(actor=operator, **NAM)
    assert anon_client.post(f"{ITEMS}{item.code}/scrap/", {"reason": "x"}, format="json").status_code == 401
    assert roleless_client.post(f"{ITEMS}{item.code}/scrap/", {"reason": "x"}, format="json").status_code == 403
    item.refresh_from_db()
    assert item.status == ItemStatus.ACTIVE
