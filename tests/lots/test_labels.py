"""QR labels: what a scanner reads off them is exactly the item's Digital Link."""

from io import BytesIO
from urllib.parse import quote

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from core.errors import ErrorCode
from lots.labels import label_image, label_pdf, label_png
from lots.services import item_register

LINK = "https://id.celltrace.example/01/00614141001019/10/CAM-000042"


def _decode(image: Image.Image) -> list[str]:
    return [
        barcode.text for barcode in zxingcpp.read_barcodes(image) if barcode.format == zxingcpp.BarcodeFormat.QRCode
    ]


def _png_image(body: bytes) -> Image.Image:
    image = Image.open(BytesIO(body))
    image.load()
    return image


def _pdf_image(body: bytes) -> Image.Image:
    reader = PdfReader(BytesIO(body))
    assert len(reader.pages) == 1
    images = reader.pages[0].images
    assert len(images) == 1
    return images[0].image


def test_label_image_carries_the_link_and_room_for_the_caption():
    plain = label_image(digital_link=LINK, code="CAM-000042")
    captioned = label_image(digital_link=LINK, code="CAM-000042", caption="Cathode active material")
    assert _decode(plain) == [LINK]
    assert _decode(captioned) == [LINK]
    assert captioned.width == plain.width
    assert captioned.height > plain.height > plain.width  # text strip below the square symbol


def test_label_png_and_pdf_bytes_decode_to_the_link():
    png = label_png(digital_link=LINK, code="CAM-000042")
    pdf = label_pdf(digital_link=LINK, code="CAM-000042")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert pdf.startswith(b"%PDF-")
    assert _decode(_png_image(png)) == [LINK]
    assert _decode(_pdf_image(pdf)) == [LINK]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "quantity", "unit", "ai"),
    [("cathode_active_material", 25, "kg", "/10/"), ("cell", None, None, "/21/")],
)
def test_png_label_decodes_to_the_items_digital_link(operator, operator_client, kind, quantity, unit, ai):
    item = item_register(actor=operator, kind=kind, quantity=quantity, unit=unit)
    link = operator_client.get(f"/api/items/{item.code}/").json()["digital_link"]
    assert ai in link
    response = operator_client.get(f"/api/items/{item.code}/label.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == f'inline; filename="{item.code}.png"'
    assert _decode(_png_image(response.content)) == [link]


@pytest.mark.django_db
def test_pdf_label_decodes_to_the_items_digital_link(operator, operator_client):
    item = item_register(actor=operator, kind="current_collector_foil", quantity=1000, unit="m")
    link = operator_client.get(f"/api/items/{item.code}/").json()["digital_link"]
    response = operator_client.get(f"/api/items/{item.code}/label.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert _decode(_pdf_image(response.content)) == [link]


@pytest.mark.django_db
def test_label_of_a_code_that_needs_percent_encoding(settings, operator, operator_client):
    settings.CELLTRACE_RESOLVER = "resolver.pilot-line.test"
    item = item_register(actor=operator, kind="binder", quantity=5, unit="kg", code="PVDF lot 7/\u00e9")
    response = operator_client.get(f"/api/items/{quote(item.code, safe='')}/label.png")
    assert response.status_code == 200
    (decoded,) = _decode(_png_image(response.content))
    assert decoded == "https://resolver.pilot-line.test/01/00614141001040/10/PVDF%20lot%207%2F%C3%A9"


@pytest.mark.django_db
def test_label_found_by_digital_link_and_by_epc(operator, operator_client):
    epc = "urn:epc:id:sgtin:0614141.812345.6789"
    item = item_register(actor=operator, kind="electrolyte", quantity=20, unit="L", rfid_epc=epc)
    link = operator_client.get(f"/api/items/{item.code}/").json()["digital_link"]
    for identifier in (quote(link, safe=""), epc, "3034257BF7194E4000001A85"):
        response = operator_client.get(f"/api/items/{identifier}/label.png")
        assert response.status_code == 200, identifier
        assert _decode(_png_image(response.content)) == [link]


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["gif", "svg", "PNG", "png.exe"])
def test_unknown_label_format_is_404(operator, operator_client, fmt):
    item = item_register(actor=operator, kind="binder", quantity=5, unit="kg")
    response = operator_client.get(f"/api/items/{item.code}/label.{fmt}")
    assert response.status_code == 404
    assert set(response.json()) == {"detail", "code", "errors"}


@pytest.mark.django_db
def test_label_of_an_unknown_item_is_404(operator_client):
    response = operator_client.get("/api/items/NOPE-000001/label.png")
    assert response.status_code == 404
    assert response.json()["code"] == ErrorCode.UNKNOWN_ITEM


@pytest.mark.django_db
def test_label_needs_a_token(operator, anon_client):
    item = item_register(actor=operator, kind="binder", quantity=5, unit="kg")
    assert anon_client.get(f"/api/items/{item.code}/label.png").status_code == 401
