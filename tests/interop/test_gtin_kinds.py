"""The GTIN-to-kind table over the API: any role reads it, engineers and admins change it,
every change audited; a GTIN with a wrong check digit or an unknown kind is a 400."""

import pytest

from audit.models import AuditEvent
from interop.models import GtinKind

from .conftest import NMC

pytestmark = pytest.mark.django_db
URL = "/api/epcis/gtin-kinds/"


def test_an_engineer_adds_a_gtin_and_anyone_reads_it(engineer_client, operator_client):
    response = engineer_client.post(URL, {"gtin": NMC, "kind": "cathode_active_material", "note": "A"}, format="json")
    assert response.status_code == 201, response.json()
    assert operator_client.get(URL).json() == [{"gtin": NMC, "kind": "cathode_active_material", "note": "A"}]
    assert AuditEvent.objects.filter(action="gtin_kind.set", entity_id=NMC).exists()


def test_a_gtin_13_is_kept_as_its_gtin_14(engineer_client):
    assert engineer_client.post(URL, {"gtin": NMC[1:], "kind": "binder"}, format="json").status_code == 201
    assert GtinKind.objects.get().gtin == NMC


def test_posting_again_changes_the_kind(engineer_client):
    engineer_client.post(URL, {"gtin": NMC, "kind": "binder"}, format="json")
    engineer_client.post(URL, {"gtin": NMC, "kind": "cathode_active_material"}, format="json")
    assert GtinKind.objects.get(gtin=NMC).kind_id == "cathode_active_material"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"gtin": NMC[:-1] + "9", "kind": "binder"}, "gtin"),
        ({"gtin": "abc", "kind": "binder"}, "gtin"),
        ({"gtin": NMC, "kind": "unobtainium"}, "kind"),
        ({"gtin": NMC}, "kind"),
    ],
)
def test_bad_rows_are_a_400_naming_the_field(engineer_client, body, field):
    response = engineer_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not GtinKind.objects.exists()


def test_operators_may_not_change_the_table(operator_client):
    assert operator_client.post(URL, {"gtin": NMC, "kind": "binder"}, format="json").status_code == 403
    assert not GtinKind.objects.exists()


def test_an_engineer_deletes_a_row(engineer_client, table):
    assert engineer_client.delete(f"{URL}{NMC}/").status_code == 204
    assert not GtinKind.objects.filter(gtin=NMC).exists()
    assert engineer_client.delete(f"{URL}{NMC}/").status_code == 404
