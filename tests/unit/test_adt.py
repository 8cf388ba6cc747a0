"""The ED census kept from ADT events, and the ACKs: pure, no socket."""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.capacity import TriageCounts
from hospital_gateway.adt import EVENTS, AckCode, AdtError, EdCensus, ack, control_id, facility, header

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SPEC_EXAMPLE = Path(__file__).parent.parent / "data" / "hl7" / "adt_a01_hl7_v231_spec_example.hl7"


def fields(segment: str, values: dict[int, str]) -> str:
    """A segment with the given fields set (1-based, as numbered in the standard)."""
    row = [segment] + [""] * max(values)
    for n, value in values.items():
        row[n] = value
    return "|".join(row)


def text(
    trigger: str,
    *,
    control: str = "C1",
    patient: str = "MRN1",
    visit: str = "V1",
    location: str = "ED",
    esi: str = "",
    to: str = "MERCY",
    kind: str = "ADT",
    processing: str = "P",
    version: str = "2.5.1",
    discharged: str = "",
) -> str:
    msh = f"MSH|^~\\&|EPIC|MERCYHOSP|PREALERT|{to}|20240501120000||{kind}^{trigger}|{control}|{processing}|{version}"
    pv1 = fields("PV1", {1: "1", 2: "E", 3: f"{location}^R1^B1" if location else "", 19: visit, 45: discharged})
    segments = [msh, f"EVN|{trigger}|20240501120000", f"PID|1||{patient}^^^MERCY^MR||DOE^JANE", pv1]
    if esi:
        segments.append(fields("PV2", {25: esi}))
    return "\r".join(segments)


def msg(trigger: str, **kwargs: str) -> hl7.Message:
    return hl7.parse(text(trigger, **kwargs))


def census() -> EdCensus:
    return EdCensus(hospital="upmc-mercy", ed_location="ED", facility="MERCY")


def counts(red: int = 0, yellow: int = 0, green: int = 0) -> TriageCounts:
    return TriageCounts(red=red, yellow=yellow, green=green)


def refused(ed: EdCensus, message: hl7.Message) -> AdtError:
    with pytest.raises(AdtError) as caught:
        ed.apply(message, now=NOW)
    return caught.value


# Events


@pytest.mark.parametrize("trigger", ["A01", "A04"])
def test_admit_or_register_in_the_ed_is_counted(trigger: str) -> None:
    ed = census()
    change = ed.apply(msg(trigger, esi="2"), now=NOW)
    assert ed.counts() == counts(red=1)
    assert change.startswith(f"{trigger}: ") and "in the ED" in change


def test_registration_elsewhere_is_known_but_not_counted() -> None:
    ed = census()
    assert "outside the ED" in ed.apply(msg("A04", location="CLINIC"), now=NOW)
    assert ed.counts() == counts()
    ed.apply(msg("A03", control="C2", location="CLINIC"), now=NOW)  # known: no refusal


def test_transfer_out_of_and_into_the_ed() -> None:
    ed = census()
    ed.apply(msg("A04", esi="4"), now=NOW)
    assert "moved from in the ED" in ed.apply(msg("A02", control="C2", location="ICU"), now=NOW)
    assert ed.counts() == counts()
    ed.apply(msg("A02", control="C3", location="ED"), now=NOW)
    assert ed.counts() == counts(green=1)


def test_transfer_of_an_unknown_patient_places_them() -> None:
    ed = census()
    assert "not known before" in ed.apply(msg("A02", location="ED", esi="1"), now=NOW)
    assert ed.counts() == counts(red=1)


def test_transfer_needs_the_new_location() -> None:
    ed = census()
    ed.apply(msg("A04"), now=NOW)
    error = refused(ed, msg("A02", control="C2", location=""))
    assert (error.code, error.condition) == ("AE", "101") and "PV1-3" in error.reason


def test_update_changes_acuity_and_keeps_what_it_does_not_send() -> None:
    ed = census()
    ed.apply(msg("A04", esi="3"), now=NOW)
    ed.apply(msg("A08", control="C2", esi="1"), now=NOW)
    assert ed.counts() == counts(red=1)
    ed.apply(msg("A08", control="C3"), now=NOW)  # no PV2-25: keep red
    assert ed.counts() == counts(red=1)
    ed.apply(msg("A08", control="C4", esi='""'), now=NOW)  # the HL7 null: acuity deleted, unknown
    assert ed.counts() == counts(yellow=1)


def test_update_moves_the_patient() -> None:
    ed = census()
    ed.apply(msg("A04"), now=NOW)
    ed.apply(msg("A08", control="C2", location="WARD4"), now=NOW)
    assert ed.counts() == counts()


def test_update_for_an_unknown_patient_places_them_unless_discharged() -> None:
    ed = census()
    ed.apply(msg("A08", patient="NEW", esi="5"), now=NOW)
    ed.apply(msg("A08", control="C2", patient="GONE", discharged="20240501110000"), now=NOW)
    assert ed.counts() == counts(green=1)
    assert "no change" in ed.apply(msg("A08", control="C3", patient="NOWHERE", location=""), now=NOW)


def test_discharge_removes_and_is_idempotent_in_effect() -> None:
    ed = census()
    ed.apply(msg("A04"), now=NOW)
    assert "discharged" in ed.apply(msg("A03", control="C2"), now=NOW)
    assert ed.counts() == counts()
    assert "already discharged" in ed.apply(msg("A03", control="C3"), now=NOW)


def test_cancel_admit_forgets_the_visit() -> None:
    ed = census()
    ed.apply(msg("A01"), now=NOW)
    assert "cancelled" in ed.apply(msg("A11", control="C2"), now=NOW)
    assert ed.counts() == counts()
    assert refused(ed, msg("A03", control="C3")).condition == "204"


def test_cancel_discharge_brings_the_patient_back() -> None:
    ed = census()
    ed.apply(msg("A04", esi="1"), now=NOW)
    ed.apply(msg("A03", control="C2"), now=NOW)
    assert "discharge cancelled" in ed.apply(msg("A13", control="C3"), now=NOW)
    assert ed.counts() == counts(red=1)
    assert "not discharged" in ed.apply(msg("A13", control="C4"), now=NOW)


@pytest.mark.parametrize("trigger", ["A03", "A11", "A13"])
def test_events_for_an_unknown_patient_are_application_errors(trigger: str) -> None:
    error = refused(census(), msg(trigger))
    assert (error.code, error.condition) == ("AE", "204")
    assert "does not know" in error.reason and "MRN1" not in error.reason


def test_visits_are_told_apart_by_visit_number() -> None:
    ed = census()
    ed.apply(msg("A04", visit="V1"), now=NOW)
    ed.apply(msg("A04", control="C2", visit="V2", esi="1"), now=NOW)
    ed.apply(msg("A03", control="C3", visit="V2"), now=NOW)
    assert ed.counts() == counts(yellow=1)


def test_a_message_without_visit_number_matches_the_only_visit() -> None:
    ed = census()
    ed.apply(msg("A04", visit="V1"), now=NOW)
    ed.apply(msg("A03", control="C2", visit=""), now=NOW)
    assert ed.counts() == counts()


def test_a_visit_number_matches_a_visit_recorded_without_one() -> None:
    ed = census()
    ed.apply(msg("A04", visit=""), now=NOW)
    ed.apply(msg("A03", control="C2", visit="V7"), now=NOW)
    assert ed.counts() == counts()


def test_discharged_visits_are_forgotten_after_keep_discharged() -> None:
    ed = EdCensus(hospital="upmc-mercy", ed_location="ED", facility="MERCY", keep_discharged=timedelta(hours=1))
    ed.apply(msg("A04"), now=NOW)
    ed.apply(msg("A03", control="C2"), now=NOW)
    ed.apply(msg("A04", control="C3", patient="OTHER"), now=NOW + timedelta(hours=2))
    assert refused(ed, msg("A13", control="C4")).condition == "204"


EVENT = st.tuples(
    st.sampled_from(EVENTS),
    st.sampled_from(["P1", "P2", "P3"]),
    st.sampled_from(["", "V1", "V2"]),
    st.sampled_from(["ED", "ICU", "", '""']),
    st.sampled_from(["", "1", "3", "5", '""']),
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(EVENT, max_size=30))
def test_counts_kept_as_events_apply_equal_a_recount(events: list[tuple[str, str, str, str, str]]) -> None:
    ed = EdCensus(hospital="upmc-mercy", ed_location="ED", facility="MERCY", keep_discharged=timedelta(hours=5))
    for n, (trigger, patient, visit, location, esi) in enumerate(events):
        message = msg(trigger, control=f"C{n}", patient=patient, visit=visit, location=location, esi=esi)
        with suppress(AdtError):
            ed.apply(message, now=NOW + timedelta(hours=n))
        visits = ed._visits.values()  # the oracle recounts the census's own records
        recount = Counter(v.colour for v in visits if v.discharged_at is None and v.location == "ED")
        assert ed.counts() == counts(recount["red"], recount["yellow"], recount["green"])


# Acuity


@pytest.mark.parametrize(
    ("esi", "colour"),
    [("1", "red"), ("2", "red"), ("3", "yellow"), ("4", "green"), ("5", "green"), ("", "yellow"), ("9", "yellow")],
)
def test_pv2_25_as_esi_gives_the_triage_colour(esi: str, colour: str) -> None:
    ed = census()
    ed.apply(msg("A04", esi=esi), now=NOW)
    assert ed.counts() == TriageCounts(**{colour: 1})


def test_unknown_acuity_values_are_yellow() -> None:
    ed = census()
    for n, value in enumerate(["E", "ESI-1", '""']):
        ed.apply(msg("A04", control=f"C{n}", patient=f"P{n}", esi=value), now=NOW)
    assert ed.counts() == counts(yellow=3)


# Refusals


@pytest.mark.parametrize(
    ("message", "code", "condition"),
    [
        (text("R01", kind="ORU"), "AR", "200"),
        (text("A05"), "AR", "201"),
        (text("A04", control=""), "AR", "101"),
        (text("A04", processing="T"), "AR", "202"),
        (text("A04", to="SHADYSIDE"), "AE", "103"),
        (text("A04", patient=""), "AE", "101"),
        (text("A04", location=""), "AE", "101"),
    ],
    ids=["not-adt", "unsupported-trigger", "no-control-id", "training", "other-facility", "no-pid-3", "no-pv1-3"],
)
def test_refusals(message: str, code: str, condition: str) -> None:
    ed = census()
    error = refused(ed, hl7.parse(message))
    assert (error.code, error.condition) == (code, condition)
    assert ed.counts() == counts()


def test_a_message_without_pv1_is_refused_when_it_needs_a_location() -> None:
    no_pv1 = "\r".join(text("A04").split("\r")[:3])
    assert refused(census(), hl7.parse(no_pv1)).reason.startswith("PV1-3")


def test_header_reads_the_trigger_from_evn_when_msh_9_has_none() -> None:
    old = text("A04").replace("ADT^A04", "ADT")
    assert header(hl7.parse(old)).trigger == "A04"


# Idempotency


def test_the_same_control_id_twice_changes_nothing() -> None:
    ed = census()
    ed.apply(msg("A04"), now=NOW)
    assert ed.apply(msg("A04"), now=NOW) == "duplicate"
    ed.apply(msg("A03", control="C2"), now=NOW)
    assert ed.apply(msg("A03", control="C2"), now=NOW) == "duplicate"
    assert ed.apply(msg("A13", control="C2"), now=NOW) == "duplicate"  # same sender, same id: not looked at
    assert ed.counts() == counts()


def test_control_ids_are_per_sender() -> None:
    ed = census()
    ed.apply(msg("A04"), now=NOW)
    other = text("A04", patient="MRN2").replace("|EPIC|", "|CERNER|")
    assert ed.apply(hl7.parse(other), now=NOW) != "duplicate"
    assert ed.counts() == counts(yellow=2)


def test_a_refused_message_may_be_retried_with_the_same_control_id() -> None:
    ed = census()
    refused(ed, msg("A03", control="C9"))
    ed.apply(msg("A04"), now=NOW)
    assert ed.apply(msg("A03", control="C9"), now=NOW) != "duplicate"
    assert ed.counts() == counts()


def test_only_the_latest_control_ids_are_remembered() -> None:
    ed = EdCensus(hospital="upmc-mercy", ed_location="ED", facility="MERCY", remember_messages=2)
    for n in range(3):
        ed.apply(msg("A08", control=f"C{n}"), now=NOW)
    assert ed.apply(msg("A08", control="C2"), now=NOW) == "duplicate"
    assert ed.apply(msg("A08", control="C0"), now=NOW) != "duplicate"


# The specification's example and facility


def spec_example() -> str:
    return SPEC_EXAMPLE.read_bytes().decode("ascii")


def test_the_specification_example_is_counted_in_the_ed_it_names() -> None:
    message = hl7.parse(spec_example())
    assert facility(message) == "MCM"
    ed = EdCensus(hospital="MCM", ed_location="2000")
    assert ed.apply(message, now=NOW) == "A01: patient in the ED (yellow)"
    assert ed.counts() == counts(yellow=1)
    assert ed.apply(message, now=NOW) == "duplicate"


def test_the_specification_example_elsewhere_is_not_counted() -> None:
    ed = EdCensus(hospital="MCM", ed_location="ED")
    ed.apply(hl7.parse(spec_example()), now=NOW)
    assert ed.counts() == counts()


def test_facility_is_msh_6_namespace_else_universal_id() -> None:
    assert facility(msg("A04", to="MERCY^1.2.3^ISO")) == "MERCY"
    assert facility(msg("A04", to="^1.2.3^ISO")) == "1.2.3"


# ACK


def parsed_ack(message: str, *, code: AckCode, reason: str | None, condition: str) -> hl7.Message:
    reply = ack(message, code=code, reason=reason, now=NOW, condition=condition, control_id="ACK1")
    assert reply.endswith("\r") and "\n" not in reply
    return hl7.parse(reply)


def f(message: hl7.Message, segment: str, n: int, component: int = 1) -> str:
    return str(message.extract_field(segment, 1, n, 1, component, 1))


def test_ack_accept_of_the_specification_example_field_by_field() -> None:
    reply = ack(spec_example(), code="AA", reason=None, now=NOW)
    segments = reply.split("\r")
    assert [s[:3] for s in segments if s] == ["MSH", "MSA"]
    assert segments[0].startswith("MSH|^~\\&|FINGER|MCM|ADT1|MCM|20240501120000+0000||ACK^A01^ACK|")
    m = hl7.parse(reply)
    assert (f(m, "MSH", 3), f(m, "MSH", 4), f(m, "MSH", 5), f(m, "MSH", 6)) == ("FINGER", "MCM", "ADT1", "MCM")
    assert f(m, "MSH", 7) == "20240501120000+0000"
    assert (f(m, "MSH", 9, 1), f(m, "MSH", 9, 2), f(m, "MSH", 9, 3)) == ("ACK", "A01", "ACK")
    new_id = f(m, "MSH", 10)
    assert new_id and new_id != "MSG00001" and len(new_id) <= 20
    assert new_id != f(hl7.parse(ack(spec_example(), code="AA", reason=None, now=NOW)), "MSH", 10)
    assert (f(m, "MSH", 11), f(m, "MSH", 12)) == ("P", "2.3.1")
    assert (f(m, "MSA", 1), f(m, "MSA", 2)) == ("AA", "MSG00001")
    assert str(m.segment("MSA")) == "MSA|AA|MSG00001"


def test_ack_error_before_v2_5_uses_err_1_and_msa_3() -> None:
    m = parsed_ack(spec_example(), code="AE", reason="unknown patient", condition="204")
    assert (f(m, "MSA", 1), f(m, "MSA", 2), f(m, "MSA", 3)) == ("AE", "MSG00001", "unknown patient")
    assert str(m.segment("ERR")) == "ERR|^^^204&Unknown key identifier&HL70357&&unknown patient"


def test_ack_error_from_v2_5_uses_err_3_4_and_8() -> None:
    m = parsed_ack(text("A04", version="2.5.1"), code="AR", reason="ADT^A05 is not supported", condition="201")
    assert (f(m, "MSH", 9, 1), f(m, "MSH", 9, 2), f(m, "MSH", 10), f(m, "MSH", 12)) == ("ACK", "A04", "ACK1", "2.5.1")
    assert (f(m, "MSA", 1), f(m, "MSA", 2), f(m, "MSA", 3)) == ("AR", "C1", "ADT^A05 is not supported")
    assert (f(m, "ERR", 1), f(m, "ERR", 2)) == ("", "")
    assert (f(m, "ERR", 3, 1), f(m, "ERR", 3, 2), f(m, "ERR", 3, 3)) == ("201", "Unsupported event code", "HL70357")
    assert (f(m, "ERR", 4), f(m, "ERR", 8)) == ("E", "ADT^A05 is not supported")


def test_ack_from_v2_7_has_no_msa_3() -> None:
    m = parsed_ack(text("A04", version="2.7"), code="AE", reason="no", condition="204")
    assert str(m.segment("MSA")) == "MSA|AE|C1"
    assert f(m, "ERR", 8) == "no"


def test_ack_escapes_the_reason_and_keeps_the_senders_delimiters() -> None:
    odd = text("A04").replace("MSH|^~\\&|", "MSH#$*!%#").replace("|", "#").replace("^", "$")
    reply = ack(odd, code="AE", reason="a|b^c&d\\e#f\nnext line", now=NOW, condition="101", control_id="X")
    assert reply.startswith("MSH#$*!%#PREALERT#MERCY#EPIC#MERCYHOSP#")
    m = hl7.parse(reply)
    assert f(m, "MSA", 2) == "C1"
    assert f(m, "ERR", 8) == "a|b^c&d\\e#f next line"


def test_ack_without_a_readable_msh_still_answers() -> None:
    m = parsed_ack("this is not HL7", code="AR", reason="cannot be parsed", condition="100")
    assert (f(m, "MSH", 9), f(m, "MSH", 11), f(m, "MSH", 12)) == ("ACK", "P", "2.5.1")
    assert (f(m, "MSA", 1), f(m, "MSA", 2)) == ("AR", "")
    assert f(m, "ERR", 3) == "100"


def test_ack_finds_an_msh_after_junk() -> None:
    m = parsed_ack("ZZZ|junk\r" + text("A04", control="LATE"), code="AR", reason="junk", condition="100")
    assert f(m, "MSA", 2) == "LATE"
    assert control_id("ZZZ|junk\n" + text("A04", control="LATE")) == "LATE"
    assert control_id("garbage") == ""
