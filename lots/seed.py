"""The item kinds of a pouch-cell pilot line (paper, section 2 and Figure 1).

Kept as data so the seeding migration and `load_demo` share one list.
(code, name, level, default unit, code prefix, GS1 item reference, is roll, on electrode path)
"""

from typing import NamedTuple


class KindSpec(NamedTuple):
    code: str
    name: str
    level: str
    default_unit: str
    code_prefix: str
    gtin_item_reference: int
    is_roll: bool = False
    on_electrode_path: bool = False


KINDS: tuple[KindSpec, ...] = (
    KindSpec("cathode_active_material", "Cathode active material", "batch", "kg", "CAM", 101),
    KindSpec("anode_active_material", "Anode active material", "batch", "kg", "AAM", 102),
    KindSpec("conductive_additive", "Conductive additive", "batch", "kg", "CA", 103),
    KindSpec("binder", "Binder", "batch", "kg", "BND", 104),
    KindSpec("solvent", "Solvent", "batch", "L", "SOL", 105),
    KindSpec("current_collector_foil", "Current-collector foil", "batch", "m", "FOIL", 106, True),
    KindSpec("separator", "Separator", "batch", "m", "SEP", 107, True),
    KindSpec("electrolyte", "Electrolyte", "batch", "L", "ELY", 108),
    KindSpec("pouch_foil", "Pouch foil", "batch", "m", "PF", 109, True),
    KindSpec("tab", "Tab", "batch", "count", "TAB", 110),
    KindSpec("slurry", "Slurry", "batch", "kg", "SLR", 201, on_electrode_path=True),
    KindSpec("coated_roll", "Coated roll", "batch", "m", "CR", 202, True, True),
    KindSpec("calendered_roll", "Calendered roll", "batch", "m", "CAL", 203, True, True),
    KindSpec("slit_roll", "Slit roll (lane)", "batch", "m", "SLT", 204, True, True),
    KindSpec("electrode_sheet", "Electrode sheet", "instance", "count", "ES", 301, on_electrode_path=True),
    KindSpec("stack", "Stack", "instance", "count", "STK", 302),
    KindSpec("jelly_roll", "Jelly roll", "instance", "count", "JR", 303),
    KindSpec("cell", "Cell", "instance", "count", "CELL", 401),
)

# What each kind may be counted in, its own dimension first (ItemKind.dimensions): powders by
# mass, liquids by volume or mass (through the item's density), foils and rolls by length.
# Apart from KindSpec because migration 0003 seeds the kinds before the column exists.
MASS, LIQUID, LENGTH, COUNT = ["mass"], ["volume", "mass"], ["length"], ["count"]
KIND_DIMENSIONS: dict[str, list[str]] = {
    "cathode_active_material": MASS,
    "anode_active_material": MASS,
    "conductive_additive": MASS,
    "binder": ["mass", "volume"],  # a powder (PVDF) or a solution (SBR, CMC)
    "solvent": LIQUID,
    "current_collector_foil": LENGTH,
    "separator": LENGTH,
    "electrolyte": LIQUID,
    "pouch_foil": LENGTH,
    "tab": COUNT,
    "slurry": ["mass", "volume"],
    "coated_roll": LENGTH,
    "calendered_roll": LENGTH,
    "slit_roll": LENGTH,
    "electrode_sheet": COUNT,
    "stack": COUNT,
    "jelly_roll": COUNT,
    "cell": COUNT,
}

# (code, name) in line order.
STEPS: tuple[tuple[str, str], ...] = (
    ("mixing", "Mixing"),
    ("coating", "Coating"),
    ("drying", "Drying"),
    ("calendering", "Calendering"),
    ("slitting", "Slitting"),
    ("post_drying", "Post-drying"),
    ("cutting", "Cutting"),
    ("stacking", "Stacking"),
    ("winding", "Winding"),
    ("tab_welding", "Tab welding"),
    ("packaging", "Packaging"),
    ("electrolyte_filling", "Electrolyte filling"),
    ("wetting", "Wetting"),
    ("sealing", "Sealing"),
    ("formation", "Formation"),
    ("degassing", "Degassing"),
    ("aging", "Aging"),
    ("eol_test", "End-of-line test"),
)
