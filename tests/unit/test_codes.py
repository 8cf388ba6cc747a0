"""Every mapping table, value by value: our codes -> NEMSIS v3.5.1 codes (checked against the official XSD's
enumerations and their words), and our vitals -> LOINC and UCUM (the rules file's codes)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from dispatch import codes
from dispatch.nemsis_validate import standards
from dispatch.protocol import DESTINATION_REASONS

XS = "{http://www.w3.org/2001/XMLSchema}"


@cache
def _schemas() -> tuple[dict[str, etree._Element], dict[str, etree._Element]]:
    types: dict[str, etree._Element] = {}
    elements: dict[str, etree._Element] = {}
    for f in Path(standards(), "xsd").glob("*.xsd"):
        tree = etree.parse(str(f))
        for t in tree.iter(XS + "simpleType", XS + "complexType"):
            if t.get("name"):
                types[t.get("name") or ""] = t
        for e in tree.iter(XS + "element"):
            if e.get("name"):
                elements.setdefault(e.get("name") or "", e)
    return types, elements


def _words(node: etree._Element) -> dict[str, str]:
    types, _ = _schemas()
    found = {
        e.get("value") or "": " ".join((e.findtext(f"{XS}annotation/{XS}documentation") or "").split())
        for e in node.iter(XS + "enumeration")
    }
    if found:
        return found
    for child in node.iter(XS + "restriction", XS + "extension"):
        base = (child.get("base") or "").split(":")[-1]
        if base in types and types[base] is not node:
            return _words(types[base])
    return {}


def enumeration(element: str) -> dict[str, str]:
    """The NEMSIS element's allowed codes and their words, from the XSD."""
    types, elements = _schemas()
    node = elements[element]
    named = (node.get("type") or "").split(":")[-1]
    return _words(types[named] if named else node)


def test_etimes_elements_exist_in_order() -> None:
    _, elements = _schemas()
    assert list(codes.ETIMES.values()) == [
        "eTimes.01", "eTimes.03", "eTimes.05", "eTimes.06", "eTimes.07", "eTimes.09", "eTimes.11", "eTimes.12",
        "eTimes.13",
    ]  # fmt: skip
    assert all(e in elements for e in codes.ETIMES.values())


# The rules file's LOINC codes and units, written out here so that a change to either side is caught
RULES_LOINC = {
    "hr": ("8867-4", "/min"),
    "rr": ("9279-1", "/min"),
    "spo2": ("2708-6", "%"),
    "temp_c": ("8310-5", "Cel"),
    "sbp": ("8480-6", "mm[Hg]"),
    "dbp": ("8462-4", "mm[Hg]"),
    "gcs_total": ("9269-2", None),
    "gcs_eye": ("9267-6", None),
    "gcs_verbal": ("9270-0", None),
    "gcs_motor": ("9268-4", None),
}
RULES_NEMSIS = {
    "sbp": "eVitals.06", "dbp": "eVitals.07", "hr": "eVitals.10", "spo2": "eVitals.12", "rr": "eVitals.14",
    "etco2_mmhg": "eVitals.16", "glucose_mg_dl": "eVitals.18", "gcs_eye": "eVitals.19", "gcs_verbal": "eVitals.20",
    "gcs_motor": "eVitals.21", "gcs_total": "eVitals.23", "temp_c": "eVitals.24", "avpu": "eVitals.26",
    "rts": "eVitals.33",
}  # fmt: skip


@pytest.mark.parametrize("field", RULES_LOINC)
def test_vital_loinc_and_ucum_follow_the_rules_file(field: str) -> None:
    assert (codes.VITALS[field].loinc, codes.VITALS[field].ucum) == RULES_LOINC[field]


@pytest.mark.parametrize("field", RULES_NEMSIS)
def test_vital_nemsis_element_follows_the_rules_file(field: str) -> None:
    assert codes.VITALS[field].nemsis == RULES_NEMSIS[field]


def test_panels_follow_the_rules_file() -> None:
    assert codes.VITAL_SIGNS_PANEL[0] == "85353-1"
    assert codes.BLOOD_PRESSURE_PANEL[0] == "85354-9"
    assert codes.SPO2_US_CORE[0] == "59408-5"


def _check(table: dict[str, str], element: str, words: dict[str, str]) -> None:
    allowed = enumeration(element)
    for ours, code in table.items():
        assert code in allowed, (ours, code, element)
        assert allowed[code] == words[ours], (ours, code, allowed[code])


def test_avpu() -> None:
    _check(codes.AVPU, "eVitals.26", {"A": "Alert", "C": "Verbal", "V": "Verbal", "P": "Painful", "U": "Unresponsive"})
    assert codes.AVPU_FROM_NEMSIS == {"3326001": "A", "3326003": "V", "3326005": "P", "3326007": "U"}


def test_stroke_scale() -> None:
    _check(
        codes.STROKE_SCALE_TYPE,
        "eVitals.30",
        {"race": "Rapid Arterial oCclusion Evaluation (RACE)", "lams": "Los Angeles Motor Score (LAMS)"},
    )
    assert enumeration("eVitals.29")[codes.STROKE_RESULT[True]] == "Positive"
    assert enumeration("eVitals.29")[codes.STROKE_RESULT[False]] == "Negative"
    assert enumeration("eVitals.02")[codes.OBTAINED_PRIOR_NO] == "No"


def test_sex() -> None:
    _check(codes.SEX, "ePatient.25", {"female": "Female", "male": "Male", "unknown": "Unknown"})
    assert {codes.SEX_FROM_NEMSIS[c] for c in codes.SEX.values()} == set(codes.SEX)
    assert enumeration("ePatient.16")[codes.AGE_YEARS] == "Years"


RED_WORDS = {
    "penetrating_injury": "Penetrating injuries to head, neck, torso, and proximal extremities",
    "skull_deformity": "Skull deformity, suspected skull fracture",
    "spinal_injury_motor_sensory_loss": "Suspected spinal injury with new motor or sensory loss",
    "chest_wall_instability": "Chest wall instability, deformity, or suspected flail chest",
    "pelvic_fracture": "Suspected pelvic fracture",
    "two_proximal_long_bone_fractures": "Suspected fracture of two or more proximal long bones",
    "crushed_degloved_mangled_pulseless_limb": "Crushed, degloved, mangled, or pulseless extremity",
    "amputation_proximal": "Amputation proximal to wrist or ankle",
    "active_bleeding_tourniquet_packing": "Active bleeding requiring a tourniquet or wound packing with continuous "
    "pressure",
    "unable_to_follow_commands": "Unable to follow commands (motor GCS < 6)",
    "rr_below_10_or_above_29": "RR < 10 or > 29 breaths/min",
    "respiratory_support": "Respiratory distress or need for respiratory support",
    "room_air_spo2_below_90": "Room-air pulse oximetry < 90%",
    "hr_above_sbp": "Age >= 10 years: HR > SBP",
}
YELLOW_WORDS = {
    "ejection": "Auto Crash: Partial or complete ejection",
    "intrusion": "Auto Crash: Significant intrusion (including roof): >12 inches occupant site; >18 inches any "
    "site; need for extrication",
    "extrication": "Auto Crash: Significant intrusion (including roof): >12 inches occupant site; >18 inches any "
    "site; need for extrication",
    "death_same_compartment": "Auto Crash: Death in passenger compartment",
    "child_unrestrained": "Auto Crash: Child (age 0-9 years) unrestrained or in unsecured child safety seat",
    "vehicle_telemetry": "Auto Crash: Vehicle telemetry data consistent with severe injury",
    "rider_separated": "Rider separated from transport vehicle with significant impact (eg, motorcycle, ATV, horse, "
    "etc.)",
    "pedestrian_cyclist_struck": "Pedestrian/bicycle rider thrown, run over, or with significant impact",
    "fall_over_10ft": "Fall from height > 10 feet (all ages)",
    "low_fall_head_impact_young_or_old": "Low-level falls in young children (age <= 5 years) or older adults (age >= "
    "65 years) with significant head impact",
    "anticoagulants": "Anticoagulant use",
    "suspected_child_abuse": "Suspicion of child abuse",
    "special_health_care_needs": "Special, high-resource healthcare needs",
    "pregnancy_over_20_weeks": "Pregnancy > 20 weeks",
    "burns_with_trauma": "Burns in conjunction with trauma",
    "ems_judgment": "Other EMS judgment",
}


def test_field_triage_red_covers_every_red_code_of_ours() -> None:
    from dispatch.triage import RED_INJURY_CODES, RED_PHYSIOLOGY_CODES

    ours = set(RED_INJURY_CODES) | set(RED_PHYSIOLOGY_CODES)
    assert set(codes.TRIAGE_RED) | {"sbp_low_for_age"} == ours
    _check(codes.TRIAGE_RED, "eInjury.03", RED_WORDS)


@pytest.mark.parametrize(
    ("age", "code", "words"),
    [
        (None, "2903031", "Age 10-64 years: SBP < 90 mmHg"),
        (0, "2903029", "Age 0-9 years: SBP < 70mm Hg + (2 x age in years)"),
        (9, "2903029", "Age 0-9 years: SBP < 70mm Hg + (2 x age in years)"),
        (10, "2903031", "Age 10-64 years: SBP < 90 mmHg"),
        (64, "2903031", "Age 10-64 years: SBP < 90 mmHg"),
        (65, "2903027", "Age >= 65 years: SBP < 110 mmHg"),
    ],
)
def test_sbp_low_for_age_by_age_group(age: int | None, code: str, words: str) -> None:
    assert codes.triage_red_code("sbp_low_for_age", age) == code
    assert enumeration("eInjury.03")[code] == words
    assert codes.TRIAGE_RED_FROM_NEMSIS[code] == "sbp_low_for_age"


def test_field_triage_yellow_covers_every_yellow_code_of_ours() -> None:
    from dispatch.triage import YELLOW_CODES

    assert set(codes.TRIAGE_YELLOW) == set(YELLOW_CODES)
    _check(codes.TRIAGE_YELLOW, "eInjury.04", YELLOW_WORDS)
    for ours, code in codes.TRIAGE_YELLOW.items():
        assert codes.TRIAGE_YELLOW_FROM_NEMSIS[code] == ("intrusion" if ours == "extrication" else ours)
    for ours, code in codes.TRIAGE_RED.items():
        assert codes.TRIAGE_RED_FROM_NEMSIS[code] == ours


@pytest.mark.parametrize(
    ("category", "age", "code", "words"),
    [
        ("cardiac_arrest", 60, "4224005", "Yes-Cardiac Arrest"),
        ("stemi", 60, "4224013", "Yes-STEMI"),
        ("stroke_lvo", 60, "4224015", "Yes-Stroke"),
        ("stroke", 60, "4224015", "Yes-Stroke"),
        ("trauma_red", 30, "4224003", "Yes-Adult Trauma"),
        ("trauma_red", 15, "4224003", "Yes-Adult Trauma"),
        ("trauma_red", 14, "4224011", "Yes-Pediatric Trauma"),
        ("trauma_red", None, "4224003", "Yes-Adult Trauma"),
        ("trauma_yellow", 14, "4224011", "Yes-Pediatric Trauma"),
        ("sepsis", 60, "4224019", "Yes-Sepsis"),
        ("obstetric", 30, "4224007", "Yes-Obstetrics"),
        ("general", 30, "4224009", "Yes-Other"),
    ],
)
def test_prealert_by_category(category: str, age: int | None, code: str, words: str) -> None:
    assert codes.prealert_code(category, age) == code
    assert enumeration("eDisposition.24")[code] == words


def test_prealert_words_are_the_standards() -> None:
    assert enumeration("eDisposition.24") == codes.PREALERT_WORDS


def test_hospital_capabilities() -> None:
    allowed = enumeration("eDisposition.23")
    expected = {
        codes.GENERAL_HOSPITAL: "Hospital (General)",
        codes.PCI_CAPABLE: "Cardiac-STEMI/PCI Capable",
        codes.BURN_CENTRE: "Burn Center",
        codes.PEDIATRIC_CENTRE: "Pediatric Center",
        codes.LABOR_AND_DELIVERY: "Labor and Delivery",
        **{codes.TRAUMA_LEVEL[n]: f"Trauma Center Level {n}" for n in range(1, 6)},
        codes.STROKE_LEVEL["ready"]: "Stroke-Acute Stroke Ready Hospital (ASRH)",
        codes.STROKE_LEVEL["primary"]: "Stroke-Primary Stroke Center (PSC)",
        codes.STROKE_LEVEL["thrombectomy"]: "Stroke-Thrombectomy-Capable Stroke Center (TSC)",
        codes.STROKE_LEVEL["comprehensive"]: "Stroke-Comprehensive Stroke Center (CSC)",
    }
    for code, words in expected.items():
        assert allowed[code] == words
    assert enumeration("eDisposition.21")[codes.EMERGENCY_DEPARTMENT] == "Hospital-Emergency Department"


def test_destination_reasons_are_the_standards() -> None:
    assert enumeration("eDisposition.20") == DESTINATION_REASONS


@pytest.mark.parametrize("disposition", list(codes.DISPOSITIONS))
def test_ed_disposition(disposition: str) -> None:
    code = codes.DISPOSITIONS[disposition]
    assert " ".join(enumeration("eOutcome.01")[code.ed].split()) == code.words
    assert code.fhir in ("home", "other-hcf", "exp", "other")
    back = codes.DISPOSITION_FROM_NEMSIS[code.ed]
    assert back == disposition or disposition in ("cath_lab", "thrombolysed")


def test_other_coded_elements() -> None:
    dispatch = enumeration("eDispatch.01")
    assert {k: dispatch[v] for k, v in codes.DISPATCH_REASON.items()} == {
        "stemi": "Chest Pain (Non-Traumatic)",
        "stroke": "Stroke/CVA",
        "trauma": "Traumatic Injury",
        "sepsis": "Sick Person",
        "cardiac_arrest": "Cardiac Arrest/Death",
        "obstetric": "Pregnancy/Childbirth/Miscarriage",
        "general": "Sick Person",
    }
    initial, release = enumeration("eSituation.13"), enumeration("eDisposition.19")
    for category, (a, b) in codes.ACUITY.items():
        critical = category in ("cardiac_arrest", "stemi", "stroke_lvo", "trauma_red")
        assert initial[a] == ("Critical (Red)" if critical else "Emergent (Yellow)")
        assert release[b] == ("Critical (Red)" if critical else "Emergent (Yellow)")
    site, system = enumeration("eSituation.07"), enumeration("eSituation.08")
    assert {k: (site[a], system[b]) for k, (a, b) in codes.COMPLAINT_SITE.items()} == {
        "stemi": ("Chest", "Cardiovascular"),
        "cardiac_arrest": ("Chest", "Cardiovascular"),
        "stroke": ("Head", "CNS/Neuro"),
        "sepsis": ("General/Global", "Global/General"),
        "obstetric": ("Abdomen", "Reproductive"),
    }
    units = enumeration("eMedications.06")
    assert {k: units[v] for k, v in codes.DOSE_UNITS.items()} == {
        "mg": "Milligrams (mg)",
        "mcg": "Micrograms (mcg)",
        "µg": "Micrograms (mcg)",
        "g": "Grams (gms)",
        "ml": "Milliliters (ml)",
        "l": "Liters (l)",
        "units": "Units",
        "iu": "International Units (IU)",
        "meq": "Milliequivalents (mEq)",
        "lpm": "Liters Per Minute (LPM [gas])",
        "l/min": "Liters Per Minute (LPM [gas])",
        "puffs": "Puffs",
    }
    assert enumeration("eResponse.23")[codes.EMERGENT[1]] == "Emergent (Immediate Response)"
    assert enumeration("eResponse.23")[codes.EMERGENT[4]] == "Non-Emergent"
    assert enumeration("eDisposition.17")[codes.TRANSPORT_MODE[1]] == "Emergent (Immediate Response)"
    assert enumeration("eDisposition.17")[codes.TRANSPORT_MODE[4]] == "Non-Emergent"
    assert enumeration("eVitals.16") == {}  # a number; its unit is the ETCO2Type attribute
    assert codes.ETCO2_MMHG == "3340001"


def test_drug_and_procedure_codes() -> None:
    assert codes.rxnorm("  Aspirin ") == ("1191", "aspirin")
    assert codes.rxnorm("Tranexamic   acid") == ("10691", "tranexamic acid")
    assert codes.rxnorm("Unlisted remedy") is None
    assert all(code.isdigit() and 2 <= len(code) <= 7 for code, _ in codes.RXNORM.values())  # NEMSIS e143
    assert codes.PROCEDURES["iv"] == ("392230005", "Insertion of catheter into peripheral vein")
    assert set(codes.PROCEDURES) == {"airway", "iv", "tourniquet", "oxygen", "other"}
