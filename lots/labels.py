"""Printable QR labels: the Digital Link as a QR code with the code in plain text below."""

from io import BytesIO

import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_M


def label_image(*, digital_link: str, code: str, caption: str = "") -> Image.Image:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(digital_link)
    qr.make(fit=True)
    symbol = qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    font = ImageFont.load_default(size=28)
    small = ImageFont.load_default(size=18)
    text_height = 80 if caption else 50
    label = Image.new("RGB", (symbol.width, symbol.height + text_height), "white")
    label.paste(symbol, (0, 0))
    draw = ImageDraw.Draw(label)
    draw.text((symbol.width // 2, symbol.height + 4), code, fill="black", font=font, anchor="ma")
    if caption:
        draw.text((symbol.width // 2, symbol.height + 42), caption, fill="black", font=small, anchor="ma")
    return label


def label_png(**kwargs: str) -> bytes:
    buffer = BytesIO()
    label_image(**kwargs).save(buffer, format="PNG")
    return buffer.getvalue()


def label_pdf(**kwargs: str) -> bytes:
    buffer = BytesIO()
    label_image(**kwargs).save(buffer, format="PDF", resolution=300.0)
    return buffer.getvalue()
