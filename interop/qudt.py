"""QUDT unit IRIs for the pint spellings of the catalog, items and cycling tables.

Each local name was checked to be a unit in QUDT's VOCAB_QUDT-UNITS-ALL.ttl
(github.com/qudt/qudt-public-repo, CC BY 4.0, attribution to QUDT.org). A unit without a
checked QUDT name (mV/day, g/m**2/s) is described by its pint spelling alone, not a guess.
"""

QUDT_UNIT = "http://qudt.org/vocab/unit/"

# pint spelling -> QUDT unit local name
QUDT_BY_UNIT: dict[str, str] = {
    "kg": "KiloGM",
    "g": "GM",
    "mg": "MilliGM",
    "m": "M",
    "mm": "MilliM",
    "um": "MicroM",
    "nm": "NanoM",
    "cm**2": "CentiM2",
    "m**2": "M2",
    "L": "L",
    "l": "L",
    "ml": "MilliL",
    "Pa": "PA",
    "kPa": "KiloPA",
    "MPa": "MegaPA",
    "GPa": "GigaPA",
    "mbar": "MilliBAR",
    "N": "N",
    "V": "V",
    "mV": "MilliV",
    "A": "A",
    "mA": "MilliA",
    "Ah": "A-HR",
    "mAh": "MilliA-HR",
    "Wh": "W-HR",
    "kWh": "KiloW-HR",
    "W": "W",
    "ohm": "OHM",
    "mohm": "MilliOHM",
    "degC": "DEG_C",
    "K": "K",
    "s": "SEC",
    "min": "MIN",
    "h": "HR",
    "percent": "PERCENT",
    "percent/month": "PERCENT-PER-MO",
    "ppm": "PPM",
    "dimensionless": "UNITLESS",
    "count": "NUM",
    "piece": "NUM",
    "rpm": "REV-PER-MIN",
    "m/s": "M-PER-SEC",
    "m/min": "M-PER-MIN",
    "Pa*s": "PA-SEC",
    "degree": "DEG",
    "S/m": "S-PER-M",
    "N/m": "N-PER-M",
    "mN/m": "MilliN-PER-M",
    "N/mm": "N-PER-MilliM",
    "g/cm**3": "GM-PER-CentiM3",
    "mg/cm**2": "MilliGM-PER-CentiM2",
    "m**2/g": "M2-PER-GM",
    "1/h": "PER-HR",
    "1/min": "PER-MIN",
    "ml/s": "MilliL-PER-SEC",
    "ml/min": "MilliL-PER-MIN",
    "MPa*m**0.5": "MegaPA-M0dot5",
    "count/m**3": "NUM-PER-M3",
    "mbar*l/s": "MilliBAR-L-PER-SEC",
}


def qudt_unit(unit: str) -> str | None:
    """The QUDT IRI of a CellTrace unit, or None where no checked QUDT unit matches."""
    name = QUDT_BY_UNIT.get(unit)
    return QUDT_UNIT + name if name else None
