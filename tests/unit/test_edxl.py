from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from lxml import etree

from dispatch.capacity import Beds, HospitalStatus, Resources, StatusUpdate, TriageCounts, apply
from hospital_gateway.edxl import HAVE, MAX_BYTES, EdxlError, parse, render

HOSPITALS = frozenset({"upmc-mercy", "upmc-presbyterian", "allegheny-general", "upmc-childrens"})

FULL = b"""<?xml version="1.0" encoding="UTF-8"?>
<HospitalStatus xmlns="urn:oasis:names:tc:emergency:EDXL:HAVE:1.0" xmlns:xnl="urn:oasis:names:tc:ciq:xnl:3"
                xmlns:ext="urn:prealert:edxl-have-extension:1">
  <Hospital>
    <Organization>
      <OrganizationInformation>
        <xnl:OrganisationName xnl:OrganisationID="upmc-mercy">
          <xnl:NameElement>UPMC Mercy</xnl:NameElement>
        </xnl:OrganisationName>
      </OrganizationInformation>
    </Organization>
    <EmergencyDepartmentStatus>
      <EMSTraffic>
        <EMSTrafficStatus>Advisory</EMSTrafficStatus>
        <EMSTrafficReason>CT scanner down</EMSTrafficReason>
      </EMSTraffic>
      <EMSCapacity>
        <TriageCodeListURN>urn:example:triage</TriageCodeListURN>
        <TriageCode><TriageCodeValue>Red</TriageCodeValue><TriageCountQuantity>4</TriageCountQuantity></TriageCode>
        <TriageCode><TriageCodeValue>Yellow</TriageCodeValue><TriageCountQuantity>10</TriageCountQuantity></TriageCode>
        <TriageCode><TriageCodeValue>Green</TriageCodeValue><TriageCountQuantity>20</TriageCountQuantity></TriageCode>
      </EMSCapacity>
      <EMSCensus>
        <TriageCode><TriageCodeValue>Red</TriageCodeValue><TriageCountQuantity>3</TriageCountQuantity></TriageCode>
        <TriageCode><TriageCodeValue>Black</TriageCodeValue><TriageCountQuantity>+1</TriageCountQuantity></TriageCode>
      </EMSCensus>
      <EMSAmbulanceStatus>
        <EMSOffloadStatus>Delayed</EMSOffloadStatus>
        <EMSOffloadMinutes>42</EMSOffloadMinutes>
      </EMSAmbulanceStatus>
    </EmergencyDepartmentStatus>
    <HospitalBedCapacityStatus>
      <BedCapacity>
        <BedType>AdultICU</BedType>
        <Capacity>
          <CapacityStatus>Vacant/Available</CapacityStatus>
          <AvailableCount>2</AvailableCount>
          <BaselineCount>24</BaselineCount>
        </Capacity>
      </BedCapacity>
      <BedCapacity>
        <BedType>NeonatalICU</BedType>
        <Capacity><AvailableCount>5</AvailableCount><BaselineCount>12</BaselineCount></Capacity>
      </BedCapacity>
      <BedCapacity>
        <BedType>NegativeFlowIsolation</BedType>
        <Capacity>
          <CapacityStatus>NotAvailable</CapacityStatus>
          <AvailableCount>0</AvailableCount>
          <BaselineCount>6</BaselineCount>
        </Capacity>
      </BedCapacity>
    </HospitalBedCapacityStatus>
    <HospitalFacilityStatus><FacilityStatus>Normal</FacilityStatus></HospitalFacilityStatus>
    <LastUpdateTime>2025-03-01T14:05:00Z</LastUpdateTime>
    <ext:ResourcesAvailable>
      <ext:CathLab>true</ext:CathLab>
      <ext:CT>false</ext:CT>
      <ext:StrokeTeam>1</ext:StrokeTeam>
      <ext:TraumaSurgeon>true</ext:TraumaSurgeon>
      <ext:OperatingRoom>0</ext:OperatingRoom>
    </ext:ResourcesAvailable>
  </Hospital>
  <Hospital>
    <Organization>
      <OrganizationInformation>
        <xnl:OrganisationName xnl:OrganisationID="allegheny-general">
          <xnl:NameElement>Allegheny General Hospital</xnl:NameElement>
        </xnl:OrganisationName>
      </OrganizationInformation>
    </Organization>
    <EmergencyDepartmentStatus>
      <EMSTraffic><EMSTrafficStatus>Closed</EMSTrafficStatus></EMSTraffic>
    </EmergencyDepartmentStatus>
    <HospitalBedCapacityStatus>
      <BedCapacity>
        <BedType>Burn</BedType>
        <Capacity><AvailableCount>1</AvailableCount><BaselineCount>8</BaselineCount></Capacity>
      </BedCapacity>
      <BedCapacity>
        <BedType>AdultPsychiatric</BedType>
        <Capacity><AvailableCount>3</AvailableCount><BaselineCount>3</BaselineCount></Capacity>
      </BedCapacity>
    </HospitalBedCapacityStatus>
    <LastUpdateTime>2025-03-01T09:05:00-05:00</LastUpdateTime>
  </Hospital>
  <Hospital>
    <Organization>
      <OrganizationInformation>
        <xnl:OrganisationName xnl:OrganisationID="upmc-childrens">
          <xnl:NameElement>UPMC Children's Hospital of Pittsburgh</xnl:NameElement>
        </xnl:OrganisationName>
      </OrganizationInformation>
    </Organization>
    <EmergencyDepartmentStatus>
      <EMSTraffic><EMSTrafficStatus>Normal</EMSTrafficStatus></EMSTraffic>
    </EmergencyDepartmentStatus>
    <HospitalBedCapacityStatus>
      <BedCapacity>
        <BedType>PediatricICU</BedType>
        <Capacity><AvailableCount>4</AvailableCount><BaselineCount>36</BaselineCount></Capacity>
      </BedCapacity>
      <BedCapacity>
        <BedType>Pediatrics</BedType>
        <Capacity><AvailableCount>11</AvailableCount><BaselineCount>120</BaselineCount></Capacity>
      </BedCapacity>
      <BedCapacity>
        <BedType>MedicalSurgical</BedType>
        <Capacity><AvailableCount>0</AvailableCount><BaselineCount>10</BaselineCount></Capacity>
      </BedCapacity>
      <BedCapacity>
        <BedType>OperatingRooms</BedType>
        <Capacity><AvailableCount>2</AvailableCount><BaselineCount>14</BaselineCount></Capacity>
      </BedCapacity>
    </HospitalBedCapacityStatus>
    <LastUpdateTime>2025-03-01T14:00:00Z</LastUpdateTime>
  </Hospital>
</HospitalStatus>
"""

ONLY_TRAFFIC = b"""<?xml version="1.0" encoding="UTF-8"?>
<HospitalStatus xmlns="urn:oasis:names:tc:emergency:EDXL:HAVE:1.0" xmlns:xnl="urn:oasis:names:tc:ciq:xnl:3">
  <Hospital>
    <Organization>
      <OrganizationInformation>
        <xnl:OrganisationName xnl:OrganisationID="upmc-presbyterian">
          <xnl:NameElement>UPMC Presbyterian</xnl:NameElement>
        </xnl:OrganisationName>
      </OrganizationInformation>
    </Organization>
    <EmergencyDepartmentStatus>
      <EMSTraffic>
        <EMSTrafficStatus>Closed</EMSTrafficStatus>
        <EMSTrafficReason>Mass casualty incident in progress</EMSTrafficReason>
      </EMSTraffic>
    </EmergencyDepartmentStatus>
    <LastUpdateTime>2025-03-01T14:05:00Z</LastUpdateTime>
  </Hospital>
</HospitalStatus>
"""


def one_hospital(status: str) -> bytes:
    """A document with one Hospital whose status elements (after Organization) are ``status``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<HospitalStatus xmlns="urn:oasis:names:tc:emergency:EDXL:HAVE:1.0" xmlns:xnl="urn:oasis:names:tc:ciq:xnl:3">
  <Hospital>
    <Organization>
      <OrganizationInformation>
        <xnl:OrganisationName xnl:OrganisationID="upmc-mercy">
          <xnl:NameElement>A</xnl:NameElement>
        </xnl:OrganisationName>
      </OrganizationInformation>
    </Organization>
    {status}
  </Hospital>
</HospitalStatus>
""".encode()


def refusal(document: bytes) -> EdxlError:
    with pytest.raises(EdxlError) as caught:
        parse(document, hospitals=HOSPITALS)
    return caught.value


# A full document


def test_a_full_document_gives_one_update_per_hospital() -> None:
    updates = parse(FULL, hospitals=HOSPITALS)
    assert list(updates) == ["upmc-mercy", "allegheny-general", "upmc-childrens"]


def test_the_emergency_department_status_is_read_from_the_standard_elements() -> None:
    mercy = parse(FULL, hospitals=HOSPITALS)["upmc-mercy"]
    assert mercy.ems_traffic == "Advisory"
    assert mercy.ems_traffic_reason == "CT scanner down"
    assert mercy.capacity == TriageCounts(red=4, yellow=10, green=20)
    assert mercy.census == TriageCounts(red=3, black=1)
    assert (mercy.offload, mercy.offload_minutes) == ("Delayed", 42)


def test_beds_map_to_our_categories_and_bed_types_we_do_not_keep_are_skipped() -> None:
    updates = parse(FULL, hospitals=HOSPITALS)
    assert updates["upmc-mercy"].beds == {
        "adult_icu": Beds(available=2, baseline=24),
        "isolation": Beds(available=0, baseline=6),
    }
    assert updates["allegheny-general"].beds == {
        "burn": Beds(available=1, baseline=8),
        "psychiatric": Beds(available=3, baseline=3),
    }
    assert updates["upmc-childrens"].beds == {
        "pediatric_icu": Beds(available=4, baseline=36),
        "pediatrics": Beds(available=11, baseline=120),
        "medical_surgical": Beds(available=0, baseline=10),
        "operating_rooms": Beds(available=2, baseline=14),
    }


def test_resources_come_from_the_extension_and_are_absent_without_it() -> None:
    updates = parse(FULL, hospitals=HOSPITALS)
    assert updates["upmc-mercy"].resources == Resources(ct=False, operating_room=False)
    assert updates["allegheny-general"].resources is None


# Partial documents


def test_a_document_with_only_ems_traffic_changes_only_the_traffic() -> None:
    updates = parse(ONLY_TRAFFIC, hospitals=HOSPITALS)
    assert updates == {
        "upmc-presbyterian": StatusUpdate(ems_traffic="Closed", ems_traffic_reason="Mass casualty incident in progress")
    }


def test_a_hospital_with_no_status_elements_changes_nothing() -> None:
    assert parse(one_hospital(""), hospitals=HOSPITALS) == {"upmc-mercy": StatusUpdate()}


def test_colours_not_given_count_zero() -> None:
    document = one_hospital("""<EmergencyDepartmentStatus><EMSCensus><TriageCode>
        <TriageCodeValue>Green</TriageCodeValue><TriageCountQuantity>7</TriageCountQuantity>
    </TriageCode></EMSCensus></EmergencyDepartmentStatus>""")
    assert parse(document, hospitals=HOSPITALS)["upmc-mercy"] == StatusUpdate(census=TriageCounts(green=7))


# Refusals


def test_malformed_xml_is_refused_with_its_line() -> None:
    document = b"""<?xml version="1.0" encoding="UTF-8"?>
<HospitalStatus xmlns="urn:oasis:names:tc:emergency:EDXL:HAVE:1.0">
  <Hospital>
    <LastUpdateTime>2025-03-01T14:05:00Z</LastUpdate>
  </Hospital>
</HospitalStatus>
"""
    error = refusal(document)
    assert error.reason.startswith("malformed XML")
    assert error.line == 4


def test_a_wrong_namespace_is_refused() -> None:
    error = refusal(ONLY_TRAFFIC.replace(HAVE.encode(), b"urn:oasis:names:tc:emergency:EDXL:HAVE:2.0", 1))
    assert "namespace 'urn:oasis:names:tc:emergency:EDXL:HAVE:2.0'" in error.reason
    assert (error.line, error.path) == (2, "/HospitalStatus")


def test_a_wrong_root_is_refused() -> None:
    error = refusal(b'<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:1.0"/>')
    assert error.reason == "root element is 'EDXLDistribution', expected HospitalStatus"


def test_an_unknown_hospital_is_refused_with_where_it_is() -> None:
    document = FULL.replace(b'"allegheny-general"', b'"st-elsewhere"')
    error = refusal(document)
    assert error.reason == "unknown hospital 'st-elsewhere'"
    assert error.path == "/HospitalStatus/Hospital[2]/Organization/OrganizationInformation/OrganisationName"
    assert error.line == document[: document.index(b"st-elsewhere")].count(b"\n") + 1


def test_a_hospital_without_an_id_is_refused() -> None:
    error = refusal(FULL.replace(b' xnl:OrganisationID="upmc-mercy"', b""))
    assert "xnl:OrganisationID" in error.reason


def test_a_hospital_given_twice_is_refused() -> None:
    error = refusal(FULL.replace(b'"allegheny-general"', b'"upmc-mercy"'))
    assert error.reason == "hospital 'upmc-mercy' appears twice"


def test_an_unknown_traffic_status_is_refused() -> None:
    error = refusal(FULL.replace(b"<EMSTrafficStatus>Closed<", b"<EMSTrafficStatus>Diversion<"))
    assert error.reason == ("unknown EMSTrafficStatus 'Diversion' (expected Normal, Advisory, Closed or NotApplicable)")
    assert error.path == "/HospitalStatus/Hospital[2]/EmergencyDepartmentStatus/EMSTraffic/EMSTrafficStatus"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (
            "<EmergencyDepartmentStatus><EMSAmbulanceStatus><EMSOffloadStatus>Slow</EMSOffloadStatus>"
            "</EMSAmbulanceStatus></EmergencyDepartmentStatus>",
            "unknown EMSOffloadStatus 'Slow' (expected Normal or Delayed)",
        ),
        (
            "<EmergencyDepartmentStatus><EMSCensus><TriageCode><TriageCodeValue>Blue</TriageCodeValue>"
            "<TriageCountQuantity>1</TriageCountQuantity></TriageCode></EMSCensus></EmergencyDepartmentStatus>",
            "unknown TriageCodeValue 'Blue' (expected Red, Yellow, Green or Black)",
        ),
        (
            "<HospitalBedCapacityStatus><BedCapacity><BedType>Cardiac</BedType><Capacity>"
            "<AvailableCount>1</AvailableCount><BaselineCount>2</BaselineCount></Capacity></BedCapacity>"
            "</HospitalBedCapacityStatus>",
            "unknown BedType 'Cardiac'",
        ),
        (
            "<HospitalBedCapacityStatus><BedCapacity><BedType>Burn</BedType><Capacity>"
            "<CapacityStatus>Open</CapacityStatus><AvailableCount>1</AvailableCount>"
            "<BaselineCount>2</BaselineCount></Capacity></BedCapacity></HospitalBedCapacityStatus>",
            "unknown CapacityStatus 'Open' (expected Vacant/Available or NotAvailable)",
        ),
    ],
)
def test_values_outside_the_standards_code_lists_are_refused(status: str, reason: str) -> None:
    assert refusal(one_hospital(status)).reason.startswith(reason)


def test_a_negative_count_is_refused() -> None:
    error = refusal(FULL.replace(b"<TriageCountQuantity>3<", b"<TriageCountQuantity>-3<"))
    assert error.reason == "TriageCountQuantity -3 is negative"
    assert error.path == (
        "/HospitalStatus/Hospital[1]/EmergencyDepartmentStatus/EMSCensus/TriageCode[1]/TriageCountQuantity"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2.5", "EMSOffloadMinutes '2.5' is not an integer"),
        ("two", "EMSOffloadMinutes 'two' is not an integer"),
        ("", "EMSOffloadMinutes '' is not an integer"),
        ("1e3", "EMSOffloadMinutes '1e3' is not an integer"),
        ("99999999999999999999", "EMSOffloadMinutes 99999999999999999999 is out of range"),
    ],
)
def test_a_count_that_is_not_an_integer_is_refused(text: str, reason: str) -> None:
    status = f"""<EmergencyDepartmentStatus><EMSAmbulanceStatus>
        <EMSOffloadMinutes>{text}</EMSOffloadMinutes></EMSAmbulanceStatus></EmergencyDepartmentStatus>"""
    assert refusal(one_hospital(status)).reason == reason


def test_an_available_count_above_the_baseline_is_refused() -> None:
    error = refusal(FULL.replace(b"<AvailableCount>2</AvailableCount>", b"<AvailableCount>25</AvailableCount>", 1))
    assert error.reason == "AvailableCount 25 is above BaselineCount 24"
    assert error.path == "/HospitalStatus/Hospital[1]/HospitalBedCapacityStatus/BedCapacity[1]/Capacity"


def test_values_beyond_the_services_limits_are_refused() -> None:
    error = refusal(FULL.replace(b"<EMSOffloadMinutes>42<", b"<EMSOffloadMinutes>5000<"))
    assert error.reason.startswith("value out of range")
    assert "offload_minutes" in error.reason


def test_an_incomplete_extension_is_refused() -> None:
    error = refusal(FULL.replace(b"<ext:CT>false</ext:CT>", b""))
    assert error.reason.startswith("ResourcesAvailable has no CT")


def test_an_external_entity_is_refused_and_never_read() -> None:
    document = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<HospitalStatus xmlns="urn:oasis:names:tc:emergency:EDXL:HAVE:1.0" xmlns:xnl="urn:oasis:names:tc:ciq:xnl:3">
  <Hospital>
    <Organization><OrganizationInformation>
      <xnl:OrganisationName xnl:OrganisationID="upmc-mercy"><xnl:NameElement>A</xnl:NameElement></xnl:OrganisationName>
    </OrganizationInformation></Organization>
    <EmergencyDepartmentStatus><EMSTraffic>
      <EMSTrafficStatus>Normal</EMSTrafficStatus><EMSTrafficReason>&e;</EMSTrafficReason>
    </EMSTraffic></EmergencyDepartmentStatus>
  </Hospital>
</HospitalStatus>
"""
    error = refusal(document)
    assert error.reason == "DTDs and entity declarations are not accepted"
    assert "root:" not in str(error)


def test_an_external_dtd_is_refused_and_never_fetched() -> None:
    document = b"""<?xml version="1.0"?>
<!DOCTYPE HospitalStatus SYSTEM "http://example.invalid/have.dtd">
<HospitalStatus xmlns="urn:oasis:names:tc:emergency:EDXL:HAVE:1.0"/>
"""
    assert refusal(document).reason == "DTDs and entity declarations are not accepted"


def test_an_entity_expansion_bomb_is_refused() -> None:
    document = b"""<?xml version="1.0"?>
<!DOCTYPE HospitalStatus [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<HospitalStatus xmlns="urn:oasis:names:tc:emergency:EDXL:HAVE:1.0">&b;</HospitalStatus>
"""
    assert refusal(document).reason == "DTDs and entity declarations are not accepted"


def test_a_document_over_one_mebibyte_is_refused_before_it_is_parsed() -> None:
    document = FULL.replace(b"</HospitalStatus>", b"<!--" + b" " * MAX_BYTES + b"--></HospitalStatus>")
    error = refusal(document)
    assert error.reason.startswith(f"document is {len(document)} bytes, over the 1 MiB limit")
    assert (error.line, error.path) == (None, None)


def test_a_refusal_reads_as_its_reason_and_place() -> None:
    error = EdxlError("unknown hospital 'x'", line=7, path="/HospitalStatus/Hospital")
    assert str(error) == "unknown hospital 'x' (line 7, at /HospitalStatus/Hospital)"
    assert str(EdxlError("too big")) == "too big"


# Writing, and back


def status_of(hospital: str, **fields: object) -> HospitalStatus:
    at = datetime(2025, 3, 1, 14, 5, 30, tzinfo=UTC)
    return msgspec.structs.replace(HospitalStatus(hospital=hospital, updated_at=at, updated_by="ed:x"), **fields)


STATUSES = [
    status_of(
        "upmc-mercy",
        ems_traffic="Closed",
        ems_traffic_reason="CT scanner down <again> & no neuro",
        census=TriageCounts(red=3, yellow=8, green=15, black=1),
        capacity=TriageCounts(red=4, yellow=10, green=20),
        offload="Delayed",
        offload_minutes=42,
        beds={
            "adult_icu": Beds(available=2, baseline=24),
            "medical_surgical": Beds(available=0, baseline=180),
            "burn": Beds(available=1, baseline=8),
            "pediatric_icu": Beds(available=0, baseline=0),
            "pediatrics": Beds(available=5, baseline=30),
            "psychiatric": Beds(available=3, baseline=12),
            "isolation": Beds(available=1, baseline=6),
            "operating_rooms": Beds(available=2, baseline=14),
        },
        resources=Resources(cath_lab=True, ct=False, stroke_team=False, trauma_surgeon=True, operating_room=False),
    ),
    status_of("allegheny-general", ems_traffic="Advisory"),
    status_of("upmc-childrens", ems_traffic="NotApplicable", beds={"pediatrics": Beds(available=9, baseline=9)}),
]
NAMES = {"upmc-mercy": "UPMC Mercy", "allegheny-general": "Allegheny General Hospital"}
KEPT = ("ems_traffic", "ems_traffic_reason", "census", "capacity", "offload", "offload_minutes", "beds", "resources")


def test_parse_of_render_reproduces_every_status() -> None:
    updates = parse(render(STATUSES, names=NAMES), hospitals=HOSPITALS)
    assert list(updates) == [status.hospital for status in STATUSES]
    at = datetime(2025, 3, 2, tzinfo=UTC)
    for status in STATUSES:
        rebuilt = apply(HospitalStatus(hospital=status.hospital), updates[status.hospital], at=at, by="edxl")
        assert {name: getattr(rebuilt, name) for name in KEPT} == {name: getattr(status, name) for name in KEPT}


def test_render_writes_a_pretty_utf8_document_with_a_declaration() -> None:
    document = render(STATUSES, names=NAMES)
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<HospitalStatus")
    assert b"\n    <Organization>\n" in document
    root = etree.fromstring(document)
    ns = {"h": HAVE, "xnl": "urn:oasis:names:tc:ciq:xnl:3"}
    assert root.xpath("count(h:Hospital)", namespaces=ns) == 3
    assert root.xpath("h:Hospital/h:LastUpdateTime/text()", namespaces=ns) == ["2025-03-01T14:05:30Z"] * 3
    assert root.xpath("h:Hospital//xnl:NameElement/text()", namespaces=ns) == [
        "UPMC Mercy",
        "Allegheny General Hospital",
        "upmc-childrens",
    ]


def test_render_of_no_statuses_and_of_a_never_updated_status() -> None:
    never = HospitalStatus(hospital="upmc-mercy")
    root = etree.fromstring(render([never], names=NAMES))
    assert root.find(f"{{{HAVE}}}Hospital/{{{HAVE}}}LastUpdateTime") is None
    assert root.find(f"{{{HAVE}}}Hospital/{{{HAVE}}}HospitalBedCapacityStatus") is None
    assert etree.fromstring(render([], names=NAMES)).tag == f"{{{HAVE}}}HospitalStatus"


def test_a_naive_update_time_is_written_as_utc() -> None:
    status = HospitalStatus(hospital="upmc-mercy", updated_at=datetime(2025, 3, 1, 9, 0))
    assert b"<LastUpdateTime>2025-03-01T09:00:00Z</LastUpdateTime>" in render([status], names=NAMES)


def test_an_unreadable_update_time_is_refused() -> None:
    error = refusal(one_hospital("<LastUpdateTime>yesterday</LastUpdateTime>"))
    assert error.reason == "LastUpdateTime 'yesterday' is not an ISO 8601 date and time"
