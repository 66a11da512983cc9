#!/usr/bin/env python3
"""Independent check of Carelog's HL7 v2 and FHIR R4 output, with parsers Carelog did not write.

Usage: python3 check_interop.py DIR

For every DIR/*.hl7 (one ORU^R01 message, CR separators):
  - hl7apy parses it with STRICT validation against the HL7 v2.5 ORU_R01 structure (required
    fields, data types, date/time formats) and finds its groups;
  - python-hl7 parses it again, and the report lists what it reads, unescaped: MSH, PID, every
    OBR with its OBX and NTE segments.
For every DIR/*.fhir.json (one Bundle):
  - fhir.resources (pydantic models, FHIR R4B) validates the bundle and each resource;
  - fhirclient (SMART on FHIR models generated from FHIR R4 4.0.1) loads it with strict=True, so
    every element must exist in R4 with the right type and every required element be present;
  - the script checks ids, references inside the bundle, UCUM quantities and base64 attachments,
    and the report lists what each resource says.

Prints one JSON report on stdout. Exit 0: all valid; 1: something is invalid (listed under
"errors"); 3: the Python packages are missing (message on stderr).
"""

import base64
import binascii
import glob
import importlib.metadata
import json
import os
import re
import sys

PIP = (
    "python3 -m pip install hl7==0.4.5 hl7apy==1.3.5 fhir.resources==8.3.0 "
    "fhir-core==1.1.12 fhirclient==4.4.0"
)

try:
    import hl7
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.bundle import Bundle as R4BBundle
    from fhirclient.models.bundle import Bundle as R4Bundle
    from fhirclient.models.fhirelementfactory import FHIRElementFactory
except ImportError as missing:  # pragma: no cover - depends on the machine
    sys.stderr.write(
        f"the independent HL7/FHIR checkers are not installed ({missing}).\n"
        f"Run `cargo xtask test`, which installs them, or install them yourself:\n    {PIP}\n"
    )
    sys.exit(3)

# Required bindings the model validators do not check: (resource type, element) -> allowed codes.
REQUIRED_CODES = {
    ("Observation", "status"): {
        "registered", "preliminary", "final", "amended", "corrected", "cancelled",
        "entered-in-error", "unknown",
    },
    ("MedicationStatement", "status"): {
        "active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown",
        "not-taken",
    },
    ("DocumentReference", "status"): {"current", "superseded", "entered-in-error"},
    ("DocumentReference", "docStatus"): {"preliminary", "final", "amended", "entered-in-error"},
    ("Patient", "gender"): {"male", "female", "other", "unknown"},
    ("Encounter", "status"): {
        "planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled",
        "entered-in-error", "unknown",
    },
    ("ServiceRequest", "status"): {
        "draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown",
    },
    ("ServiceRequest", "intent"): {
        "proposal", "plan", "directive", "order", "original-order", "reflex-order",
        "filler-order", "instance-order", "option",
    },
    ("ServiceRequest", "priority"): {"routine", "urgent", "asap", "stat"},
    ("Immunization", "status"): {"completed", "entered-in-error", "not-done"},
    ("AllergyIntolerance", "criticality"): {"low", "high", "unable-to-assess"},
}
CLINICAL_STATUS = {
    "Condition": {"active", "recurrence", "relapse", "inactive", "remission", "resolved"},
    "AllergyIntolerance": {"active", "inactive", "resolved"},
}

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
UCUM = "http://unitsofmeasure.org"


def hl7_report(path, errors):
    """Validates one message with hl7apy and reads it with python-hl7."""
    name = os.path.basename(path)
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    if "\n" in text:
        errors.append(f"{name}: segments must be separated by CR only")
    text = text.rstrip("\r")

    structure = {}
    try:
        msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        if not msg.validate():
            errors.append(f"{name}: hl7apy validation returned False")
        structure["hl7apy_message"] = msg.name
        result_groups = msg.children.get("ORU_R01_PATIENT_RESULT")
        orders = observations = 0
        for group in result_groups:
            for order in group.children.get("ORU_R01_ORDER_OBSERVATION"):
                orders += 1
                observations += len(order.children.get("ORU_R01_OBSERVATION"))
        structure["hl7apy_orders"] = orders
        structure["hl7apy_observations"] = observations
    except Exception as e:  # hl7apy raises many exception types
        errors.append(f"{name}: hl7apy (STRICT, v2.5): {type(e).__name__}: {e}")

    m = hl7.parse(text)
    u = m.unescape

    def comp(field, c, rep=1):
        try:
            return u(str(field(rep)(c)))
        except (IndexError, KeyError):
            return ""

    msh = m.segment("MSH")
    pid = m.segment("PID")
    report = {
        **structure,
        "msh": {
            "sending_application": u(str(msh(3))),
            "sending_facility": u(str(msh(4))),
            "time": str(msh(7)),
            "type": str(msh(9)),
            "control_id": str(msh(10)),
            "version": str(msh(12)),
            "charset": str(msh(18)) if len(msh) > 18 else "",
        },
        "pid": {
            "id": comp(pid(3), 1),
            "authority": comp(pid(3), 4),
            "id_type": comp(pid(3), 5),
            "family": comp(pid(5), 1),
            "given": comp(pid(5), 2),
            "middle": comp(pid(5), 3),
            "name_type": comp(pid(5), 7),
            "birth_date": str(pid(7)) if len(pid) > 7 else "",
            "sex": str(pid(8)) if len(pid) > 8 else "",
        },
        "orders": [],
    }
    order = None
    for seg in m:
        kind = str(seg[0])
        if kind == "OBR":
            order = {
                "filler": comp(seg(3), 1),
                "code": comp(seg(4), 1),
                "text": comp(seg(4), 2),
                "system": comp(seg(4), 3),
                "time": str(seg(7)),
                "status": str(seg(25)) if len(seg) > 25 else "",
                "observations": [],
                "notes": [],
            }
            report["orders"].append(order)
        elif kind == "OBX":
            value = u(str(seg(5)))
            obs = {
                "type": str(seg(2)),
                "code": comp(seg(3), 1),
                "text": comp(seg(3), 2),
                "system": comp(seg(3), 3),
                "value": value,
                "unit": comp(seg(6), 1) if len(seg) > 6 else "",
                "range": u(str(seg(7))) if len(seg) > 7 else "",
                "flag": str(seg(8)) if len(seg) > 8 else "",
                "status": str(seg(11)) if len(seg) > 11 else "",
                "time": str(seg(14)) if len(seg) > 14 else "",
            }
            if obs["type"] == "NM":
                try:
                    obs["number"] = float(value)
                except ValueError:
                    errors.append(f"{name}: OBX-5 `{value}` is not a number for type NM")
            if obs["status"] not in ("F", "C"):
                errors.append(f"{name}: OBX-11 `{obs['status']}` is not F or C")
            if order is None:
                errors.append(f"{name}: OBX before any OBR")
            else:
                order["observations"].append(obs)
        elif kind == "NTE":
            lines = [u(str(rep)) for rep in seg(3)]
            if order is None:
                errors.append(f"{name}: NTE before any OBR")
            else:
                order["notes"].append(lines)
    return report


def check_quantity(q, where, errors):
    if not isinstance(q.get("value"), (int, float)):
        errors.append(f"{where}: value is not a number")
    if q.get("system") != UCUM or not q.get("code"):
        errors.append(f"{where}: not a UCUM quantity")


def fhir_report(path, errors):
    """Validates one bundle with fhir.resources (R4B) and fhirclient (R4), then reads it."""
    name = os.path.basename(path)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    try:
        R4BBundle.model_validate(data)
    except Exception as e:
        errors.append(f"{name}: fhir.resources (R4B) Bundle: {e}")
    try:
        R4Bundle(jsondict=json.loads(json.dumps(data)), strict=True)
    except Exception as e:
        errors.append(f"{name}: fhirclient (R4 4.0.1) Bundle: {e}")
    if data.get("type") != "collection":
        errors.append(f"{name}: Bundle.type is not collection")

    resources = [e.get("resource", {}) for e in data.get("entry", [])]
    ids = set()
    for i, r in enumerate(resources):
        kind, rid = r.get("resourceType"), r.get("id", "")
        where = f"{name}: entry[{i}] {kind}/{rid}"
        try:
            get_fhir_model_class(kind).model_validate(r)
        except Exception as e:
            errors.append(f"{where}: fhir.resources (R4B): {e}")
        try:
            FHIRElementFactory.instantiate(kind, json.loads(json.dumps(r)))
        except Exception as e:
            errors.append(f"{where}: fhirclient (R4): {e}")
        if not FHIR_ID.match(rid):
            errors.append(f"{where}: id does not match [A-Za-z0-9-.]{{1,64}}")
        if (kind, rid) in ids:
            errors.append(f"{where}: duplicate id")
        for (k, element), allowed in REQUIRED_CODES.items():
            if k == kind and element in r and r[element] not in allowed:
                errors.append(f"{where}: {element} `{r[element]}` is not one of {sorted(allowed)}")
        if kind in CLINICAL_STATUS:
            for coding in r.get("clinicalStatus", {}).get("coding", []):
                if coding.get("code") not in CLINICAL_STATUS[kind]:
                    errors.append(f"{where}: clinicalStatus `{coding.get('code')}` is not allowed")
        ids.add((kind, rid))

    def resolves(ref):
        kind, _, rid = (ref or "").partition("/")
        return (kind, rid) in ids

    report = {"resources": []}
    for i, r in enumerate(resources):
        kind, rid = r.get("resourceType"), r.get("id")
        where = f"{name}: {kind}/{rid}"
        item = {"type": kind, "id": rid}
        for key in ("subject", "patient"):
            if key in r and not resolves(r[key].get("reference")):
                errors.append(f"{where}: {key} does not resolve inside the bundle")
        if kind == "Patient":
            item["name"] = r.get("name", [])
            item["birthDate"] = r.get("birthDate")
            item["gender"] = r.get("gender")
            item["identifier"] = r.get("identifier", [{}])[0].get("value")
        elif kind == "Observation":
            coding = r["code"]["coding"][0]
            item.update(
                code=coding["code"],
                system=coding["system"],
                category=r["category"][0]["coding"][0]["code"],
                status=r["status"],
                effective=r.get("effectiveDateTime"),
            )
            for member in r.get("hasMember", []):
                if not resolves(member.get("reference")):
                    errors.append(f"{where}: hasMember {member} does not resolve")
            for order in r.get("basedOn", []):
                # A logical reference (identifier only) names an order outside the bundle.
                if "reference" in order and not resolves(order["reference"]):
                    errors.append(f"{where}: basedOn {order} does not resolve")
                if "reference" not in order and "identifier" not in order:
                    errors.append(f"{where}: basedOn names nothing")
                item["basedOn"] = order.get("reference")
            item["members"] = len(r.get("hasMember", []))
            if "valueQuantity" in r:
                q = r["valueQuantity"]
                check_quantity(q, f"{where} valueQuantity", errors)
                item.update(value=q.get("value"), unit=q.get("code"))
            for rr in r.get("referenceRange", []):
                for bound in ("low", "high"):
                    if bound in rr:
                        check_quantity(rr[bound], f"{where} referenceRange.{bound}", errors)
                        item[bound] = rr[bound]["value"]
            if r.get("interpretation"):
                item["interpretation"] = r["interpretation"][0]["coding"][0]["code"]
        elif kind == "Condition":
            item["code"] = r["code"].get("coding", [{}])[0].get("code")
            item["system"] = r["code"].get("coding", [{}])[0].get("system")
            item["text"] = r["code"].get("text")
            item["clinicalStatus"] = r["clinicalStatus"]["coding"][0]["code"]
            item["abatement"] = r.get("abatementDateTime")
        elif kind == "Encounter":
            item.update(
                status=r["status"],
                classCode=r["class"]["code"],
                start=r.get("period", {}).get("start"),
                reason=[c.get("text") for c in r.get("reasonCode", [])],
            )
        elif kind == "ServiceRequest":
            coding = r["code"]["coding"][0]
            item.update(code=coding["code"], system=coding["system"], intent=r["intent"], status=r["status"])
        elif kind == "Immunization":
            coding = r["vaccineCode"]["coding"][0]
            item.update(
                code=coding["code"],
                system=coding["system"],
                date=r.get("occurrenceDateTime"),
                lot=r.get("lotNumber"),
            )
        elif kind == "AllergyIntolerance":
            item["substance"] = r["code"].get("text")
            item["reaction"] = [
                m.get("text") for rx in r.get("reaction", []) for m in rx["manifestation"]
            ]
            item["criticality"] = r.get("criticality")
        elif kind == "MedicationStatement":
            item.update(
                drug=r["medicationCodeableConcept"].get("text"),
                status=r["status"],
                period=r.get("effectivePeriod"),
                reason=[s.get("text") for s in r.get("statusReason", [])],
                extension=r.get("extension", []),
                codes=[c.get("code") for c in r["medicationCodeableConcept"].get("coding", [])],
                dosage=[d.get("text") for d in r.get("dosage", [])],
            )
        elif kind == "DocumentReference":
            attachment = r["content"][0]["attachment"]
            try:
                raw = base64.b64decode(attachment.get("data", ""), validate=True)
                item["text"] = raw.decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as e:
                errors.append(f"{where}: attachment data is not base64 UTF-8 text: {e}")
            item["title"] = attachment.get("title")
            item["contentType"] = attachment.get("contentType")
        report["resources"].append(item)
    return report


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: check_interop.py DIR\n")
        return 2
    folder = sys.argv[1]
    errors = []
    out = {
        "versions": {
            package: importlib.metadata.version(package)
            for package in ("hl7", "hl7apy", "fhir.resources", "fhir-core", "fhirclient")
        },
        "hl7": {},
        "fhir": {},
        "errors": errors,
    }
    for kind, pattern, read in (("hl7", "*.hl7", hl7_report), ("fhir", "*.fhir.json", fhir_report)):
        for path in sorted(glob.glob(os.path.join(folder, pattern))):
            name = os.path.basename(path)
            try:
                out[kind][name] = read(path, errors)
            except Exception as e:  # a malformed file must be reported, not crash the check
                errors.append(f"{name}: unreadable: {type(e).__name__}: {e}")
    if not out["hl7"] and not out["fhir"]:
        errors.append(f"no *.hl7 or *.fhir.json files in {folder}")
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
