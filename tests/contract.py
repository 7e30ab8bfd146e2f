"""Shapes promised by the HTTP contract (docs/api.md), shared by the tests that check them."""

ITEM_FIELDS = frozenset(
    {
        "code",
        "kind",
        "level",
        "status",
        "quantity",
        "unit",
        "length_m",
        "digital_link",
        "rfid_epc",
        "created_at",
        "created_by",
        "station",
        "attributes",
        "polarity",
    }
)
