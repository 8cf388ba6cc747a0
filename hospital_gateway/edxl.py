"""Hospital status as OASIS EDXL-HAVE 1.0 XML, in (``parse``) and out (``render``). Pure: bytes in, types out; no I/O.

A document is one ``HospitalStatus`` (namespace ``urn:oasis:names:tc:emergency:EDXL:HAVE:1.0``) with a ``Hospital``
per hospital. The elements used, in the order the standard's schema gives them::

    Hospital
      Organization/OrganizationInformation/xnl:OrganisationName  (OASIS CIQ xNL 3.0, urn:oasis:names:tc:ciq:xnl:3)
          @xnl:OrganisationID = our hospital id ("upmc-mercy"); xnl:NameElement = its display name
      EmergencyDepartmentStatus
        EMSTraffic/EMSTrafficStatus          Normal | Advisory | Closed | NotApplicable
        EMSTraffic/EMSTrafficReason          free text
        EMSCapacity, EMSCensus               TriageCode/(TriageCodeValue Red|Yellow|Green|Black, TriageCountQuantity)
        EMSAmbulanceStatus/EMSOffloadStatus  Normal | Delayed
        EMSAmbulanceStatus/EMSOffloadMinutes integer
      HospitalBedCapacityStatus/BedCapacity  BedType + Capacity/(CapacityStatus, AvailableCount, BaselineCount)
      LastUpdateTime                         xsd:dateTime (written in UTC; read, checked, not returned: the service
                                             stamps updates with its own clock)

Bed types: ``BED_TYPES`` maps ours to the standard's; its other types (NeonatalICU, EmergencyDepartment, NurseryBeds,
RehabLongTermCare, PediatricPsychiatric, OtherIsolation) are valid but not kept, and are skipped when read.

Extension (not EDXL-HAVE): HAVE 1.0 has no element for what is available *now* at a hospital (cath lab, CT, stroke
team, trauma surgeon, operating room); its ``ServiceCoverageStatus`` says which services a hospital covers, not what
is free, and names no CT or stroke team. So ``render`` writes, as the last child of each ``Hospital`` (after
``LastUpdateTime``), ``prealert:ResourcesAvailable`` in namespace ``urn:prealert:edxl-have-extension:1`` with the
xsd:boolean children ``CathLab``, ``CT``, ``StrokeTeam``, ``TraumaSurgeon``, ``OperatingRoom`` (all five, or none).
A consumer validating strictly against the HAVE 1.0 schema may reject that element; one that ignores unknown
namespaces reads the rest unchanged.

``parse`` refuses (``EdxlError``) a document over 1 MiB, malformed XML, any DTD or entity declaration (entities are
never resolved, nothing is fetched), a wrong root or namespace, an unknown or repeated hospital, a value outside the
standard's code lists, a negative or non-integer count, an available count above the baseline, and values outside
the service's limits (``dispatch.capacity``). Elements the service does not use are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, NoReturn, cast, get_args

import msgspec
from lxml import etree

from dispatch.capacity import BedCategory, HospitalStatus, OffloadStatus, StatusUpdate, TrafficStatus, TriageCounts

HAVE: Final = "urn:oasis:names:tc:emergency:EDXL:HAVE:1.0"
XNL: Final = "urn:oasis:names:tc:ciq:xnl:3"
EXTENSION: Final = "urn:prealert:edxl-have-extension:1"
MAX_BYTES: Final = 1024 * 1024

BED_TYPES: Final[Mapping[BedCategory, str]] = {
    "adult_icu": "AdultICU",
    "medical_surgical": "MedicalSurgical",
    "burn": "Burn",
    "pediatric_icu": "PediatricICU",
    "pediatrics": "Pediatrics",
    "psychiatric": "AdultPsychiatric",
    "isolation": "NegativeFlowIsolation",
    "operating_rooms": "OperatingRooms",
}
HAVE_BED_TYPES: Final = (
    "AdultICU", "PediatricICU", "NeonatalICU", "EmergencyDepartment", "NurseryBeds", "MedicalSurgical",
    "RehabLongTermCare", "Burn", "Pediatrics", "AdultPsychiatric", "PediatricPsychiatric", "NegativeFlowIsolation",
    "OtherIsolation", "OperatingRooms",
)  # fmt: skip
TRIAGE_CODES: Final = {"Red": "red", "Yellow": "yellow", "Green": "green", "Black": "black"}
CAPACITY_STATUSES: Final = ("Vacant/Available", "NotAvailable")
RESOURCES: Final = {
    "CathLab": "cath_lab",
    "CT": "ct",
    "StrokeTeam": "stroke_team",
    "TraumaSurgeon": "trauma_surgeon",
    "OperatingRoom": "operating_room",
}
_CATEGORY_OF: Final = {have: ours for ours, have in BED_TYPES.items()}
_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
_MAX_DIGITS: Final = 9
_BOOLEANS: Final = {"true": True, "1": True, "false": False, "0": False}

_Element = etree._Element
_NAMESPACES: Final = cast("dict[str, str]", {None: HAVE, "xnl": XNL, "prealert": EXTENSION})  # None: the default


class EdxlError(Exception):
    """A document we refuse: ``reason`` in words, and where, when known (``line``, element ``path``)."""

    def __init__(self, reason: str, *, line: int | None = None, path: str | None = None) -> None:
        where = ", ".join(part for part in (f"line {line}" if line else "", f"at {path}" if path else "") if part)
        super().__init__(f"{reason} ({where})" if where else reason)
        self.reason = reason
        self.line = line
        self.path = path


# Reading


def parse(document: bytes, *, hospitals: Collection[str]) -> dict[str, StatusUpdate]:
    """One partial update per ``Hospital``, keyed by hospital id; the elements present are the fields that change."""
    root = _parse_xml(document)
    _check_root(root)
    elements = root.findall(_have("Hospital"))
    if not elements:
        _refuse("HospitalStatus has no Hospital", root)
    updates: dict[str, StatusUpdate] = {}
    for element in elements:
        hospital = _hospital_id(element, hospitals)
        if hospital in updates:
            _refuse(f"hospital {hospital!r} appears twice", element)
        updates[hospital] = _update(element)
    return updates


def _parse_xml(document: bytes) -> _Element:
    if len(document) > MAX_BYTES:
        raise EdxlError(f"document is {len(document)} bytes, over the 1 MiB limit ({MAX_BYTES} bytes)")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        raise EdxlError(f"malformed XML: {exc.msg}", line=exc.lineno or None) from None
    info: Any = root.getroottree().docinfo  # lxml-stubs lack DocInfo.doctype
    if info.doctype:
        _refuse("DTDs and entity declarations are not accepted", root)
    return root


def _check_root(root: _Element) -> None:
    name = etree.QName(root)
    if name.localname != "HospitalStatus":
        _refuse(f"root element is {name.localname!r}, expected HospitalStatus", root)
    if name.namespace != HAVE:
        _refuse(f"HospitalStatus is in namespace {name.namespace!r}, expected {HAVE!r}", root)


def _hospital_id(hospital: _Element, hospitals: Collection[str]) -> str:
    name = hospital.find(f"{_have('Organization')}/{_have('OrganizationInformation')}/{{{XNL}}}OrganisationName")
    if name is None or not (hospital_id := (name.get(f"{{{XNL}}}OrganisationID") or "").strip()):
        _refuse(
            "Hospital has no Organization/OrganizationInformation/xnl:OrganisationName/@xnl:OrganisationID", hospital
        )
    if hospital_id not in hospitals:
        _refuse(f"unknown hospital {hospital_id!r}", name)
    return hospital_id


def _update(hospital: _Element) -> StatusUpdate:
    fields: dict[str, object] = {}
    department = hospital.find(_have("EmergencyDepartmentStatus"))
    if department is not None:
        fields |= _department(department)
    beds = hospital.find(_have("HospitalBedCapacityStatus"))
    if beds is not None:
        fields["beds"] = _beds(beds)
    resources = hospital.find(f"{{{EXTENSION}}}ResourcesAvailable")
    if resources is not None:
        fields["resources"] = _resources(resources)
    updated = hospital.find(_have("LastUpdateTime"))
    if updated is not None:
        _check_time(updated)
    try:
        return msgspec.convert(fields, StatusUpdate)
    except msgspec.ValidationError as exc:
        _refuse(f"value out of range: {exc}", hospital)


def _department(department: _Element) -> dict[str, object]:
    fields: dict[str, object] = {}
    traffic = department.find(_have("EMSTraffic"))
    if traffic is not None:
        fields |= _traffic(traffic)
    for field, tag in (("capacity", "EMSCapacity"), ("census", "EMSCensus")):
        counts = department.find(_have(tag))
        if counts is not None:
            fields[field] = _triage(counts)
    ambulances = department.find(_have("EMSAmbulanceStatus"))
    if ambulances is not None:
        fields |= _offload(ambulances)
    return fields


def _traffic(traffic: _Element) -> dict[str, object]:
    fields: dict[str, object] = {}
    status = traffic.find(_have("EMSTrafficStatus"))
    if status is not None:
        fields["ems_traffic"] = _choice(status, get_args(TrafficStatus))
    reason = traffic.find(_have("EMSTrafficReason"))
    if reason is not None and _text(reason):
        fields["ems_traffic_reason"] = _text(reason)
    return fields


def _triage(counts: _Element) -> dict[str, int]:
    """A TriageCount: each TriageCode holds TriageCodeValue / TriageCountQuantity pairs. Colours not given are 0."""
    result: dict[str, int] = {}
    for code in counts.findall(_have("TriageCode")):
        values, quantities = code.findall(_have("TriageCodeValue")), code.findall(_have("TriageCountQuantity"))
        if not values or len(values) != len(quantities):
            _refuse("TriageCode needs a TriageCountQuantity for each TriageCodeValue", code)
        for value, quantity in zip(values, quantities, strict=True):
            colour = TRIAGE_CODES[_choice(value, tuple(TRIAGE_CODES))]
            if colour in result:
                _refuse(f"triage code {_text(value)} is given twice", value)
            result[colour] = _count(quantity)
    return result


def _offload(ambulances: _Element) -> dict[str, object]:
    fields: dict[str, object] = {}
    status = ambulances.find(_have("EMSOffloadStatus"))
    if status is not None:
        fields["offload"] = _choice(status, get_args(OffloadStatus))
    minutes = ambulances.find(_have("EMSOffloadMinutes"))
    if minutes is not None:
        fields["offload_minutes"] = _count(minutes)
    return fields


def _beds(status: _Element) -> dict[str, dict[str, int]]:
    """The bed types given replace the hospital's beds; standard types the service does not keep are skipped."""
    beds: dict[str, dict[str, int]] = {}
    for capacity in status.findall(_have("BedCapacity")):
        bed_type = _choice(_child(capacity, "BedType"), HAVE_BED_TYPES)
        category = _CATEGORY_OF.get(bed_type)
        if category is None:
            continue
        if category in beds:
            _refuse(f"BedType {bed_type} is given twice", capacity)
        beds[category] = _capacity(_child(capacity, "Capacity"))
    return beds


def _capacity(capacity: _Element) -> dict[str, int]:
    status = capacity.find(_have("CapacityStatus"))
    if status is not None:
        _choice(status, CAPACITY_STATUSES)
    available = _count(_child(capacity, "AvailableCount"))
    baseline = _count(_child(capacity, "BaselineCount"))
    if available > baseline:
        _refuse(f"AvailableCount {available} is above BaselineCount {baseline}", capacity)
    return {"available": available, "baseline": baseline}


def _resources(resources: _Element) -> dict[str, bool]:
    result: dict[str, bool] = {}
    for tag, field in RESOURCES.items():
        element = resources.find(f"{{{EXTENSION}}}{tag}")
        if element is None:
            _refuse(f"ResourcesAvailable has no {tag} (all of {', '.join(RESOURCES)} are required)", resources)
        if _text(element) not in _BOOLEANS:
            _refuse(f"{tag} {_text(element)!r} is not a boolean (true, false, 1 or 0)", element)
        result[field] = _BOOLEANS[_text(element)]
    return result


def _check_time(updated: _Element) -> None:
    try:
        datetime.fromisoformat(_text(updated))
    except ValueError:
        _refuse(f"LastUpdateTime {_text(updated)!r} is not an ISO 8601 date and time", updated)


def _choice(element: _Element, allowed: Sequence[str]) -> str:
    value = _text(element)
    if value not in allowed:
        expected = f"{', '.join(allowed[:-1])} or {allowed[-1]}"
        _refuse(f"unknown {etree.QName(element).localname} {value!r} (expected {expected})", element)
    return value


def _count(element: _Element) -> int:
    text, name = _text(element), etree.QName(element).localname
    if not _INTEGER.fullmatch(text):
        _refuse(f"{name} {text!r} is not an integer", element)
    if len(text.lstrip("+-")) > _MAX_DIGITS:
        _refuse(f"{name} {text} is out of range", element)
    if int(text) < 0:
        _refuse(f"{name} {int(text)} is negative", element)
    return int(text)


def _child(parent: _Element, name: str) -> _Element:
    element = parent.find(_have(name))
    if element is None:
        _refuse(f"{etree.QName(parent).localname} has no {name}", parent)
    return element


def _text(element: _Element) -> str:
    return (element.text or "").strip()


def _refuse(reason: str, element: _Element) -> NoReturn:
    line = cast("int | None", element.sourceline)  # lxml-stubs leave sourceline untyped
    raise EdxlError(reason, line=line, path=_path(element))


def _path(element: _Element) -> str:
    """``/HospitalStatus/Hospital[2]/EmergencyDepartmentStatus/...``: local names, a position where a name repeats."""
    steps: list[str] = []
    node: _Element | None = element
    while node is not None:
        parent = node.getparent()
        name = etree.QName(node).localname
        same = [sibling for sibling in parent if sibling.tag == node.tag] if parent is not None else [node]
        steps.append(name if len(same) == 1 else f"{name}[{same.index(node) + 1}]")
        node = parent
    return "/" + "/".join(reversed(steps))


def _have(name: str) -> str:
    return f"{{{HAVE}}}{name}"


# Writing


def render(statuses: Sequence[HospitalStatus], *, names: Mapping[str, str]) -> bytes:
    """One HospitalStatus document, a Hospital per status, pretty-printed UTF-8. A hospital missing from ``names``
    is named by its id; a status never updated has no LastUpdateTime."""
    root = etree.Element(_have("HospitalStatus"), nsmap=_NAMESPACES)
    for status in statuses:
        _hospital(root, status, names.get(status.hospital, status.hospital))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _hospital(root: _Element, status: HospitalStatus, name: str) -> None:
    hospital = etree.SubElement(root, _have("Hospital"))
    information = etree.SubElement(etree.SubElement(hospital, _have("Organization")), _have("OrganizationInformation"))
    organisation = etree.SubElement(information, f"{{{XNL}}}OrganisationName")
    organisation.set(f"{{{XNL}}}OrganisationID", status.hospital)
    _add(organisation, f"{{{XNL}}}NameElement", name)
    _write_department(etree.SubElement(hospital, _have("EmergencyDepartmentStatus")), status)
    if status.beds:
        _write_beds(etree.SubElement(hospital, _have("HospitalBedCapacityStatus")), status)
    if status.updated_at is not None:
        _add(hospital, _have("LastUpdateTime"), _utc(status.updated_at))
    resources = etree.SubElement(hospital, f"{{{EXTENSION}}}ResourcesAvailable")
    for tag, field in RESOURCES.items():
        _add(resources, f"{{{EXTENSION}}}{tag}", "true" if getattr(status.resources, field) else "false")


def _write_department(department: _Element, status: HospitalStatus) -> None:
    traffic = etree.SubElement(department, _have("EMSTraffic"))
    _add(traffic, _have("EMSTrafficStatus"), status.ems_traffic)
    if status.ems_traffic_reason:
        _add(traffic, _have("EMSTrafficReason"), status.ems_traffic_reason)
    _write_triage(etree.SubElement(department, _have("EMSCapacity")), status.capacity)
    _write_triage(etree.SubElement(department, _have("EMSCensus")), status.census)
    ambulances = etree.SubElement(department, _have("EMSAmbulanceStatus"))
    _add(ambulances, _have("EMSOffloadStatus"), status.offload)
    _add(ambulances, _have("EMSOffloadMinutes"), str(status.offload_minutes))


def _write_triage(counts: _Element, triage: TriageCounts) -> None:
    for code, colour in TRIAGE_CODES.items():
        element = etree.SubElement(counts, _have("TriageCode"))
        _add(element, _have("TriageCodeValue"), code)
        _add(element, _have("TriageCountQuantity"), str(getattr(triage, colour)))


def _write_beds(element: _Element, status: HospitalStatus) -> None:
    for category in [category for category in BED_TYPES if category in status.beds]:
        beds, capacity = status.beds[category], etree.SubElement(element, _have("BedCapacity"))
        _add(capacity, _have("BedType"), BED_TYPES[category])
        counts = etree.SubElement(capacity, _have("Capacity"))
        _add(counts, _have("CapacityStatus"), "Vacant/Available" if beds.available else "NotAvailable")
        _add(counts, _have("AvailableCount"), str(beds.available))
        _add(counts, _have("BaselineCount"), str(beds.baseline))


def _add(parent: _Element, tag: str, text: str) -> _Element:
    element = etree.SubElement(parent, tag)
    element.text = text
    return element


def _utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; a naive time is taken to be UTC already."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
