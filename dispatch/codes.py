"""Code tables: our codes <-> NEMSIS v3.5.1 codes <-> LOINC/UCUM/SNOMED CT/ICD-10, for the records the service exports
(``dispatch.nemsis``, ``dispatch.fhir``) and reads (``dispatch.nemsis_import``).

Pure data. The NEMSIS codes and their words are the v3.5.1 XSD's enumerations (``tests/unit/test_codes.py`` checks
every one against the schema shipped in ``dispatch/standards/nemsis/xsd``); the LOINC codes and UCUM units are the
rules file's (``design/clinical-rules.md``, "Standards and codes").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from dispatch.triage import PEDIATRIC_BELOW_AGE

# Times: our unit status -> NEMSIS eTimes element ---------------------------------------------------------------------
ETIMES: Final[dict[str, str]] = {
    "call": "eTimes.01",  # PSAP call received: the incident's creation at dispatch
    "unit_notified": "eTimes.03",  # the unit was assigned
    "en_route": "eTimes.05",
    "on_scene": "eTimes.06",
    "at_patient": "eTimes.07",
    "transporting": "eTimes.09",  # unit left scene
    "at_destination": "eTimes.11",
    "transfer_of_care": "eTimes.12",
    "back_in_service": "eTimes.13",
}
TIME_ORDER: Final = tuple(ETIMES)


# Vital signs: our field -> (NEMSIS element, LOINC code, LOINC display, UCUM unit) -------------------------------------
@dataclass(frozen=True, slots=True)
class VitalCode:
    nemsis: str
    loinc: str | None
    display: str
    ucum: str | None


VITALS: Final[dict[str, VitalCode]] = {
    "sbp": VitalCode("eVitals.06", "8480-6", "Systolic blood pressure", "mm[Hg]"),
    "dbp": VitalCode("eVitals.07", "8462-4", "Diastolic blood pressure", "mm[Hg]"),
    "hr": VitalCode("eVitals.10", "8867-4", "Heart rate", "/min"),
    "spo2": VitalCode("eVitals.12", "2708-6", "Oxygen saturation in Arterial blood", "%"),
    "rr": VitalCode("eVitals.14", "9279-1", "Respiratory rate", "/min"),
    "etco2_mmhg": VitalCode(
        "eVitals.16", "19889-5", "Carbon dioxide [Partial pressure] in Exhaled gas --at end expiration", "mm[Hg]"
    ),
    "glucose_mg_dl": VitalCode("eVitals.18", "2339-0", "Glucose [Mass/volume] in Blood", "mg/dL"),
    "gcs_eye": VitalCode("eVitals.19", "9267-6", "Glasgow coma score eye opening", None),
    "gcs_verbal": VitalCode("eVitals.20", "9270-0", "Glasgow coma score verbal", None),
    "gcs_motor": VitalCode("eVitals.21", "9268-4", "Glasgow coma score motor", None),
    "gcs_total": VitalCode("eVitals.23", "9269-2", "Glasgow coma score total", None),
    "temp_c": VitalCode("eVitals.24", "8310-5", "Body temperature", "Cel"),
    "avpu": VitalCode("eVitals.26", None, "Level of responsiveness (AVPU)", None),
    "rts": VitalCode("eVitals.33", None, "Revised Trauma Score", None),
}
VITAL_SIGNS_PANEL: Final = (
    "85353-1",
    "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel",
)
BLOOD_PRESSURE_PANEL: Final = ("85354-9", "Blood pressure panel with all children optional")
SPO2_US_CORE: Final = ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")
GCS_PANEL: Final = ("9269-2", "Glasgow coma score total")
# What each LOINC code carries in FHIR: the vital-signs profile's own codes (the rules file's list).
FHIR_VITAL_SIGNS: Final = ("hr", "rr", "spo2", "temp_c")

# eVitals.26 Level of Responsiveness (AVPU). "C" (new confusion, ACVPU) has no NEMSIS code: it is "Verbal".
AVPU: Final[dict[str, str]] = {"A": "3326001", "C": "3326003", "V": "3326003", "P": "3326005", "U": "3326007"}
AVPU_FROM_NEMSIS: Final[dict[str, str]] = {"3326001": "A", "3326003": "V", "3326005": "P", "3326007": "U"}
ETCO2_MMHG: Final = "3340001"  # eVitals.16 ETCO2Type
STROKE_SCALE_TYPE: Final[dict[str, str]] = {"race": "3330021", "lams": "3330023"}  # eVitals.30
STROKE_SCALE_POSITIVE: Final[dict[str, int]] = {"race": 5, "lams": 4}  # RACE >= 5, LAMS >= 4: a likely LVO
STROKE_RESULT: Final[dict[bool, str]] = {True: "3329005", False: "3329001"}  # eVitals.29 Positive / Negative
OBTAINED_PRIOR_NO: Final = "9923001"  # eVitals.02 (and the other "prior to this unit's care" elements): No

# Patient ------------------------------------------------------------------------------------------------------------
SEX: Final[dict[str, str]] = {"female": "9919001", "male": "9919003", "unknown": "9919005"}  # ePatient.25
SEX_FROM_NEMSIS: Final = {code: ours for ours, code in SEX.items()}
FHIR_GENDER: Final[dict[str, str]] = {"female": "female", "male": "male", "unknown": "unknown"}
AGE_YEARS: Final = "2516009"  # ePatient.16 Age Units: Years

# Field triage: our ACS 2021 codes -> eInjury.03 (high risk, red) and eInjury.04 (moderate risk, yellow) -----------
TRIAGE_RED: Final[dict[str, str]] = {
    "penetrating_injury": "2903015",
    "skull_deformity": "2903009",
    "spinal_injury_motor_sensory_loss": "2903039",
    "chest_wall_instability": "2903005",
    "pelvic_fracture": "2903013",
    "two_proximal_long_bone_fractures": "2903021",
    "crushed_degloved_mangled_pulseless_limb": "2903003",
    "amputation_proximal": "2903001",
    "active_bleeding_tourniquet_packing": "2903023",
    "unable_to_follow_commands": "2903041",
    "rr_below_10_or_above_29": "2903037",
    "respiratory_support": "2903033",
    "room_air_spo2_below_90": "2903035",
    "hr_above_sbp": "2903025",
    # "sbp_low_for_age" has one code per age group: see sbp_low_code()
}
SBP_LOW_CODES: Final[dict[str, str]] = {"0-9": "2903029", "10-64": "2903031", "65+": "2903027"}
TRIAGE_YELLOW: Final[dict[str, str]] = {
    "ejection": "2904009",
    "intrusion": "2904011",
    "extrication": "2904011",  # NEMSIS has one code for intrusion and the need for extrication
    "death_same_compartment": "2904007",
    "child_unrestrained": "2904029",
    "vehicle_telemetry": "2904013",
    "rider_separated": "2904035",
    "pedestrian_cyclist_struck": "2904001",
    "fall_over_10ft": "2904031",
    "low_fall_head_impact_young_or_old": "2904033",
    "anticoagulants": "2904019",
    "suspected_child_abuse": "2904039",
    "special_health_care_needs": "2904037",
    "pregnancy_over_20_weeks": "2904021",
    "burns_with_trauma": "2904027",
    "ems_judgment": "2904023",
}
TRIAGE_RED_FROM_NEMSIS: Final[dict[str, str]] = {
    **{code: ours for ours, code in TRIAGE_RED.items()},
    **dict.fromkeys(SBP_LOW_CODES.values(), "sbp_low_for_age"),
}
TRIAGE_YELLOW_FROM_NEMSIS: Final[dict[str, str]] = {code: ours for ours, code in reversed(TRIAGE_YELLOW.items())}


def sbp_low_code(age_years: int | None) -> str:
    """eInjury.03 for "SBP low for age": the age group's own code (an unknown age counts as an adult's)."""
    if age_years is not None and age_years <= 9:
        return SBP_LOW_CODES["0-9"]
    if age_years is not None and age_years >= 65:
        return SBP_LOW_CODES["65+"]
    return SBP_LOW_CODES["10-64"]


def triage_red_code(code: str, age_years: int | None) -> str:
    return sbp_low_code(age_years) if code == "sbp_low_for_age" else TRIAGE_RED[code]


# Pre-alert: our triage category -> eDisposition.24 Destination Team Pre-Arrival Alert or Activation ----------------
PREALERT: Final[dict[str, str]] = {
    "cardiac_arrest": "4224005",
    "stemi": "4224013",
    "stroke_lvo": "4224015",
    "stroke": "4224015",
    "trauma_red": "4224003",  # adult; pediatric: PREALERT_PEDIATRIC_TRAUMA
    "trauma_yellow": "4224003",
    "sepsis": "4224019",
    "obstetric": "4224007",
    "general": "4224009",  # every patient reaches the ED's board before arrival: a pre-alert, of no team's type
}
PREALERT_PEDIATRIC_TRAUMA: Final = "4224011"
PREALERT_NONE: Final = "4224001"
PREALERT_WORDS: Final[dict[str, str]] = {
    "4224001": "No",
    "4224003": "Yes-Adult Trauma",
    "4224005": "Yes-Cardiac Arrest",
    "4224007": "Yes-Obstetrics",
    "4224009": "Yes-Other",
    "4224011": "Yes-Pediatric Trauma",
    "4224013": "Yes-STEMI",
    "4224015": "Yes-Stroke",
    "4224017": "Yes-Trauma (General)",
    "4224019": "Yes-Sepsis",
}


def prealert_code(category: str, age_years: int | None) -> str:
    code = PREALERT[category]
    if code == PREALERT["trauma_red"] and age_years is not None and age_years < PEDIATRIC_BELOW_AGE:
        return PREALERT_PEDIATRIC_TRAUMA
    return code


# Destination: the region pack's capabilities -> eDisposition.23 Hospital Capability --------------------------------
GENERAL_HOSPITAL: Final = "9908007"
TRAUMA_LEVEL: Final[dict[int, str]] = {1: "9908021", 2: "9908023", 3: "9908025", 4: "9908027", 5: "9908029"}
STROKE_LEVEL: Final[dict[str, str]] = {
    "ready": "9908037",
    "primary": "9908039",
    "thrombectomy": "9908041",
    "comprehensive": "9908043",
}
PCI_CAPABLE: Final = "9908031"
BURN_CENTRE: Final = "9908003"
PEDIATRIC_CENTRE: Final = "9908011"
LABOR_AND_DELIVERY: Final = "9908047"
EMERGENCY_DEPARTMENT: Final = "4221003"  # eDisposition.21 Type of Destination: Hospital-Emergency Department

# Suspected condition (the crew's): our code -> (SNOMED CT code, display) for FHIR's Condition, and ICD-10-CM for
# NEMSIS eSituation.11 Provider's Primary Impression
SUSPECTED: Final[dict[str, tuple[str, str, str]]] = {
    "stemi": ("401303003", "Acute ST segment elevation myocardial infarction", "I21.3"),
    "stroke": ("230690007", "Cerebrovascular accident", "I63.9"),
    "trauma": ("417746004", "Traumatic injury", "T14.90"),
    "sepsis": ("91302008", "Sepsis", "A41.9"),
    "cardiac_arrest": ("410429000", "Cardiac arrest", "I46.9"),
    "obstetric": ("77386006", "Pregnancy", "O26.90"),
    "general": ("404684003", "Clinical finding", "R69"),
}

# Treatments: our kind -> (SNOMED CT procedure, display) for eProcedures.03 and FHIR's Procedure ------------------
PROCEDURES: Final[dict[str, tuple[str, str]]] = {
    "airway": ("112798008", "Insertion of endotracheal tube"),
    "iv": ("392230005", "Insertion of catheter into peripheral vein"),
    "tourniquet": ("20655006", "Application of tourniquet"),
    "oxygen": ("57485005", "Oxygen therapy"),
    "other": ("71388002", "Procedure"),
}
ECG_12_LEAD: Final = ("268400002", "12 lead electrocardiogram")
# Drugs by name -> RxNorm ingredient (eMedications.03 and FHIR's MedicationAdministration). A drug not listed is
# sent by name with no code (FHIR) and under "Other" with its name in the narrative (NEMSIS).
RXNORM: Final[dict[str, tuple[str, str]]] = {
    "aspirin": ("1191", "aspirin"),
    "nitroglycerin": ("4917", "nitroglycerin"),
    "gtn": ("4917", "nitroglycerin"),
    "epinephrine": ("3992", "epinephrine"),
    "adrenaline": ("3992", "epinephrine"),
    "naloxone": ("7242", "naloxone"),
    "ondansetron": ("26225", "ondansetron"),
    "fentanyl": ("4337", "fentanyl"),
    "morphine": ("7052", "morphine"),
    "amiodarone": ("703", "amiodarone"),
    "adenosine": ("296", "adenosine"),
    "midazolam": ("6960", "midazolam"),
    "albuterol": ("435", "albuterol"),
    "salbutamol": ("435", "albuterol"),
    "heparin": ("5224", "heparin"),
    "clopidogrel": ("32968", "clopidogrel"),
    "ticagrelor": ("1116632", "ticagrelor"),
    "tranexamic acid": ("10691", "tranexamic acid"),
    "txa": ("10691", "tranexamic acid"),
    "ketamine": ("6130", "ketamine"),
    "glucose": ("4850", "glucose"),
    "dextrose": ("4850", "glucose"),
    "oxygen": ("7806", "oxygen"),
    "sodium chloride": ("9863", "sodium chloride"),
    "normal saline": ("9863", "sodium chloride"),
}


def rxnorm(name: str) -> tuple[str, str] | None:
    return RXNORM.get(" ".join(name.lower().split()))


# ED outcome: our disposition -> eOutcome.01 Emergency Department Disposition (UB-04 codes), eOutcome.02 Hospital
# Disposition, the ED procedure it implies (ICD-10-PCS, eOutcome.09) and FHIR's discharge disposition --------------
@dataclass(frozen=True, slots=True)
class DispositionCode:
    ed: str  # eOutcome.01
    words: str
    fhir: str  # http://terminology.hl7.org/CodeSystem/discharge-disposition
    procedure: tuple[str, str] | None  # (ICD-10-PCS, words), eOutcome.09


DISPOSITIONS: Final[dict[str, DispositionCode]] = {
    "admitted": DispositionCode("09", "Admitted as an inpatient to this hospital.", "other", None),
    "cath_lab": DispositionCode(
        "09",
        "Admitted as an inpatient to this hospital.",
        "other",
        ("02703ZZ", "Dilation of Coronary Artery, One Artery, Percutaneous Approach"),
    ),
    "thrombolysed": DispositionCode(
        "09",
        "Admitted as an inpatient to this hospital.",
        "other",
        ("3E03317", "Introduction of Other Thrombolytic into Peripheral Vein, Percutaneous Approach"),
    ),
    "transferred": DispositionCode(
        "02", "Discharged/transferred to another short term general hospital for inpatient care", "other-hcf", None
    ),
    "discharged": DispositionCode("01", "Discharged to home or self care (routine discharge)", "home", None),
    "died": DispositionCode(
        "20", "Deceased/Expired (or did not recover - Religious Non Medical Health Care Patient)", "exp", None
    ),
}
DISPOSITION_FROM_NEMSIS: Final[dict[str, str]] = {
    "09": "admitted",
    "02": "transferred",
    "01": "discharged",
    "20": "died",
}

# The NEMSIS document's other coded elements, from what the record holds ------------------------------------------
EMERGENT: Final = {1: "2223001", 2: "2223001", 3: "2223005", 4: "2223005"}  # eResponse.23 by dispatch priority
TRANSPORT_MODE: Final = {1: "4217001", 2: "4217001", 3: "4217005", 4: "4217005"}  # eDisposition.17
# Acuity (eSituation.13 initial, eDisposition.19 at release) by triage category: (initial, at release)
ACUITY: Final[dict[str, tuple[str, str]]] = {
    "cardiac_arrest": ("2813001", "4219001"),
    "stemi": ("2813001", "4219001"),
    "stroke_lvo": ("2813001", "4219001"),
    "trauma_red": ("2813001", "4219001"),
    "stroke": ("2813003", "4219003"),
    "trauma_yellow": ("2813003", "4219003"),
    "sepsis": ("2813003", "4219003"),
    "obstetric": ("2813003", "4219003"),
}
# eDispatch.01 Dispatch Reason by the crew's suspected condition (the call's own reason is free text here)
DISPATCH_REASON: Final[dict[str, str]] = {
    "stemi": "2301021",  # Chest Pain (Non-Traumatic)
    "stroke": "2301067",  # Stroke/CVA
    "trauma": "2301073",  # Traumatic Injury
    "sepsis": "2301061",  # Sick Person
    "cardiac_arrest": "2301019",  # Cardiac Arrest/Death
    "obstetric": "2301057",  # Pregnancy/Childbirth/Miscarriage
    "general": "2301061",  # Sick Person
}
# eSituation.07 / .08: the complaint's anatomic location and organ system, where the suspected condition says it
COMPLAINT_SITE: Final[dict[str, tuple[str, str]]] = {
    "stemi": ("2807005", "2808003"),  # Chest, Cardiovascular
    "cardiac_arrest": ("2807005", "2808003"),
    "stroke": ("2807015", "2808005"),  # Head, CNS/Neuro
    "sepsis": ("2807011", "2808011"),  # General/Global
    "obstetric": ("2807001", "2808017"),  # Abdomen, Reproductive
}
DOSE_UNITS: Final[dict[str, str]] = {  # eMedications.06
    "mg": "3706021",
    "mcg": "3706015",
    "µg": "3706015",
    "g": "3706001",
    "ml": "3706025",
    "l": "3706009",
    "units": "3706049",
    "iu": "3706005",
    "meq": "3706019",
    "lpm": "3706035",
    "l/min": "3706035",
    "puffs": "3706043",
}
RXNORM_CODE_TYPE: Final = "9924003"  # eMedications.03 CodeType

# NEMSIS "Not Values": why an element has no value
NOT_APPLICABLE: Final = "7701001"
NOT_RECORDED: Final = "7701003"
