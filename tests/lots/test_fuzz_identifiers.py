"""Any code, Digital Link or EPC: the resolver answers, refuses another site's label, or raises
the domain's own errors, never anything else (and never a database error on NUL)."""

from typing import Any

import pytest
from django.conf import settings
from hypothesis import example, given
from hypothesis import strategies as st

from core.errors import ErrorCode, InvalidInput, NotFound
from lots.identifiers import code_from_digital_link, digital_link, digital_link_parts, epc_normalize, foreign_label
from lots.models import Item
from lots.selectors import item_get
from tests.factories import register


def link_of(item: Item) -> str:
    return digital_link(code=item.code, gtin_item_reference=item.kind.gtin_item_reference, level=item.kind.level)


pytestmark = pytest.mark.django_db

OURS = f"https://{settings.CELLTRACE_RESOLVER}/01/0{settings.CELLTRACE_GS1_COMPANY_PREFIX}000001"
PIECES = st.sampled_from(["01", "10", "21", "/", "%", "%2F", "%00", "\x00", "[", "]", ":", "?", "#", "@", "0x"])
IDENTIFIERS = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=12).map("".join),
    st.builds(lambda tail: f"{OURS}{tail}", st.text(max_size=20)),
    st.builds(lambda host, tail: f"https://{host}/01/{tail}", st.text(max_size=12), st.text(max_size=20)),
    st.from_regex(r"\A(0x)?[0-9A-Fa-f]{20,40}\Z"),
    st.builds(lambda tail: f"urn:epc:{tail}", st.text(max_size=40)),
)


@given(IDENTIFIERS)
@example("http://[")
@example("https://id.other.example/01/0123/10/X")
@example("urn:epc:id:sgtin:0614141.812345.6789\x00")
@example("3" * 10000)
def test_identifier_parsers_raise_only_domain_errors(text: str) -> None:
    parts = digital_link_parts(text)
    assert parts is None or isinstance(parts.code, str)
    assert code_from_digital_link(text) == (parts.code if parts else None)
    assert foreign_label(text) is None or parts is not None
    try:
        assert epc_normalize(text).startswith("urn:epc:id:")
    except InvalidInput as exc:
        assert exc.code == ErrorCode.BAD_EPC


@given(IDENTIFIERS)
@example("CR-\x00")
@example("%00")
def test_item_lookup_answers_or_is_not_found(engineer: Any, text: str) -> None:
    try:
        item_get(text)
    except NotFound as exc:
        assert exc.code in (ErrorCode.UNKNOWN_ITEM, ErrorCode.FOREIGN_LABEL)


@pytest.mark.parametrize(
    "link",
    [
        "https://id.elsewhere.example/01/{gtin}/10/{code}",
        "https://{resolver}/01/09999999000017/10/{code}",
    ],
)
def test_lookup_by_another_sites_or_companys_link_is_refused(engineer: Any, link: str) -> None:
    roll = register(engineer, "coated_roll", 500, "m", code="CR-0042", polarity="cathode")
    ours = link_of(roll)
    assert item_get(ours) == roll
    gtin = ours.split("/01/")[1].split("/")[0]
    foreign = link.format(gtin=gtin, code=roll.code, resolver=settings.CELLTRACE_RESOLVER)
    with pytest.raises(NotFound) as caught:
        item_get(foreign)
    assert caught.value.code == ErrorCode.FOREIGN_LABEL


def test_item_api_refuses_a_foreign_link_with_its_code(engineer: Any, engineer_client: Any) -> None:
    roll = register(engineer, "coated_roll", 500, "m", code="CR-0043", polarity="cathode")
    foreign = link_of(roll).replace(settings.CELLTRACE_RESOLVER, "id.elsewhere.example")
    response = engineer_client.get(f"/api/items/{foreign}/")
    assert response.status_code == 404
    assert response.json()["code"] == ErrorCode.FOREIGN_LABEL
    assert engineer_client.get(f"/api/items/{link_of(roll)}/").status_code == 200
