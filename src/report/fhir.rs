//! FHIR R4 export: one transaction Bundle per patient and visit, for
//! clinics' record systems.
//!
//! Each bundle holds the Patient (the record's id, a pseudonym when the run
//! was pseudonymised), the Device (this tool's version and every model's
//! sha256), an Observation per reported measurement (a code from this
//! tool's own code system [`CODE_SYSTEM`], UCUM units, the zone as a
//! SNOMED CT body site), a Media per overlay picture (the PNG itself,
//! base64, so that the bundle stands alone on a server), and a
//! DiagnosticReport grouping them with the plan's outcome. Measurements the
//! record marks unvalidated (one-photo scar estimates) or unsteady are
//! `preliminary` with a note; what was not measured is not exported.

use super::ImageRecord;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// This tool's code system for its measurements (documented in the README's
/// FHIR section); a URN, since no terminology server publishes it.
pub const CODE_SYSTEM: &str = "urn:dermascore:fhir:measurement";
/// The patient identifiers' system.
pub const PATIENT_SYSTEM: &str = "urn:dermascore:fhir:patient-id";
/// The device identifiers' system: one Device per tool version and set of
/// models (the identifier is a digest of them).
pub const DEVICE_SYSTEM: &str = "urn:dermascore:fhir:device";
const UCUM: &str = "http://unitsofmeasure.org";
const SNOMED: &str = "http://snomed.info/sct";

/// A zone's SNOMED CT body structure (code, display) and its written name
/// (`ZoneName::label`; `face` for the pooled figures). Laterality is in the
/// text: R4's `bodySite` has no qualifier, and the pre-coordinated
/// right/left concepts are not all in the international edition. The
/// periorbital zones have text only (no single concept fits).
pub fn body_site(zone: &str) -> (Option<(&'static str, &'static str)>, String) {
    use crate::zones::ZoneName;
    if zone == "face" {
        return (Some(("89545001", "Face structure")), "face".into());
    }
    let Some(name) = ZoneName::ALL.into_iter().find(|z| z.as_str() == zone) else {
        return (None, zone.replace('_', " "));
    };
    let code = match name {
        ZoneName::Forehead => Some(("52795006", "Forehead structure")),
        ZoneName::Nose => Some(("45206002", "Nasal structure")),
        ZoneName::RightCheek | ZoneName::LeftCheek => Some(("60819002", "Cheek structure")),
        ZoneName::Chin => Some(("30291003", "Chin structure")),
        ZoneName::Perioral => Some(("123851003", "Mouth region structure")),
        ZoneName::RightPeriorbital | ZoneName::LeftPeriorbital | ZoneName::Patch => None,
    };
    (code, name.label().into())
}

/// One exported measurement: (code, display, record field, UCUM code).
type Measure = (&'static str, &'static str, &'static str, &'static str);

const PORES: [Measure; 4] = [
    ("pore-density", "Pore density", "density_per_cm2", "/cm2"),
    (
        "pore-median-diameter",
        "Median pore diameter",
        "median_diameter_mm",
        "mm",
    ),
    (
        "pore-coverage",
        "Skin area covered by pores",
        "coverage_pct",
        "%",
    ),
    (
        "pore-severity",
        "Pore severity score (0-100)",
        "severity",
        "{score}",
    ),
];
const PIGMENT: [Measure; 3] = [
    (
        "pigmented-area-percent",
        "Hyperpigmented share of the skin",
        "pigmented_pct",
        "%",
    ),
    (
        "pigmented-area",
        "Hyperpigmented area",
        "pigmented_area_mm2",
        "mm2",
    ),
    (
        "pigmentation-severity",
        "Pigmentation severity score (0-100)",
        "severity",
        "{score}",
    ),
];
const SCARS: [Measure; 3] = [
    ("acne-scar-count", "Atrophic acne scars", "count", "{scars}"),
    ("acne-scar-area", "Scarred area", "scarred_area_mm2", "mm2"),
    (
        "acne-scar-severity",
        "Acne scar severity score (0-100)",
        "severity",
        "{score}",
    ),
];

/// A deterministic `urn:uuid:` from `parts` (a name-based UUID from
/// SHA-256), so the same results always give the same bundle.
fn urn(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn entry(full_url: &str, resource: Value) -> Value {
    let kind = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut request = json!({"method": "POST", "url": kind});
    // The patient and the device recur in every visit's bundle: created
    // once, then matched by identifier (a conditional create), so that a
    // server holds one Patient per patient, not one per visit.
    if let (Some(system), Some(value)) = (
        resource["identifier"][0]["system"].as_str(),
        resource["identifier"][0]["value"].as_str(),
    ) {
        request["ifNoneExist"] = json!(format!("identifier={system}|{value}"));
    }
    json!({"fullUrl": full_url, "resource": resource, "request": request})
}

/// A metric's number: plain, or a score's `value`.
fn number(metrics: &Value, field: &str) -> Option<f64> {
    let v = &metrics[field];
    v.as_f64()
        .or_else(|| v["value"].as_f64())
        .filter(|x| x.is_finite())
}

/// An overlay picture's bytes from its `path` (the caller resolves it
/// against its results folder); None when it cannot be read.
pub type OverlayReader<'a> = &'a dyn Fn(&str) -> Option<Vec<u8>>;

/// The bundles, by a file stem naming patient and visit, and the overlay
/// pictures that could not be read (left out of the bundles). Records that
/// are not `ok` are left out (they carry no measurement).
pub fn bundles(
    records: &[ImageRecord],
    overlay: OverlayReader,
) -> (BTreeMap<String, Value>, Vec<String>) {
    let mut unreadable = Vec::new();
    let mut groups: BTreeMap<(String, String), Vec<&ImageRecord>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.status == super::Status::Ok) {
        let (patient, visit) = match &r.subject {
            Some(s) => (
                s.patient_id.clone().unwrap_or_default(),
                s.visit_date.clone().unwrap_or_default(),
            ),
            None => (String::new(), String::new()),
        };
        // A photo without a patient is its own group.
        let key = if patient.is_empty() {
            (format!("unidentified-{}", short(r)), visit)
        } else {
            (patient, visit)
        };
        groups.entry(key).or_default().push(r);
    }
    let bundles = groups
        .into_iter()
        .map(|((patient, visit), recs)| {
            let stem = if visit.is_empty() {
                patient.clone()
            } else {
                format!("{patient}_{visit}")
            };
            (
                stem,
                bundle(&patient, &visit, &recs, overlay, &mut unreadable),
            )
        })
        .collect();
    (bundles, unreadable)
}

fn short(r: &ImageRecord) -> String {
    r.input
        .sha256
        .as_deref()
        .unwrap_or("nohash")
        .chars()
        .take(12)
        .collect()
}

fn bundle(
    patient: &str,
    visit: &str,
    recs: &[&ImageRecord],
    overlay: OverlayReader,
    unreadable: &mut Vec<String>,
) -> Value {
    let identified = !patient.starts_with("unidentified-");
    let patient_url = urn(&["patient", patient]);
    let first = recs[0];
    let device_url = urn(&["device", &first.tool.version]);
    let mut entries = Vec::new();
    if identified {
        entries.push(entry(
            &patient_url,
            json!({"resourceType": "Patient",
                   "identifier": [{"system": PATIENT_SYSTEM, "value": patient}]}),
        ));
    }
    let mut versions = vec![json!({"type": {"text": "software"}, "value": first.tool.version})];
    if let Some(commit) = &first.tool.commit {
        versions.push(json!({"type": {"text": "source commit (git)"}, "value": commit}));
    }
    versions.extend(first.models.iter().map(
        |m| json!({"type": {"text": format!("model {} (sha256)", m.name)}, "value": m.sha256}),
    ));
    let device_id = {
        let mut parts = vec![first.tool.version.as_str()];
        parts.extend(first.tool.commit.as_deref());
        parts.extend(first.models.iter().map(|m| m.sha256.as_str()));
        urn(&parts).trim_start_matches("urn:uuid:").to_string()
    };
    entries.push(entry(
        &device_url,
        json!({"resourceType": "Device",
               "identifier": [{"system": DEVICE_SYSTEM, "value": device_id}],
               "deviceName": [{"name": first.tool.name, "type": "manufacturer-name"}],
               "version": versions}),
    ));
    let subject = identified.then(|| json!({"reference": patient_url}));
    let mut results = Vec::new();
    let mut any_preliminary = false;
    let mut media = Vec::new();
    let mut conclusions = Vec::new();
    for r in recs {
        let rec = serde_json::to_value(r).unwrap_or(Value::Null);
        // The file's bytes and its path: two identical files in one visit
        // are two photos, and each resource's fullUrl must be unique in
        // the bundle (FHIR bdl-7).
        let photo = format!(
            "{}|{}",
            r.input.sha256.as_deref().unwrap_or_default(),
            r.input.path
        );
        let mut media_refs = Vec::new();
        for (k, o) in r.overlays.iter().enumerate() {
            let Some(png) = overlay(&o.path) else {
                unreadable.push(o.path.clone());
                continue;
            };
            let url = urn(&["media", &photo, &k.to_string()]);
            use base64::Engine as _;
            let mut m = json!({"resourceType": "Media", "status": "completed",
                "content": {"contentType": "image/png",
                            "data": base64::engine::general_purpose::STANDARD.encode(&png),
                            "size": png.len(),
                            "title": format!("dermascore overlay ({})", o.kind.label())},
                "device": {"reference": device_url}});
            if let Some(s) = &subject {
                m["subject"] = s.clone();
            }
            media_refs.push(json!({"reference": url}));
            media.push(json!({"link": {"reference": url}}));
            entries.push(entry(&url, m));
        }
        let mut observe = |concern: &str,
                           zone: &str,
                           metrics: &Value,
                           measures: &[Measure],
                           method: &str,
                           preliminary: Option<&str>| {
            for &(code, display, field, unit) in measures {
                let Some(value) = number(metrics, field) else {
                    continue;
                };
                let url = urn(&["observation", &photo, concern, zone, code]);
                let (site, text) = body_site(zone);
                let mut coding = Vec::new();
                if let Some((c, d)) = site {
                    coding.push(json!({"system": SNOMED, "code": c, "display": d}));
                }
                let mut body = json!({"text": text});
                if !coding.is_empty() {
                    body["coding"] = Value::Array(coding);
                }
                let mut o = json!({
                    "resourceType": "Observation",
                    "status": if preliminary.is_some() { "preliminary" } else { "final" },
                    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                              "code": "imaging", "display": "Imaging"}]}],
                    "code": {"coding": [{"system": CODE_SYSTEM, "code": code, "display": display}],
                             "text": format!("{display}, {text}")},
                    "bodySite": body,
                    "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
                    "method": {"text": method},
                    "device": {"reference": device_url},
                });
                if let Some(s) = &subject {
                    o["subject"] = s.clone();
                }
                if !visit.is_empty() {
                    o["effectiveDateTime"] = json!(visit);
                }
                if let Some(n) = preliminary {
                    o["note"] = json!([{"text": n}]);
                }
                if !media_refs.is_empty() {
                    o["derivedFrom"] = Value::Array(media_refs.clone());
                }
                results.push(json!({"reference": url}));
                any_preliminary |= preliminary.is_some();
                entries.push(entry(&url, o));
            }
        };
        let per_zone = |report: &Value| -> Vec<(String, Value)> {
            let mut out: Vec<(String, Value)> = report["zones"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|z| z["metrics"].is_object())
                .map(|z| {
                    (
                        z["zone"].as_str().unwrap_or("zone").to_string(),
                        z["metrics"].clone(),
                    )
                })
                .collect();
            if report["face"].is_object() {
                out.push(("face".into(), report["face"].clone()));
            }
            out
        };
        if rec["pores"]["measured"] == true {
            for (zone, m) in per_zone(&rec["pores"]) {
                observe(
                    "pores",
                    &zone,
                    &m,
                    &PORES,
                    "pore segmentation model at 16 px/mm",
                    None,
                );
            }
        }
        if rec["pigmentation"]["measured"] == true {
            for (zone, m) in per_zone(&rec["pigmentation"]) {
                let unsteady = (m["area_steady"] == false).then(|| {
                    m["area_caution"]
                        .as_str()
                        .unwrap_or("the pigmented area may change by 10 % or more with exposure or white balance")
                });
                observe(
                    "pigmentation",
                    &zone,
                    &m,
                    &PIGMENT,
                    "pigment segmentation model at 4 px/mm",
                    unsteady,
                );
            }
        }
        if rec["acne_scars"]["measured"] == true {
            let estimated = rec["acne_scars"]["depth_mode"] != "measured";
            let note = estimated.then_some(
                "one-photo estimate from shading, not validated against real scars: not for choosing a needle depth",
            );
            let method = if estimated {
                "acne scar model on one photo (estimate)"
            } else {
                "photometric stereo from a multi-light capture"
            };
            for (zone, m) in per_zone(&rec["acne_scars"]) {
                observe("acne_scars", &zone, &m, &SCARS, method, note);
            }
        }
        if let Some(plan) = &r.plan {
            // Why: the findings behind the outcome, what could not be
            // assessed (all of the reason when nothing could), then the
            // course's reasons.
            let why: Vec<&str> = plan
                .findings
                .iter()
                .map(|f| f.evidence.as_str())
                .chain(plan.not_assessed.iter().map(|r| r.evidence.as_str()))
                .chain(plan.course_rationale.iter().map(|c| c.evidence.as_str()))
                .collect();
            let photo_name = std::path::Path::new(&r.input.path)
                .file_name()
                .map_or(r.input.path.clone(), |n| n.to_string_lossy().into_owned());
            conclusions.push(format!(
                "{photo_name}: plan {}{}",
                plan.verdict(),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", why.join("; "))
                }
            ));
        }
    }
    let mut report = json!({
        "resourceType": "DiagnosticReport",
        // Final only when every result is: an unconfirmed estimate or an
        // unsteady reading makes the report preliminary too.
        "status": if any_preliminary { "preliminary" } else { "final" },
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                                  "code": "IMG", "display": "Diagnostic Imaging"}]}],
        "code": {"coding": [{"system": CODE_SYSTEM, "code": "skin-analysis",
                             "display": "Facial skin analysis (pores, acne scars, pigmentation)"}]},
    });
    // FHIR JSON has no empty arrays: a visit with nothing measured has no
    // `result` (its conclusion says why).
    if !results.is_empty() {
        report["result"] = Value::Array(results);
    }
    if let Some(s) = &subject {
        report["subject"] = s.clone();
    }
    if !visit.is_empty() {
        report["effectiveDateTime"] = json!(visit);
    }
    if !media.is_empty() {
        report["media"] = Value::Array(media);
    }
    if !conclusions.is_empty() {
        report["conclusion"] = json!(conclusions.join("; "));
    }
    entries.push(entry(&urn(&["report", patient, visit]), report));
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urns_are_uuids_and_deterministic() {
        let a = urn(&["patient", "P001"]);
        assert_eq!(a, urn(&["patient", "P001"]));
        assert_ne!(a, urn(&["patient", "P002"]));
        let u = a.trim_start_matches("urn:uuid:");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "5");
    }

    #[test]
    fn zones_have_snomed_sites_and_written_names() {
        assert_eq!(body_site("forehead").0.map(|c| c.0), Some("52795006"));
        assert_eq!(
            body_site("right_cheek"),
            (Some(("60819002", "Cheek structure")), "right cheek".into())
        );
        assert_eq!(body_site("left_periorbital").0, None);
    }
}
