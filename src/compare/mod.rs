//! Compare: each patient's visits in date order, per concern, zone and
//! metric — the value at each visit, change from baseline and from the
//! previous visit, percent change, and whether the change exceeds the
//! metric's minimal detectable change (measured, see `repeatability`). Where
//! the captures differ more than the MDC was measured over (scale, pose,
//! exposure), the change is not called significant and the row says why.

pub mod repeatability;

use crate::cohort::Metric;
use crate::plan::intake::Intake;
use crate::plan::{self, protocol::Protocol, Plan, PlanOutcome};
use crate::report::{ImageRecord, Status};
use repeatability::MdcTable;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Capture differences beyond which a change cannot be told from the capture
/// (the MDC was measured over scale ±15 %, exposure ±10 %).
pub const MAX_SCALE_RATIO: f64 = 1.15;
pub const MAX_EXPOSURE_RATIO: f64 = 1.10;
pub const MAX_YAW_DIFFERENCE_DEG: f64 = 10.0;
/// A colour cast moves every zone's a* and b* together; beyond this many
/// units (the MDC's ±5 % casts move them by about 1–2) the colours differ.
pub const MAX_CHROMA_SHIFT: f64 = 4.0;

/// The words a reading warning uses when a visit's photos disagree.
pub const PHOTOS_DISAGREE: &str = "photos disagree on it";

/// One visit's capture, for comparability checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Capture {
    /// The visit's scale, px/mm; null without one.
    pub px_per_mm: Option<f64>,
    /// The scale's relative uncertainty (1 SD, a fraction: 0.05 is 5 %);
    /// null when not stated (a scale given on the command line).
    #[serde(default)]
    pub px_per_mm_uncertainty: Option<f64>,
    /// Head turn, degrees; null without a face.
    pub yaw_deg: Option<f64>,
    /// Mean luma of the skin (0–255): the visit's exposure.
    pub mean_skin_luma: Option<f64>,
    /// a* and b* of the face's unaffected skin.
    pub skin_a_b: Option<[f64; 2]>,
    /// How the visit's acne-scar depths were obtained: `measured` (a
    /// multi-light capture set) or `estimated` (one photo, unconfirmed);
    /// null when scars were not measured.
    #[serde(default)]
    pub acne_scar_depth: Option<crate::measure::DepthMode>,
    /// The photo's quality findings, written out (several faces, cut by
    /// the frame, blur, glare, zones left out): what limits this visit's
    /// readings.
    #[serde(default)]
    pub quality_notes: Vec<String>,
    /// The light of the photo the visit's colour was read from (as
    /// declared; `standard` when not): cross- and parallel-polarised light
    /// show the same skin differently (glare), so readings taken under
    /// different lights are not compared.
    #[serde(default)]
    pub colour_light: Option<crate::capture::Modality>,
    /// How many photos the visit holds. With more than one, each reading is
    /// their mean, while the scale, pose, picture and plan are the first
    /// photo's (in input order).
    #[serde(default = "one")]
    pub photos: usize,
}

fn one() -> usize {
    1
}

impl Capture {
    fn of(r: &ImageRecord) -> Self {
        Self {
            px_per_mm: r.scale.as_ref().and_then(|s| s.px_per_mm).map(|s| s.get()),
            px_per_mm_uncertainty: r.scale.as_ref().and_then(|s| s.uncertainty),
            yaw_deg: r.face.as_ref().map(|f| f.pose.yaw_deg.get()),
            mean_skin_luma: r.quality.as_ref().map(|q| q.skin.mean_luma),
            skin_a_b: r
                .pigmentation
                .as_ref()
                .and_then(|p| p.colour)
                .map(|c| [c.lab.a, c.lab.b]),
            acne_scar_depth: r
                .acne_scars
                .as_ref()
                .filter(|s| s.measured)
                .and_then(|s| s.depth_mode),
            quality_notes: r
                .quality
                .as_ref()
                .map(|q| q.findings.iter().map(|f| f.message.clone()).collect())
                .unwrap_or_default(),
            colour_light: r.quality.as_ref().map(|q| q.light.modality),
            photos: 1,
        }
    }

    /// Why this capture cannot be compared with `other`, if it cannot.
    pub fn mismatch(&self, other: &Capture) -> Vec<String> {
        let mut why = Vec::new();
        if let (Some(a), Some(b)) = (self.px_per_mm, other.px_per_mm) {
            let r = (a / b).max(b / a);
            if r > MAX_SCALE_RATIO {
                why.push(format!(
                    "scale differs by {:.0} % ({a:.2} vs {b:.2} px/mm)",
                    100.0 * (r - 1.0)
                ));
            }
        }
        if let (Some(a), Some(b)) = (self.yaw_deg, other.yaw_deg) {
            if (a - b).abs() > MAX_YAW_DIFFERENCE_DEG {
                why.push(format!("head turned differently ({a:.0}° vs {b:.0}°)"));
            }
        }
        if let (Some(a), Some(b)) = (self.mean_skin_luma, other.mean_skin_luma) {
            let r = (a / b).max(b / a);
            if r > MAX_EXPOSURE_RATIO {
                why.push(format!(
                    "exposure differs by {:.0} % (skin luma {a:.0} vs {b:.0})",
                    100.0 * (r - 1.0)
                ));
            }
        }
        if let (Some(a), Some(b)) = (self.skin_a_b, other.skin_a_b) {
            let (da, db) = (a[0] - b[0], a[1] - b[1]);
            if da.abs() > MAX_CHROMA_SHIFT || db.abs() > MAX_CHROMA_SHIFT {
                why.push(format!(
                    "colour differs (a* {da:+.1}, b* {db:+.1}): lighting or white balance changed"
                ));
            }
        }
        if let (Some(a), Some(b)) = (self.colour_light, other.colour_light) {
            if a != b {
                why.push(format!(
                    "colour read under another light ({} vs {}): glare shows the same skin differently",
                    a.label(),
                    b.label()
                ));
            }
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(px: f64, yaw: f64, luma: f64, ab: [f64; 2]) -> Capture {
        Capture {
            px_per_mm: Some(px),
            px_per_mm_uncertainty: Some(0.05),
            yaw_deg: Some(yaw),
            mean_skin_luma: Some(luma),
            skin_a_b: Some(ab),
            acne_scar_depth: None,
            quality_notes: Vec::new(),
            colour_light: Some(crate::capture::Modality::CrossPolarised),
            photos: 1,
        }
    }

    #[test]
    fn captures_are_compared_on_scale_pose_exposure_and_colour() {
        let base = cap(2.0, 0.0, 150.0, [12.0, 18.0]);
        assert!(cap(2.2, 5.0, 160.0, [13.0, 19.0])
            .mismatch(&base)
            .is_empty());
        let w = cap(2.5, 0.0, 150.0, [12.0, 18.0]).mismatch(&base);
        assert!(w.len() == 1 && w[0].contains("scale"), "{w:?}");
        assert!(cap(2.0, 15.0, 150.0, [12.0, 18.0]).mismatch(&base)[0].contains("turned"));
        assert!(cap(2.0, 0.0, 120.0, [12.0, 18.0]).mismatch(&base)[0].contains("exposure"));
        assert!(cap(2.0, 0.0, 150.0, [12.0, 24.0]).mismatch(&base)[0].contains("colour"));
        // The colour read from a parallel-polarised photo at one visit and
        // a cross-polarised one at the other.
        let parallel = Capture {
            colour_light: Some(crate::capture::Modality::ParallelPolarised),
            ..cap(2.0, 0.0, 150.0, [12.0, 18.0])
        };
        let w = parallel.mismatch(&base);
        assert!(w.len() == 1 && w[0].contains("another light"), "{w:?}");
        // Records from before the light was kept say nothing.
        let unknown = Capture {
            colour_light: None,
            ..cap(2.0, 0.0, 150.0, [12.0, 18.0])
        };
        assert!(unknown.mismatch(&base).is_empty());
    }
}

/// One metric at one visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// The patient (pseudonymised when the results were).
    pub patient_id: String,
    /// The visit (YYYY-MM-DD as the subject gives it).
    pub visit_date: String,
    /// The metric's name (`dermascore metrics` says where the record holds it).
    pub metric: String,
    /// The metric as a report writes it, e.g. "Pigmented skin, right cheek".
    #[serde(default)]
    pub label: String,
    /// The value's unit ("%", "mm", "/cm²", "°"; empty for scores and
    /// indices).
    #[serde(default)]
    pub unit: String,
    /// The metric at this visit (the mean over the visit's captures), in
    /// `unit`.
    pub value: f64,
    /// value − the baseline's value; null at baseline. A metric's baseline
    /// is its first reading: the first visit, or the first that could
    /// measure it (a concern the first photo's resolution ruled out).
    pub change_from_baseline: Option<f64>,
    /// value − the previous visit's value; null at baseline or after a visit
    /// without a value.
    pub change_from_previous: Option<f64>,
    /// The change from baseline as a percentage of the baseline value; null at
    /// baseline, when the baseline is 0 or negative, and for angles (ITA:
    /// a percentage of an angle that can cross 0 means nothing).
    pub pct_change_from_baseline: Option<f64>,
    /// The metric's minimal detectable change at 95 % (models/mdc.json); null
    /// when not measured.
    pub mdc95: Option<f64>,
    /// |change from baseline| > MDC95; null at baseline, without an MDC, or
    /// when the captures are not comparable.
    pub exceeds_mdc: Option<bool>,
    /// Capture differences that make this visit incomparable with the baseline.
    pub capture_warnings: Vec<String>,
    /// Readings of this visit or the baseline that the record flags as
    /// unsteady (`area_steady: false`: the same photo re-encoded or relit
    /// can move them by 10 % or more), and a visit whose photos disagree on
    /// the reading by more than its MDC (not repeat captures of one face).
    /// The change is still judged against the MDC; a change beyond it wants
    /// confirming at the next visit.
    #[serde(default)]
    pub reading_warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowUp {
    /// Sessions remain and the course is on track.
    Continue,
    /// At least two sessions done without a change beyond the MDC in any treated concern.
    AdjustDepth,
    /// The planned course is done, or nothing needs treatment any more.
    Maintenance,
    /// The plan defers treatment; see its findings.
    Defer,
    /// The latest visit's plan could not assess any concern (resolution,
    /// pose, quality): nothing to follow up from.
    NotAssessable,
    /// Neither the baseline nor the latest plan has a zone to treat: no
    /// course was ever indicated, so there is nothing to maintain.
    NoTreatmentIndicated,
}

/// `compare.json`: every patient's visits compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "dermascore compare.json")]
pub struct CompareDocument {
    /// The results schema version the comparison read.
    pub schema_version: String,
    /// The simulated repeat captures the minimal detectable changes (MDC)
    /// were measured under: per capture, its perturbations.
    pub mdc_perturbations: Vec<Vec<repeatability::Perturbation>>,
    /// One entry per patient with at least one usable visit.
    pub patients: Vec<PatientComparison>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PatientComparison {
    /// The patient (pseudonymised when the results were).
    pub patient_id: String,
    /// The patient's visit dates, oldest (the baseline) first.
    pub visits: Vec<String>,
    /// Each visit's capture, in `visits` order.
    pub captures: Vec<Capture>,
    /// Every metric at every visit that measured it.
    pub changes: Vec<Change>,
    /// The plan made at baseline; null without a protocol.
    pub baseline_plan: Option<Plan>,
    /// The plan made at the latest visit; null without a protocol.
    pub latest_plan: Option<Plan>,
    /// Visits after baseline, taken as sessions done (one treatment per visit).
    pub sessions_done: u32,
    /// What the course should do next; null without a protocol.
    pub follow_up: Option<FollowUp>,
    /// Why, written out.
    pub follow_up_reason: String,
}

fn mean(v: &[f64]) -> Option<f64> {
    let ok: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    (!ok.is_empty()).then(|| ok.iter().sum::<f64>() / ok.len() as f64)
}

/// Compares every patient's visits. `records` are image records of any
/// order; repeat captures of a visit are averaged, the first taken for the
/// capture checks and plans.
pub fn compare(
    records: &[ImageRecord],
    metrics: &[Metric],
    mdc: &MdcTable,
    protocol: Option<(&Protocol, &str, &BTreeMap<String, Intake>)>,
) -> Vec<PatientComparison> {
    let mut by_patient: BTreeMap<String, BTreeMap<String, Vec<&ImageRecord>>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.status == Status::Ok) {
        let Some(s) = r.subject.as_ref() else {
            continue;
        };
        let (Some(p), Some(d)) = (s.patient_id.clone(), s.visit_date.clone()) else {
            continue;
        };
        by_patient
            .entry(p)
            .or_default()
            .entry(d)
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for (pid, visits) in by_patient {
        let dates: Vec<String> = visits.keys().cloned().collect();
        let firsts: Vec<&ImageRecord> = visits.values().map(|v| v[0]).collect();
        let captures: Vec<Capture> = visits
            .values()
            .map(|rs| Capture {
                photos: rs.len(),
                ..Capture::of(rs[0])
            })
            .collect();
        // A visit whose photo is byte for byte an earlier visit's is a copy,
        // not a repeat capture: no change can be read from it.
        let copies: Vec<Option<&str>> = visits
            .values()
            .enumerate()
            .map(|(i, rs)| {
                rs.iter()
                    .filter_map(|r| r.input.sha256.as_deref())
                    .find_map(|sha| {
                        visits.iter().take(i).find_map(|(date, earlier)| {
                            earlier
                                .iter()
                                .any(|e| e.input.sha256.as_deref() == Some(sha))
                                .then_some(date.as_str())
                        })
                    })
            })
            .collect();
        let mut changes = Vec::new();
        for m in metrics {
            let values: Vec<Option<f64>> = visits
                .values()
                .map(|rs| mean(&rs.iter().filter_map(|r| m.value(r)).collect::<Vec<_>>()))
                .collect();
            // A metric's baseline is its first reading: a concern that the
            // first visit could not measure (too low a resolution, say) and
            // a later one could is compared from that later visit on, not
            // dropped.
            let Some((first, base)) = values
                .iter()
                .enumerate()
                .find_map(|(i, v)| v.map(|v| (i, v)))
            else {
                continue;
            };
            let unsteady: Vec<bool> = visits
                .values()
                .map(|rs| rs.iter().any(|r| m.steady(r) == Some(false)))
                .collect();
            let mdc95 = mdc.metrics.get(&m.name).map(|e| e.mdc95);
            // Photos of one visit that disagree by more than the reading's
            // own noise are not repeat captures of one face under one light
            // (another person, another lamp): their mean would hide it.
            let disagree: Vec<Option<String>> = visits
                .values()
                .map(|rs| {
                    let v: Vec<f64> = rs.iter().filter_map(|r| m.value(r)).collect();
                    let (lo, hi) = v
                        .iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
                    (v.len() > 1 && mdc95.is_some_and(|mdc| hi - lo > mdc)).then(|| {
                        format!(
                            "this visit's {} {PHOTOS_DISAGREE} ({lo:.1} to {hi:.1}, more than its noise): perhaps not repeat captures of one face under one light",
                            v.len()
                        )
                    })
                })
                .collect();
            let mut previous = Some(base);
            for (i, v) in values.iter().enumerate().skip(first) {
                let Some(v) = *v else {
                    previous = None;
                    continue;
                };
                let later = i > first;
                let mut warnings = if later {
                    captures[i].mismatch(&captures[first])
                } else {
                    Vec::new()
                };
                if let (true, Some(date)) = (later, copies[i]) {
                    warnings.push(format!(
                        "the same photo file as the {date} visit: a copy, not a new capture"
                    ));
                }
                let from_base = later.then_some(v - base);
                changes.push(Change {
                    patient_id: pid.clone(),
                    visit_date: dates[i].clone(),
                    metric: m.name.clone(),
                    label: m.label.clone(),
                    unit: m.unit.into(),
                    value: v,
                    change_from_baseline: from_base,
                    change_from_previous: if later { previous.map(|p| v - p) } else { None },
                    pct_change_from_baseline: from_base
                        .filter(|_| base > 1e-9 && m.unit != "°")
                        .map(|d| 100.0 * d / base),
                    mdc95,
                    exceeds_mdc: match (from_base, mdc95) {
                        (Some(d), Some(mdc)) if warnings.is_empty() => Some(d.abs() > mdc),
                        _ => None,
                    },
                    capture_warnings: warnings,
                    reading_warnings: [
                        (unsteady[first], "the baseline's"),
                        (later && unsteady[i], "this visit's"),
                    ]
                    .iter()
                    .filter(|(flagged, _)| *flagged)
                    .map(|(_, which)| format!("{which} pigmented area is unsteady"))
                    .chain(disagree[i].clone())
                    .collect(),
                });
                previous = Some(v);
            }
        }
        let (baseline_plan, latest_plan) = match protocol {
            Some((p, text, intake)) => (
                Some(plan::make_plan(firsts[0], p, text, intake.get(&pid))),
                firsts
                    .last()
                    .map(|r| plan::make_plan(r, p, text, intake.get(&pid))),
            ),
            None => (None, None),
        };
        let sessions_done = (dates.len() - 1) as u32;
        let (follow_up, follow_up_reason) = follow_up(
            baseline_plan.as_ref(),
            latest_plan.as_ref(),
            sessions_done,
            &changes,
            dates.last(),
        );
        out.push(PatientComparison {
            patient_id: pid,
            visits: dates,
            captures,
            changes,
            baseline_plan,
            latest_plan,
            sessions_done,
            follow_up,
            follow_up_reason,
        });
    }
    out
}

fn follow_up(
    base: Option<&Plan>,
    latest: Option<&Plan>,
    done: u32,
    changes: &[Change],
    last: Option<&String>,
) -> (Option<FollowUp>, String) {
    let (Some(base), Some(latest)) = (base, latest) else {
        return (None, "no protocol given".into());
    };
    if latest.outcome == PlanOutcome::Defer {
        return (
            Some(FollowUp::Defer),
            "the latest visit's plan defers treatment (see its findings)".into(),
        );
    }
    if latest.outcome == PlanOutcome::NotAssessable {
        return (
            Some(FollowUp::NotAssessable),
            "no concern could be measured at the latest visit: the plan says why for each".into(),
        );
    }
    let planned = base.sessions.unwrap_or(0);
    if base.zones.is_empty() && latest.zones.is_empty() {
        return (
            Some(FollowUp::NoTreatmentIndicated),
            "no zone reached the protocol's treatment threshold at baseline or now".into(),
        );
    }
    if latest.zones.is_empty() {
        return (
            Some(FollowUp::Maintenance),
            "no zone reaches the protocol's treatment threshold any more".into(),
        );
    }
    if done >= planned {
        return (
            Some(FollowUp::Maintenance),
            format!("{done} of {planned} planned sessions done"),
        );
    }
    // Concerns treated at baseline, and whether any of their face metrics improved beyond the MDC.
    let treated: Vec<&str> = base.zones.iter().map(|z| z.concern.key()).collect();
    let improved = changes.iter().any(|c| {
        Some(&c.visit_date) == last
            && c.metric.ends_with(".severity")
            && c.metric.contains(".face.")
            && treated
                .iter()
                .any(|t| c.metric.starts_with(&format!("{t}.")))
            && c.exceeds_mdc == Some(true)
            && c.change_from_baseline.is_some_and(|d| d < 0.0)
    });
    if done >= 2 && !improved {
        return (
            Some(FollowUp::AdjustDepth),
            format!(
                "{done} sessions without a treated concern's severity falling by more than its MDC"
            ),
        );
    }
    (
        Some(FollowUp::Continue),
        format!("{done} of {planned} planned sessions done"),
    )
}
