"""GS1 identifiers: GTIN check digits, Digital Link URIs and EPC normalisation."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.errors import ErrorCode, InvalidInput
from lots.identifiers import code_from_digital_link, digital_link, epc_normalize, gtin_check_digit, kind_gtin
from lots.models import ItemKind

# Published GTINs, padded to 14 digits: GS1's own example GTIN, the EAN-13 of a Stabilo pen,
# GS1's EAN-13 example and a UPC-A (Digital Link uses the 14-digit form).
KNOWN_GTINS = ["00614141123452", "04006381333931", "05901234123457", "00036000291452"]


def _valid_gtin14(gtin: str) -> bool:
    return len(gtin) == 14 and gtin.isdigit() and gtin_check_digit(gtin[:13]) == gtin[13]


@pytest.mark.parametrize("gtin", KNOWN_GTINS)
def test_check_digit_of_published_gtins(gtin):
    assert gtin_check_digit(gtin[:13]) == gtin[13]


@pytest.mark.parametrize("gtin", KNOWN_GTINS)
def test_a_wrong_last_digit_is_not_the_check_digit(gtin):
    assert gtin_check_digit(gtin[:12] + str((int(gtin[12]) + 1) % 10)) != gtin[13]


def test_check_digit_is_zero_when_the_sum_is_a_multiple_of_ten():
    assert gtin_check_digit("0000000000000") == "0"
    # 3*1 + 7 = 10: weights run 3, 1, 3, ... from the right.
    assert gtin_check_digit("0000000000071") == "0"


def test_kind_gtin_reproduces_a_published_gtin(settings):
    settings.CELLTRACE_GS1_COMPANY_PREFIX = "4006381"
    assert kind_gtin(33393) == "04006381333931"


def test_kind_gtin_uses_the_company_prefix(settings):
    settings.CELLTRACE_GS1_COMPANY_PREFIX = "0614141"
    assert kind_gtin(101) == "00614141001019"
    settings.CELLTRACE_GS1_COMPANY_PREFIX = "952123456"
    gtin = kind_gtin(101)
    assert gtin.startswith("0952123456")
    assert _valid_gtin14(gtin)


@pytest.mark.django_db
def test_every_seeded_kind_has_a_valid_and_distinct_gtin14():
    gtins = [kind_gtin(kind.gtin_item_reference) for kind in ItemKind.objects.all()]
    assert len(gtins) >= 18
    assert all(_valid_gtin14(g) for g in gtins), gtins
    assert len(set(gtins)) == len(gtins)


def test_kind_gtin_refuses_an_item_reference_that_does_not_fit_the_prefix(settings):
    # A 10-digit company prefix leaves two digits for the item reference: 101 cannot be one.
    settings.CELLTRACE_GS1_COMPANY_PREFIX = "9521234567"
    with pytest.raises(ImproperlyConfigured):
        kind_gtin(101)


def test_digital_link_uses_ai_10_for_batches_and_21_for_instances(settings):
    settings.CELLTRACE_RESOLVER = "id.celltrace.example"
    settings.CELLTRACE_GS1_COMPANY_PREFIX = "0614141"
    batch = digital_link(code="CAM-000001", gtin_item_reference=101, level="batch")
    instance = digital_link(code="CELL-000001", gtin_item_reference=401, level="instance")
    assert batch == "https://id.celltrace.example/01/00614141001019/10/CAM-000001"
    assert instance == f"https://id.celltrace.example/01/{kind_gtin(401)}/21/CELL-000001"


def test_digital_link_honours_resolver_and_company_prefix(settings):
    settings.CELLTRACE_RESOLVER = "resolver.pilot-line.test"
    settings.CELLTRACE_GS1_COMPANY_PREFIX = "4006381"
    link = digital_link(code="X-1", gtin_item_reference=33393, level="batch")
    assert link == "https://resolver.pilot-line.test/01/04006381333931/10/X-1"


@pytest.mark.parametrize(
    "code",
    ["CAM-000001", "lot 7/b", "NMC#42?x=1&y=2", "50%", "Ni\u2013Co \u00e9\u00e9", "a/b/c/01/x/10/y"],
)
@pytest.mark.parametrize("level", ["batch", "instance"])
def test_code_round_trips_through_the_digital_link(code, level):
    link = digital_link(code=code, gtin_item_reference=101, level=level)
    path = link.split("://", 1)[1]
    # Everything the code brings is percent-encoded into one path segment.
    assert path.count("/") == 4
    assert " " not in link and "?" not in link and "#" not in link
    assert code_from_digital_link(link) == code


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("https://id.gs1.org/01/09506000134352/10/ABC123", "ABC123"),
        ("http://example.com/01/09506000134352/21/S%2F1", "S/1"),
        ("https://example.com/prefix/path/01/09506000134352/10/L1?linkType=gs1:pip", "L1"),
    ],
)
def test_code_from_a_digital_link_of_any_resolver(uri, code):
    assert code_from_digital_link(uri) == code


@pytest.mark.parametrize(
    "text",
    [
        "CAM-000001",
        "urn:epc:id:sgtin:0614141.812345.6789",
        "3034257BF7194E4000001A85",
        "ftp://id.gs1.org/01/09506000134352/10/ABC",
        "https://example.com/products/42",
        "https://id.gs1.org/01/09506000134352",
        "https://id.gs1.org/01/09506000134352/17/260301",
        "",
    ],
)
def test_code_from_digital_link_rejects_what_is_not_one(text):
    assert code_from_digital_link(text) is None


SGTIN = "urn:epc:id:sgtin:0614141.812345.6789"


@pytest.mark.parametrize(
    "raw",
    [
        SGTIN,
        f"  {SGTIN}  ",
        "urn:epc:tag:sgtin-96:3.0614141.812345.6789",
        "3034257BF7194E4000001A85",
        "3034257bf7194e4000001a85",
        "0x3034257BF7194E4000001A85",
    ],
)
def test_epc_normalize_gives_the_pure_identity_urn(raw):
    assert epc_normalize(raw) == SGTIN


@pytest.mark.parametrize(
    "raw",
    [
        "garbage",
        "",
        "urn:epc:id:sgtin:xx",
        "urn:epc:tag:sgtin-96:3.0614141.812345",
        "3034257BF7194E40000",  # too short for any tag
        "FFFFFFFFFFFFFFFFFFFFFFFF",  # no such header
        "ZZZZZZZZZZZZZZZZZZZZZZZZ",
        "https://id.gs1.org/01/09506000134352/21/1",
    ],
)
def test_epc_normalize_rejects_garbage_on_the_rfid_epc_field(raw):
    with pytest.raises(InvalidInput) as info:
        epc_normalize(raw)
    assert info.value.code == ErrorCode.BAD_EPC
    assert list(info.value.errors) == ["rfid_epc"]


def test_epc_normalize_names_the_field_it_is_given():
    with pytest.raises(InvalidInput) as info:
        epc_normalize("nope", field="outputs[0].rfid_epc")
    assert list(info.value.errors) == ["outputs[0].rfid_epc"]
