"""What the seed paper says, for checking ``catalog.csv`` against it.

Zanotto et al., "Data Specifications for Battery Manufacturing Digitalization",
Batteries & Supercaps 2022 (sections 4.1.1-4.1.8, Tables 5-12). These constants record
the paper's content, not the catalog's: the steps it covers (its groups "cell assembly",
"electrolyte filling and wetting" and "formation and degassing" split into CellTrace's step
codes), parameters it clearly names, and the typical ranges it states in the prose. Tests
use them to check that the catalog file still covers the paper. Plain Python, no Django.
"""

PAPER_STEPS: frozenset[str] = frozenset(
    {
        "mixing",  # 4.1.1 Slurry
        "coating",  # 4.1.2
        "drying",  # 4.1.3
        "calendering",  # 4.1.4
        "slitting",  # 4.1.5
        "post_drying",  # 4.1.5
        "cutting",  # 4.1.6 Cell assembly
        "stacking",
        "winding",
        "tab_welding",
        "packaging",
        "electrolyte_filling",  # 4.1.7
        "wetting",
        "sealing",
        "formation",  # 4.1.8
        "degassing",
        "aging",  # self-discharge after weeks
        "eol_test",  # end-of-line test
    }
)

# Parameters the paper names outright, spread over all steps, materials and the dry room.
REQUIRED_CODES: list[str] = [
    # materials (4.1.1)
    "am_particle_size_distribution",
    "am_morphology",
    "impurity_content",
    # mixing
    "am_content",
    "binder_content",
    "solid_content",
    "mixing_speed",
    "mixing_time",
    "slurry_viscosity",
    "slurry_density",
    # coating
    "coating_speed",
    "web_tension",
    "coating_gap",
    "wet_film_thickness",
    "mass_loading",
    "coating_thickness",
    # drying
    "drying_temperature",
    "binder_distribution",
    "adhesion_strength",
    # calendering
    "roll_gap",
    "calendering_line_load",
    "calendering_speed",
    "calendering_temperature",
    "electrode_thickness_calendered",
    "porosity",
    "tortuosity",
    # slitting and post-drying
    "slitting_speed",
    "slit_width",
    "post_drying_temperature",
    "post_drying_pressure",
    "post_drying_time",
    "residual_moisture",
    # cell assembly
    "separator_tension",
    "stacking_speed",
    "stacking_overlap",
    "metallic_particle_size",
    "weld_porosity",
    # electrolyte filling, wetting, sealing
    "electrolyte_volume",
    "filling_chamber_pressure",
    "degree_of_wetting",
    "sealing_temperature",
    # formation, degassing, aging, end-of-line test
    "formation_c_rate",
    "formation_temperature",
    "gas_volume",
    "k_value",
    "eol_ocv",
    "eol_dcir",
    # dry room
    "dry_room_dew_point",
    "dry_room_o2",
    "dry_room_particle_count",
]

# Typical ranges stated in the prose, in the catalog's canonical units.
REQUIRED_RANGES: dict[str, tuple[float, float]] = {
    "mixing_speed": (1000, 4000),  # rpm, 4.1.1
    "coating_speed": (0.3, 30),  # m/min, 4.1.2
    "slitting_speed": (80, 150),  # m/min, 4.1.5
    "post_drying_temperature": (60, 150),  # degC, 4.1.5
    "formation_c_rate": (0.1, 0.5),  # 1/h (C-rate), 4.1.8
}
