"""Ontology classes for the line's item kinds and steps, kept as data for the seeding migrations.

Every IRI below was read from the ontology's own Turtle source and checked to be an owl:Class
with the quoted skos:prefLabel; a kind or step with no fitting term has none ("" is written).
Sources (all CC BY 4.0, https://creativecommons.org/licenses/by/4.0/):
- EMMO Battery Domain Ontology 0.20.1 (github.com/emmo-repo/domain-battery), prefix
  https://w3id.org/emmo/domain/battery# ; the BattINFO ontology.
- EMMO Electrochemistry Domain Ontology with its manufacturing modules
  (github.com/emmo-repo/domain-electrochemistry), prefixes
  https://w3id.org/emmo/domain/electrochemistry# and https://w3id.org/emmo/domain/manufacturing# .
- Battery Value Chain Ontology (github.com/Battery-Value-Chain-Ontology/ontology, BVCO.ttl),
  prefix https://bvco.ontology.link/ : its process classes name the steps of a process chain.
"""

from typing import NamedTuple

BATTERY = "https://w3id.org/emmo/domain/battery#battery_"
ECHEM = "https://w3id.org/emmo/domain/electrochemistry#electrochemistry_"
MANUFACTURING = "https://w3id.org/emmo/domain/manufacturing#manufacturing_"
BVCO = "https://bvco.ontology.link/BVCO_"


class Term(NamedTuple):
    """One row of a table below: what of the line (an item kind, a step) the class names."""

    subject: str
    ontology: str  # one of the prefixes above
    class_id: str
    label: str  # the class's skos:prefLabel

    @property
    def iri(self) -> str:
        return self.ontology + self.class_id


def _iris(terms: tuple[Term, ...], without: tuple[str, ...]) -> dict[str, str]:
    """subject -> IRI, "" for the subjects no class fits."""
    return {term.subject: term.iri for term in terms} | dict.fromkeys(without, "")


# Item kinds -> EMMO / BattINFO classes.
KIND_TERMS: tuple[Term, ...] = (
    Term("cathode_active_material", ECHEM, "79d1b273_58cd_4be6_a250_434817f7c261", "ActiveMaterial"),
    Term("anode_active_material", ECHEM, "79d1b273_58cd_4be6_a250_434817f7c261", "ActiveMaterial"),
    Term("conductive_additive", ECHEM, "82fef384_8eec_4765_b707_5397054df594", "ConductiveAdditive"),
    Term("binder", ECHEM, "68eb5e35_5bd8_47b1_9b7f_f67224fa291e", "Binder"),
    Term("current_collector_foil", ECHEM, "212af058_3bbb_419f_a9c6_90ba9ebb3706", "CurrentCollector"),
    Term("separator", ECHEM, "331e6cca_f260_4bf8_af55_35304fe1bbe0", "Separator"),
    Term("electrolyte", ECHEM, "fb0d9eef_92af_4628_8814_e065ca255d59", "Electrolyte"),
    Term("pouch_foil", ECHEM, "af751d07_f0b7_43c7_911d_cba864189b2b", "Pouch"),
    Term("tab", ECHEM, "6913368b_39cf_42da_ac51_c1b508930ac5", "CurrentCollectorTab"),
    Term("slurry", ECHEM, "13fad803_de44_490d_a77e_c330c9168087", "Slurry"),
    Term("coated_roll", ECHEM, "92147e31_d015_4889_a092_04fbab033f15", "CoatedElectrode"),
    Term("calendered_roll", ECHEM, "0f007072_a8dd_4798_b865_1bf9363be627", "Electrode"),
    Term("slit_roll", ECHEM, "0f007072_a8dd_4798_b865_1bf9363be627", "Electrode"),
    Term("electrode_sheet", ECHEM, "0f007072_a8dd_4798_b865_1bf9363be627", "Electrode"),
    Term("stack", ECHEM, "27662d03_1bcf_4393_a239_32e31b760839", "ElectrodeStack"),
    Term("cell", BATTERY, "392b3f47_d62a_4bd4_a819_b58b09b8843a", "PouchCell"),
)
KINDS_WITHOUT_TERM = ("solvent", "jelly_roll")

# Steps -> EMMO process classes.
STEP_TERMS: tuple[Term, ...] = (
    Term("mixing", MANUFACTURING, "9e51796f_a99e_4b61_a14d_d5a38cb8219a", "Mixing"),
    Term("coating", ECHEM, "cfcf6ca6_70e9_4369_9314_7f20b3efbf21", "ElectrodeCoatingProcess"),
    Term("drying", ECHEM, "36c2e19c_cb1a_41e9_bcd5_baf9dfd21905", "ElectrodeDrying"),
    Term("calendering", ECHEM, "38a2b407_3be9_4b66_86cf_b961cdffb4c9", "ElectrodeCalendering"),
    Term("slitting", ECHEM, "5096e449_4d92_420e_ae6d_0e156f6e4ebd", "ElectrodeSlitting"),
    Term("post_drying", MANUFACTURING, "22b49463_ec07_4c9e_9b85_d004039b0d99", "VacuumDrying"),
    Term("cutting", ECHEM, "eeafeec2_2969_4886_b572_07ce39d3ee63", "ElectrodeSeparation"),
    Term("stacking", ECHEM, "a490e278_8c6d_4a89_ad0e_ffa48366cd75", "ElectrodeStacking"),
    Term("winding", ECHEM, "707f001f_d2b9_46c2_ac1b_9cd039bcf00f", "ElectrodeWinding"),
    Term("tab_welding", MANUFACTURING, "4f2342ed_84f2_46ba_90c2_5732da7cc993", "Welding"),
    Term("packaging", ECHEM, "d5e99e1f_049c_4111_b97f_613eb652492a", "PouchCellPackaging"),
    Term("electrolyte_filling", ECHEM, "dbc73810_d334_40b8_b73a_7ad2c0b3615f", "PouchCellElectrolyteFilling"),
    Term("formation", ECHEM, "cb223440_51bd_4f16_a536_96ec408e7de4", "FormationCycling"),
    Term("aging", ECHEM, "5076e90b_ed93_4845_87b1_e26bc8a4f0fe", "ElectrochemicalDeviceAging"),
)
STEPS_WITHOUT_TERM = ("wetting", "sealing", "degassing", "eol_test")

# Steps -> Battery Value Chain Ontology process classes.
STEP_PROCESS_TERMS: tuple[Term, ...] = (
    Term("mixing", BVCO, "60aef9bf_772f_4355_9f2f_d58c296efe03", "SlurryComponentMixing"),
    Term("coating", BVCO, "efa6b935_262d_4f81_85d1_a855003ad30b", "BatteryElectrodeCoating"),
    Term("drying", BVCO, "e15fd741_bb2f_4da4_9d81_1c54231fa9a7", "CoatedFabricatedElectrodeDrying"),
    Term("calendering", BVCO, "3f685553_cf80_4b4f_ba3b_c2552c570a81", "FabricatedElectrodeCalendering"),
    Term("slitting", BVCO, "fe5a8c5d_38db_4e1f_87c7_df67312677ea", "SlittingFabricatedElectrodeSeparation"),
    Term("post_drying", BVCO, "73d806fa_a775_4d1e_9497_7a9166d22659", "FabricatedElectrodePostDrying"),
    Term("cutting", BVCO, "18cd985e_49c4_4dd5_996a_73b730fcccda", "FabricatedElectrodeSeparation"),
    Term("stacking", BVCO, "fad51013_990b_411a_abfc_577e4ed9ab93", "FabricatedElectrodeStacking"),
    Term("winding", BVCO, "c44bfddc_8157_46d0_80e6_ea54e71328c9", "FabricatedElectrodeWinding"),
    Term("packaging", BVCO, "5528bfb0_a7ad_48da_8417_9e43b0164930", "FabricatedElectrodeStackPackaging"),
    Term("electrolyte_filling", BVCO, "79a86655_67b3_40cd_b8fb_dcd28af62da6", "PouchCellElectrolyteFilling"),
    Term("wetting", BVCO, "0c42fa38_503b_4fe4_90a6_c27730627514", "PouchCellWetting"),
    Term("sealing", BVCO, "184130ab_c634_4136_b60a_3c118c7d1937", "PouchCellSealing"),
    Term("formation", BVCO, "23545956_695c_41f5_9923_16472f9a299f", "PouchCellFormation"),
    Term("degassing", BVCO, "43b01f1f_f3fb_4fac_a69a_d9188fdad08c", "PouchCellDegassing"),
    Term("aging", BVCO, "f986191d_8d5b_4313_97e1_b8c9bcea1aa9", "ElectrochemicalCellAging"),
    Term("eol_test", BVCO, "b0ac1214_0351_47fe_8da2_c058fffd3238", "ElectrochemicalCellEolTesting"),
)
STEPS_WITHOUT_PROCESS_TERM = ("tab_welding",)

KIND_IRIS = _iris(KIND_TERMS, KINDS_WITHOUT_TERM)
STEP_IRIS = _iris(STEP_TERMS, STEPS_WITHOUT_TERM)
STEP_PROCESS_IRIS = _iris(STEP_PROCESS_TERMS, STEPS_WITHOUT_PROCESS_TERM)

# Classes the cycling export's metadata names (BattINFO shape)
BATTERY_CYCLER = BATTERY + "23e6170d_a70b_4de9_a4db_458e24a327ac"  # BatteryCycler
CYCLING_TEST = ECHEM + "435b22d4_c441_45ea_8c79_0cbec11fd287"  # CyclingTest
