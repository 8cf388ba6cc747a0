"""The official NEMSIS v3.5.1 validators, run on a document: the XSD (lxml) and the national Schematron rules (the ISO
Schematron XSLT2 pipeline, compiled once per process with saxonche).

No network and no entity expansion: a document is parsed with a parser that refuses DTDs and external entities
before either validator sees it. The schema files ship in ``dispatch/standards/nemsis`` (see its PROVENANCE.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal, cast

from lxml import etree

NEMSIS_NS: Final = "http://www.nemsis.org"
_SVRL: Final = "{http://purl.oclc.org/dsdl/svrl}"
_LOCK = threading.Lock()  # one schema and one Saxon processor per process: one validation at a time


def standards() -> Path:
    return Path(str(resources.files("dispatch") / "standards" / "nemsis"))


@dataclass(frozen=True, slots=True)
class Finding:
    """A failed Schematron assertion (or a successful report): its level, rule id, message and where."""

    level: Literal["error", "warning", "info"]
    rule: str
    message: str
    location: str


@dataclass(frozen=True, slots=True)
class Report:
    schema_errors: tuple[str, ...]  # the XSD's messages, each with its line
    findings: tuple[Finding, ...]  # the Schematron's, when the XSD passed

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == "error")

    @property
    def valid(self) -> bool:
        """No XSD error and no error-level Schematron assertion (warnings are allowed, as NEMSIS allows them)."""
        return not self.schema_errors and not self.errors

    def messages(self) -> list[str]:
        return [*self.schema_errors, *(f"{f.rule} ({f.level}) at {f.location}: {f.message}" for f in self.errors)]


class NemsisDocumentError(ValueError):
    """The bytes are not a well-formed XML document we will read (or carry a DTD)."""


def parse(document: bytes) -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        tree = etree.ElementTree(etree.fromstring(document, parser))
    except etree.XMLSyntaxError as exc:
        raise NemsisDocumentError(f"not well-formed XML: {exc}") from None
    if cast(Any, tree.docinfo).doctype:  # lxml-stubs do not know doctype
        raise NemsisDocumentError("a document type declaration (DTD) is not accepted")
    return tree


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(standards() / "xsd" / "EMSDataSet_v3.xsd")))


@cache
def _schematron() -> tuple[object, object]:
    """(processor, compiled national rules) — compiled once: about 0.6 s."""
    from saxonche import PySaxonProcessor

    proc = PySaxonProcessor(license=False)
    xslt = proc.new_xslt30_processor()
    steps = standards() / "iso-schematron-xslt2"

    def step(name: str) -> object:
        compiled = xslt.compile_stylesheet(stylesheet_file=str(steps / name))
        if name == "iso_svrl_for_xslt2.xsl":  # without it the NEMSIS variables are dropped and the compile fails
            compiled.set_parameter("allow-foreign", proc.make_string_value("true"))
        return compiled

    # the include step reads the schema from its file, so that its relative includes resolve
    text = step("iso_dsdl_include.xsl").transform_to_string(  # type: ignore[attr-defined]
        source_file=str(standards() / "schematron" / "EMSDataSet.sch")
    )
    for name in ("iso_abstract_expand.xsl", "iso_svrl_for_xslt2.xsl"):
        text = step(name).transform_to_string(xdm_node=proc.parse_xml(xml_text=text))  # type: ignore[attr-defined]
    return proc, xslt.compile_stylesheet(stylesheet_text=text)


def _short(location: str) -> str:
    """``/*:EMSDataSet[namespace-uri()='...'][1]/*:Header[...][1]`` -> ``/EMSDataSet/Header``."""
    parts = []
    for step in location.split("/"):
        if step.startswith("*:"):
            name = step[2:].split("[", 1)[0]
            index = step.rsplit("[", 1)[-1].rstrip("]") if step.endswith("]") else "1"
            parts.append(name if index == "1" else f"{name}[{index}]")
    return "/" + "/".join(parts)


def _level(role: str | None) -> Literal["error", "warning", "info"]:
    role = (role or "").upper()
    if "ERROR" in role or "FATAL" in role:
        return "error"
    return "warning" if "WARN" in role else "info"


def validate(document: bytes) -> Report:
    """Both validators; the Schematron runs only on a document the XSD accepts (its rules assume the structure)."""
    tree = parse(document)
    with _LOCK:  # callable from worker threads (the import route runs it off the event loop)
        schema = _schema()
        if not schema.validate(tree):
            return Report(tuple(f"line {e.line}: {e.message}" for e in schema.error_log), ())  # type: ignore[attr-defined]
        proc, rules = _schematron()
        node = proc.parse_xml(xml_text=etree.tostring(tree, encoding="unicode"))  # type: ignore[attr-defined]
        svrl = rules.transform_to_string(xdm_node=node)  # type: ignore[attr-defined]
    findings = []
    for kind in ("failed-assert", "successful-report"):
        for f in etree.fromstring(svrl.encode()).iter(_SVRL + kind):
            text = " ".join("".join(f.findtext(_SVRL + "text") or "").split())
            findings.append(Finding(_level(f.get("role")), f.get("id") or "", text, _short(f.get("location") or "")))
    return Report((), tuple(findings))
