"""UN/ECE Recommendation 20 unit codes, the `uom` of EPCIS quantities and sensor reports.

Only codes checked against the Rec 20 code list are here; a unit without one is exported
without `uom` (its pint spelling travels in a CellTrace extension) rather than under a guess.
"""

# pint spelling used in the catalog and on items -> Rec 20 common code
REC20_BY_UNIT: dict[str, str] = {
    "kg": "KGM",
    "g": "GRM",
    "mg": "MGM",
    "m": "MTR",
    "mm": "MMT",
    "um": "4H",
    "nm": "C45",
    "cm**2": "CMK",
    "m**2": "MTK",
    "L": "LTR",
    "l": "LTR",
    "ml": "MLT",
    "Pa": "PAL",
    "kPa": "KPA",
    "MPa": "MPA",
    "mbar": "MBR",
    "N": "NEW",
    "V": "VLT",
    "mV": "2Z",
    "A": "AMP",
    "Ah": "AMH",
    "Wh": "WHR",
    "kWh": "KWH",
    "ohm": "OHM",
    "degC": "CEL",
    "K": "KEL",
    "s": "SEC",
    "min": "MIN",
    "h": "HUR",
    "percent": "P1",
    "percent/month": "H71",  # QUDT PERCENT-PER-MO gives this uneceCommonCode
    "ppm": "59",
    "dimensionless": "C62",
    "count": "H87",
    "piece": "H87",
    "rpm": "RPM",
    "m/s": "MTS",
    "Pa*s": "C65",
}

# Rec 20 code in a captured document -> the unit CellTrace stores (first spelling wins)
UNIT_BY_REC20: dict[str, str] = {}
for _unit, _code in REC20_BY_UNIT.items():
    UNIT_BY_REC20.setdefault(_code, _unit)


def rec20_code(unit: str) -> str | None:
    """The Rec 20 code of a CellTrace unit, or None where the list has none we trust."""
    return REC20_BY_UNIT.get(unit)


def unit_of_rec20(code: str) -> str | None:
    """The CellTrace unit of a Rec 20 code, or None if CellTrace does not know the code."""
    return UNIT_BY_REC20.get(code)
