//! Plan: a microneedling plan from one photo's measurements — needle depth
//! per zone, sessions, interval, maintenance — with contraindications from
//! the photo and the patient's intake, and a rationale for every number.
//! All clinical numbers come from the protocol (TOML); none live here.
//! The plan supports, and does not replace, the clinician's decision.

pub mod intake;
pub mod protocol;

use crate::measure::colour::ItaCategory;
// Hairy zones take no part in the redness comparisons: the stubble of
// `bioskin/2.jpg` made its chin the face's "least-red skin".
use crate::measure::hair::is_hairy;
use crate::models::hex_sha256;
use crate::report::ImageRecord;
use crate::score::Score;
use crate::zones::ZoneName;
use intake::Intake;
use protocol::{Band, Outcome, Protocol};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const DISCLAIMER: &str =
    "This plan supports, and does not replace, the treating clinician's judgement: check every number against the patient's history and examination. The photo analysis does not screen skin lesions and covers only the zones drawn (not the temples, the jaw's sides or the neck): examine the whole area, and any pigmented lesion, before needling.";

pub use crate::quality::Concern;

/// The `type` of a `dermascore plan` output line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanLineType {
    Plan,
}

/// One line of `dermascore plan`'s JSON Lines output: a plan remade from a
/// results record with the protocol and intake given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "dermascore plan line")]
pub struct PlanLine {
    /// Always `plan`.
    #[serde(rename = "type")]
    pub kind: PlanLineType,
    /// The results schema version these lines go with.
    pub schema_version: String,
    /// The photo's path as its record shows it (pseudonymised there when
    /// the run was).
    pub input: String,
    /// Patient, visit and view, when the record has them.
    pub subject: Option<crate::ingest::Subject>,
    /// The plan made from this record.
    pub plan: Plan,
}

/// Why a number is what it is: the protocol rule and the measured value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reason {
    /// Protocol key or rule id, e.g. `depth.pores`, `zone_cap_mm.nose`, `rules.isotretinoin`.
    pub rule: String,
    /// The measurement or intake fact it came from.
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZonePlan {
    /// The zone to treat.
    pub zone: ZoneName,
    /// The concern that sets this zone's depth (the deepest indicated).
    pub concern: Concern,
    /// The severity (0–100) of the concern that sets the depth, in this zone.
    pub severity: f64,
    /// ± one standard deviation of `severity`, in score points: a band
    /// edge within it means the next band's depth was about as likely.
    #[serde(default)]
    pub severity_uncertainty: f64,
    /// Recommended needle depth, mm: the protocol's depth for the severity,
    /// after the zone's anatomical cap and any skin-tone adjustment.
    pub needle_depth_mm: f64,
    /// Each rule that set the depth, with the measurement it acted on.
    pub rationale: Vec<Reason>,
}

/// The plan's verdict, most restrictive first: `defer` (a contraindication),
/// `not_assessable` (no concern could be measured on this photo: nothing
/// to plan from), `caution` (treat with the findings in mind; always so when
/// the patient's history was not checked), `proceed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanOutcome {
    Proceed,
    Caution,
    Defer,
    NotAssessable,
}

impl PlanOutcome {
    /// As a report writes it.
    pub fn label(self) -> &'static str {
        match self {
            PlanOutcome::Proceed => "Proceed",
            PlanOutcome::Caution => "Caution",
            PlanOutcome::Defer => "Defer",
            PlanOutcome::NotAssessable => "Not assessable",
        }
    }
}

impl Plan {
    /// The verdict as a report writes it: the outcome's label, except that
    /// a plan free to proceed with no zone to treat says so ("No treatment
    /// indicated"), not "Proceed", which would read as a go-ahead to needle.
    pub fn verdict(&self) -> &'static str {
        if self.outcome == PlanOutcome::Proceed && self.zones.is_empty() {
            "No treatment indicated"
        } else {
            self.outcome.label()
        }
    }
}

/// A contraindication or caution the plan raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "PlanFinding")]
pub struct Finding {
    /// Protocol rule id, e.g. `rules.isotretinoin`, `intake.missing`.
    pub rule: String,
    /// What this finding alone makes of the plan (the plan takes the most
    /// restrictive).
    pub outcome: PlanOutcome,
    /// The measurement or intake fact that raised it, written out.
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProtocolRef {
    /// The protocol's `name`.
    pub name: String,
    /// The protocol's `version`.
    pub version: String,
    /// SHA-256 of the protocol file as read (hex): which exact rules made the
    /// plan.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// The plan's verdict (see `PlanOutcome`).
    pub outcome: PlanOutcome,
    /// Every contraindication or caution raised, with its rule and evidence.
    pub findings: Vec<Finding>,
    /// Zones to treat; empty when nothing reaches the treatment threshold,
    /// and when the plan is deferred.
    pub zones: Vec<ZonePlan>,
    /// Sessions in the course; null when no zone is treated (also when the
    /// plan is deferred).
    pub sessions: Option<u32>,
    /// Weeks between sessions; null when no zone is treated.
    pub interval_weeks: Option<u32>,
    /// Months between maintenance sessions after the course; null when no zone
    /// is treated.
    pub maintenance_months: Option<u32>,
    /// The rules that set sessions, interval and maintenance, with their
    /// evidence.
    pub course_rationale: Vec<Reason>,
    /// Skin colour the adjustments were based on (a measurement).
    pub ita_deg: Option<f64>,
    /// Chardon category of `ita_deg` (a colour category, not a Fitzpatrick
    /// type).
    pub ita_category: Option<ItaCategory>,
    /// The clinician's Fitzpatrick type (1–6) from the intake, when given.
    pub fitzpatrick: Option<u8>,
    /// The category the skin-tone adjustments (depth factor, interval,
    /// post-inflammatory hyperpigmentation caution) used: the darker of
    /// `ita_category` and the one `fitzpatrick` stands for
    /// (`fitzpatrick_category`).
    pub skin_tone_category: Option<ItaCategory>,
    /// Concerns that could not be assessed on this photo, and why.
    pub not_assessed: Vec<Reason>,
    /// Findings shown but not acted on: estimates that are not validated on
    /// real skin (acne scars from one photo, unless a multi-light capture or
    /// the clinician's grade confirms them) set no needle depth.
    pub unconfirmed: Vec<Reason>,
    /// Zones whose reading is above the treatment threshold but within the
    /// range this measurement reads on normal skin (the protocol's
    /// `[normal_limit]`): not treated unless the patient asks.
    pub within_normal: Vec<Reason>,
    /// Whether the patient's intake (history, medication, pregnancy, recent
    /// procedures) was checked in full. Without an intake row, or with one
    /// that leaves an item unrecorded (finding `intake.incomplete`), the
    /// outcome is at most `caution`.
    pub intake_checked: bool,
    /// The protocol the plan was made with.
    pub protocol: ProtocolRef,
    /// The plan supports, and does not replace, the clinician's judgement.
    pub disclaimer: String,
}

/// One concern's readings: each measured zone's severity into `per_zone`;
/// into `not_assessed`, why the concern (`measured`: whether it was, and
/// why not) or a zone of it could not be measured.
fn read_zones<'a>(
    concern: Concern,
    measured: (bool, Option<&str>),
    zones: impl Iterator<Item = (ZoneName, Option<Score>, Option<&'a str>)>,
    per_zone: &mut Vec<(ZoneName, Concern, Score)>,
    not_assessed: &mut Vec<Reason>,
) {
    let (measured, reason) = measured;
    if !measured {
        not_assessed.push(Reason {
            rule: concern.key().into(),
            evidence: reason.unwrap_or_default().into(),
        });
        return;
    }
    for (zone, severity, why) in zones {
        match severity {
            Some(s) => per_zone.push((zone, concern, s)),
            None => not_assessed.push(zone_not_assessed(concern, zone, why)),
        }
    }
}

/// A zone left out of a concern that was measured on the rest of the
/// face: named, so that "no zone needs treatment" is not read as covering
/// it.
fn zone_not_assessed(concern: Concern, zone: ZoneName, reason: Option<&str>) -> Reason {
    Reason {
        rule: format!("{}.{}", concern.key(), zone.as_str()),
        evidence: format!(
            "{} on the {}: not measured ({})",
            concern.as_str(),
            zone.label(),
            reason.unwrap_or("no reason recorded")
        ),
    }
}

fn band<T: Copy>(bands: &[Band<T>], severity: f64) -> Option<(T, f64)> {
    bands
        .iter()
        .find(|b| severity <= b.up_to_severity)
        .map(|b| (b.value, b.up_to_severity))
}

/// The zone's deepest scar, how its depth was obtained, for the rationale.
fn scar_depth(rec: &ImageRecord, zone: ZoneName) -> Option<String> {
    let s = rec.acne_scars.as_ref()?;
    let m = s.zones.iter().find(|z| z.zone == zone)?.metrics.as_ref()?;
    let mode = match s.depth_mode? {
        crate::measure::DepthMode::Measured => "measured from the multi-light set",
        crate::measure::DepthMode::Estimated => "estimated from one photo",
    };
    Some(format!(
        "{} scar(s), deepest {:.2} mm ± {:.2} ({mode}), Goodman & Baron grade estimate {}",
        m.count,
        m.max_depth_mm?,
        s.depth_uncertainty_mm.unwrap_or(0.0),
        m.goodman_baron_grade
    ))
}

/// The fitted ambient share of a zone whose multi-light readings do not fit
/// the capture's lights as declared (`reflectance.taken_out` false).
fn misfit_fill(rec: &ImageRecord, zone: ZoneName) -> Option<f64> {
    let s = rec.acne_scars.as_ref()?;
    let fit = s
        .zones
        .iter()
        .find(|z| z.zone == zone)?
        .reflectance
        .as_ref()?;
    (!fit.taken_out).then_some(fit.ambient_share)
}

/// The set's photo that did not fit it, as the plan names it.
fn capture_photo(s: &crate::measure::ScarReport, i: usize) -> String {
    s.capture
        .as_ref()
        .and_then(|c| c.photos.get(i))
        .and_then(|p| std::path::Path::new(&p.path).file_name())
        .map_or_else(
            || format!("photo {}", i + 1),
            |f| format!("photo {} ({})", i + 1, f.to_string_lossy()),
        )
}

/// A photo of a multi-light set that does not fit it (moved, of another
/// sitting, dark over part of the skin) makes depressions that vanish
/// without it: they were not counted, and the capture deserves retaking.
fn set_fault(s: &crate::measure::ScarReport) -> Option<Reason> {
    let faulty: Vec<_> = s
        .zones
        .iter()
        .filter_map(|z| {
            Some((
                z.zone,
                z.light_check
                    .as_ref()
                    .filter(|c| c.depressions_dropped > 0)?,
            ))
        })
        .collect();
    let (_, first) = faulty.first()?;
    let dropped: u64 = faulty.iter().map(|(_, c)| c.depressions_dropped).sum();
    let zones: Vec<&str> = faulty.iter().map(|(z, _)| z.label()).collect();
    Some(Reason {
        rule: "acne_scars.light_check".into(),
        evidence: format!(
            "the capture set does not hold together: {dropped} depression(s) ({}) vanished with {} left out, so that photo does not fit the others (it moved, is of another sitting, or is badly exposed over part of the skin); they were not counted as scars — retake the set before relying on its scar readings",
            zones.join(", "),
            first
                .photo_not_fitting
                .map_or_else(|| "one photo".to_string(), |i| capture_photo(s, i))
        ),
    })
}

/// Why a measured zone's scars cannot set a needle depth although the
/// set's readings fit its lights, or `None`: a set whose other lights
/// cannot stand in for each photo in turn (three lights; or one light the
/// only one from its side) cannot be checked for a photo that does not fit
/// (`set_fault`), and a depression no deeper than the relief's own
/// uncertainty is not told from flat skin.
fn unverified_relief(
    s: &crate::measure::ScarReport,
    z: &crate::measure::ZoneScars,
) -> Option<String> {
    let m = z.metrics.as_ref().filter(|m| m.count > 0)?;
    let photos = s.capture.as_ref().map_or(0, |c| c.photos.len());
    match &z.light_check {
        Some(c) if c.depressions_dropped > 0 => Some("the capture set does not hold together (above)".into()),
        Some(c) if (c.photos_checked as usize) < photos => Some(format!(
            "only {} of the set's {photos} photos could be left out in turn to check the relief (without the others, the lights left are too close to one plane): a fault in the rest could not be told from relief",
            c.photos_checked
        )),
        None if photos <= 3 => Some(format!(
            "a set of {photos} lights has none to spare: a photo that does not fit it (moved, of another sitting, badly exposed) could not be told from relief; capture with four or more lights around the face"
        )),
        None => Some(
            "the record does not say whether each photo was checked against the others (made before schema 3.2.0): analyse the set again".into(),
        ),
        Some(_) => {
            let uncertainty = s.depth_uncertainty_mm?;
            let deepest = m.max_depth_mm?;
            (deepest <= uncertainty).then(|| format!(
                "its deepest scar ({deepest:.2} mm) is no deeper than the relief's uncertainty (± {uncertainty:.2} mm)"
            ))
        }
    }
}

/// Whether the record's scars may set a needle depth, and on what grounds:
/// scars measured from a multi-light capture set, or one-photo estimates
/// confirmed by the clinician's Goodman & Baron grade in the intake.
fn scar_confirmation(
    mode: crate::measure::DepthMode,
    intake: Option<&Intake>,
    protocol: &Protocol,
) -> Option<Reason> {
    match mode {
        crate::measure::DepthMode::Measured => Some(Reason {
            rule: "acne_scars.confirmation".into(),
            evidence: "scars measured from a multi-light capture set".into(),
        }),
        crate::measure::DepthMode::Estimated => {
            let grade = confirming_grade(intake, protocol)?;
            Some(Reason {
                rule: "acne_scars.confirmation".into(),
                evidence: format!(
                    "one-photo estimate confirmed by the clinician's Goodman & Baron grade {grade} (intake)"
                ),
            })
        }
    }
}

/// The clinician's Goodman & Baron grade from the intake, where it is high
/// enough to confirm scars the photos alone cannot.
fn confirming_grade(intake: Option<&Intake>, protocol: &Protocol) -> Option<u8> {
    intake?
        .acne_scar_grade
        .filter(|&g| g >= protocol.acne_scars.confirm_from_grade)
}

/// Plans from one image record. Contraindications come from the record's
/// redness and colour and from `intake` (if the patient has one).
pub fn make_plan(
    rec: &ImageRecord,
    protocol: &Protocol,
    protocol_text: &str,
    intake: Option<&Intake>,
) -> Plan {
    let mut findings = Vec::new();
    let mut not_assessed = Vec::new();
    let mut unconfirmed = Vec::new();
    let mut within_normal = Vec::new();
    let visit = rec.subject.as_ref().and_then(|s| s.visit_date.clone());
    match intake {
        Some(i) => findings.extend(i.check(protocol, visit.as_deref())),
        None => findings.push(Finding {
            rule: "intake.missing".into(),
            outcome: PlanOutcome::Caution,
            evidence: "no intake for this patient: contraindications from the history (isotretinoin, pregnancy, bleeding disorders, anticoagulants, keloids, herpes, recent procedures) were not checked — take the history before treating".into(),
        }),
    }
    findings.extend(photo_checks(rec, protocol));
    if rec
        .pigmentation
        .as_ref()
        .is_some_and(|p| p.measured && p.zones.iter().all(|z| z.redness.is_none()))
    {
        not_assessed.push(Reason {
            rule: "rules.inflamed_lesions".into(),
            evidence: format!(
                "photo resolution {} is below the {} px/mm needed to find inflamed lesions: examine the skin",
                rec.quality.as_ref().filter(|q| q.detail.enlarged).and_then(|q| q.detail.effective_px_per_mm)
                    .map(|e| format!("{e:.1} px/mm of detail (an enlarged photo)"))
                    .or_else(|| rec.scale.as_ref().and_then(|s| s.px_per_mm).map(|s| format!("{:.1} px/mm", s.get())))
                    .unwrap_or_else(|| "unknown".into()),
                crate::measure::pigment::RED_LESION_MIN_PX_PER_MM
            ),
        });
    }

    // Severity per zone and concern.
    let mut per_zone: Vec<(ZoneName, Concern, Score)> = Vec::new();
    if let Some(p) = &rec.pores {
        read_zones(
            Concern::Pores,
            (p.measured, p.reason.as_deref()),
            p.zones.iter().map(|z| {
                (
                    z.zone,
                    z.metrics.as_ref().map(|m| m.severity),
                    z.reason.as_deref(),
                )
            }),
            &mut per_zone,
            &mut not_assessed,
        );
    }
    if let Some(p) = &rec.pigmentation {
        read_zones(
            Concern::Pigmentation,
            (p.measured, p.reason.as_deref()),
            p.zones.iter().map(|z| {
                (
                    z.zone,
                    z.metrics.as_ref().map(|m| m.severity),
                    z.reason.as_deref(),
                )
            }),
            &mut per_zone,
            &mut not_assessed,
        );
    }
    let scar_confirmation = rec
        .acne_scars
        .as_ref()
        .and_then(|s| scar_confirmation(s.depth_mode?, intake, protocol));
    match rec.acne_scars.as_ref() {
        Some(s) if s.measured && protocol.depth.acne_scars.is_none() => not_assessed.push(Reason {
            rule: "depth.acne_scars".into(),
            evidence: "scars were measured but the protocol sets no depth for them".into(),
        }),
        Some(s) if s.measured && scar_confirmation.is_none() => {
            if let Some(m) = s.face.as_ref().filter(|m| m.count > 0) {
                unconfirmed.push(Reason {
                    rule: "acne_scars.confirmation".into(),
                    evidence: format!(
                        "{} possible scar(s) estimated from one photo (Goodman & Baron estimate {}): one-photo estimates are not validated on real skin and set no needle depth — confirm with a multi-light capture set, or record the clinician's grade (intake acne_scar_grade ≥ {})",
                        m.count, m.goodman_baron_grade, protocol.acne_scars.confirm_from_grade
                    ),
                });
            }
        }
        Some(s) if s.measured => {
            let graded = confirming_grade(intake, protocol).is_some();
            unconfirmed.extend(set_fault(s));
            for z in &s.zones {
                let Some(m) = &z.metrics else { continue };
                // Measured relief read from readings that do not fit the
                // set's lights as declared is not what the measured mode
                // was validated on (lights misplaced: F1 0.68, depth MAE
                // 0.12 mm on the near-field renders). Only measured zones
                // carry a fit.
                if let Some(fit) = z.reflectance.as_ref().filter(|r| !r.taken_out && !graded) {
                    if m.count > 0 {
                        unconfirmed.push(Reason {
                            rule: "acne_scars.light_fit".into(),
                            evidence: format!(
                                "{}: the multi-light readings do not fit the capture's lights as declared (they need {:.0} % ambient fill; a rig's enclosure lets in at most a few per cent), so its {} scar(s) set no needle depth — check the light positions and intensities in the capture's sidecar or device profile, or record the clinician's grade (intake acne_scar_grade ≥ {})",
                                z.zone.label(),
                                100.0 * fit.ambient_share,
                                m.count,
                                protocol.acne_scars.confirm_from_grade
                            ),
                        });
                    }
                    continue;
                }
                if let Some(why) = unverified_relief(s, z).filter(|_| !graded) {
                    unconfirmed.push(Reason {
                        rule: "acne_scars.light_check".into(),
                        evidence: format!(
                            "{}: its {} scar(s) set no needle depth — {why}. Record the clinician's grade (intake acne_scar_grade ≥ {}) to confirm them",
                            z.zone.label(),
                            m.count,
                            protocol.acne_scars.confirm_from_grade
                        ),
                    });
                    continue;
                }
                per_zone.push((z.zone, Concern::AcneScars, m.severity));
            }
        }
        Some(s) => not_assessed.push(Reason {
            rule: "acne_scars".into(),
            evidence: s.reason.clone().unwrap_or_default(),
        }),
        None => {}
    }
    // The clinician found scars that the photos did not locate: the plan
    // cannot place their needling by zone, and must not read as if there
    // were nothing to treat.
    if let Some(grade) = confirming_grade(intake, protocol) {
        let located = rec
            .acne_scars
            .as_ref()
            .filter(|s| s.measured)
            .and_then(|s| s.face.as_ref())
            .is_some_and(|m| m.count > 0);
        if !located {
            findings.push(Finding {
                rule: "acne_scars.clinician_grade".into(),
                outcome: PlanOutcome::Caution,
                evidence: format!(
                    "the clinician graded acne scars Goodman & Baron {grade} (intake), but {}: this plan places no scar needling — choose the zones and depth by examination",
                    if rec.acne_scars.as_ref().is_some_and(|s| s.measured) {
                        "the photo located none (one photo finds only clear depressions)"
                    } else {
                        "scars could not be measured on this photo"
                    }
                ),
            });
        }
    }

    let colour = rec.pigmentation.as_ref().and_then(|p| p.colour);
    let calibrated = rec
        .pigmentation
        .as_ref()
        .is_some_and(|p| p.colour_calibrated);
    let fitzpatrick = intake.and_then(|i| i.fitzpatrick);
    let basis = tone_basis(colour.as_ref(), fitzpatrick);
    let tone = basis
        .as_ref()
        .and_then(|(cat, why)| protocol.skin_tone.get(cat).map(|t| (*cat, why.as_str(), t)));
    if let Some((cat, why, t)) = tone {
        if t.pih_caution {
            findings.push(Finding {
                rule: format!("skin_tone.{}.pih_caution", category_key(cat)),
                outcome: PlanOutcome::Caution,
                evidence: format!(
                    "{why}: post-inflammatory hyperpigmentation risk — conservative depth, strict UV protection, no heavy pressure over bone"
                ),
            });
        }
    }
    // A photo's ITA can only raise the caution, never lift it: exposure and
    // white balance make skin read lighter than it is.
    if let (Some(c), None, false) = (colour, fitzpatrick, calibrated) {
        if !tone.is_some_and(|(_, _, t)| t.pih_caution) {
            findings.push(Finding {
                rule: "skin_tone.unconfirmed".into(),
                outcome: PlanOutcome::Caution,
                evidence: format!(
                    "measured ITA {:.0}° ({}) from a photo without colour calibration: the camera's exposure and white balance can make skin read tens of degrees lighter than it is, so the photo cannot rule out post-inflammatory hyperpigmentation risk — record the Fitzpatrick type in the intake (fitzpatrick) or calibrate the camera (a device profile's colour_matrix)",
                    c.ita_deg,
                    category_key(c.ita_category)
                ),
            });
        }
    }

    if let Some(s) = rec.acne_scars.as_ref().filter(|s| s.measured) {
        for z in s.zones.iter().filter(|z| z.metrics.is_none()) {
            not_assessed.push(zone_not_assessed(
                Concern::AcneScars,
                z.zone,
                z.reason.as_deref(),
            ));
        }
    }
    let mut zones: Vec<ZonePlan> = Vec::new();
    // The severity each treated zone's course is graded by (0 for a zone
    // treated only at the patient's request).
    let mut course_severities: Vec<f64> = Vec::new();
    // Photo pigment readings are not validated on real skin (against hand
    // outlines of real macules the spots overlapped at Dice 0.13–0.20, and
    // unseen normal faces read above the normal limits from the shadow
    // under the nose): only the clinician's examination lets them set a
    // needle depth, as the Goodman & Baron grade does for one-photo scars.
    let pigment_confirmed =
        |zone: ZoneName| intake.is_some_and(|i| i.pigmentation_confirmed.confirms(zone));
    for zone in ZoneName::ALL.iter().chain([ZoneName::Patch].iter()) {
        let mut best: Option<(ZonePlan, f64)> = None;
        for &(z, concern, score) in per_zone.iter().filter(|(z, _, _)| z == zone) {
            let severity = score.value;
            if severity < protocol.treat_from_severity {
                continue;
            }
            let requested = intake.is_some_and(|i| i.requests.contains(&concern));
            // Above the normal range only when clearly so: a reading within
            // its own uncertainty of the limit is not a finding to needle
            // for (a "vivid" camera's contrast lifted normal noses and lips
            // just over their limits).
            let normal = protocol
                .normal_limit
                .as_ref()
                .and_then(|n| n.get(concern, z))
                .filter(|&limit| severity - score.uncertainty <= limit);
            if let (Some(limit), false) = (normal, requested) {
                // A limit at the scale's top means no normal range could be
                // set (pores: normal skin reads up to 99): say so rather than
                // call the reading normal.
                let evidence = if limit >= 100.0 {
                    format!(
                        "{} severity {severity:.0} on the {}: no normal range is established for this reading, so it never indicates treatment on its own: not treated unless the patient asks (intake requests)",
                        concern.as_str(),
                        z.label()
                    )
                } else {
                    format!(
                        "{} severity {severity:.0} ± {:.0} on the {} is not clearly above the range this measurement reads on normal skin (≤ {limit:.0}): not treated unless the patient asks (intake requests)",
                        concern.as_str(),
                        score.uncertainty,
                        z.label()
                    )
                };
                within_normal.push(Reason {
                    rule: format!("normal_limit.{}.{}", concern.key(), z.as_str()),
                    evidence,
                });
                continue;
            }
            // Above its normal range, a pigmentation reading sets a depth
            // only where the clinician confirmed it.
            let pigment_above_normal = concern == Concern::Pigmentation && normal.is_none();
            let confirmed_pigment = pigment_above_normal && pigment_confirmed(z);
            let unconfirmed_pigment = pigment_above_normal && !confirmed_pigment;
            if unconfirmed_pigment && !requested {
                unconfirmed.push(Reason {
                    rule: format!("pigmentation.{}.unconfirmed", z.as_str()),
                    evidence: format!(
                        "pigmentation severity {severity:.0} ± {:.0} on the {} is above the range normal skin reads, but photo pigment readings are not validated on real skin (shading and hair can read as spots): they set no needle depth — examine the skin, and name the zone in the intake's pigmentation_confirmed where the examination confirms it to plan from it",
                        score.uncertainty,
                        z.label()
                    ),
                });
                continue;
            }
            let (bands, key) = match concern {
                Concern::Pores => (&protocol.depth.pores, "depth.pores"),
                Concern::Pigmentation => (&protocol.depth.pigmentation, "depth.pigmentation"),
                Concern::AcneScars => match &protocol.depth.acne_scars {
                    Some(b) => (b, "depth.acne_scars"),
                    None => continue,
                },
            };
            // A reading within the normal range (or one with no normal
            // range) treated only because the patient asks does not grade
            // the treatment: the protocol's gentlest band sets the depth
            // and the course.
            let course_severity = if normal.is_some() || unconfirmed_pigment {
                0.0
            } else {
                severity
            };
            let Some((mut depth, up_to)) = band(bands, course_severity) else {
                continue;
            };
            let mut rationale = vec![match normal {
                None if unconfirmed_pigment => Reason {
                    rule: "intake.requests".into(),
                    evidence: format!(
                        "pigmentation severity {severity:.0} is above the normal range but not confirmed by the clinician (intake pigmentation_confirmed), so it does not grade the treatment: treated at the patient's request at the protocol's gentlest depth → {depth} mm"
                    ),
                },
                None => Reason {
                    rule: key.into(),
                    evidence: format!(
                        "{} severity {severity:.0} ≤ {up_to:.0} → {depth} mm",
                        concern.as_str()
                    ),
                },
                Some(limit) => Reason {
                    rule: "intake.requests".into(),
                    evidence: if limit >= 100.0 {
                        format!(
                            "{} severity {severity:.0}: no normal range is established for this reading, so it does not grade the treatment: treated at the patient's request at the protocol's gentlest depth → {depth} mm",
                            concern.as_str()
                        )
                    } else {
                        format!(
                            "{} severity {severity:.0} ± {:.0} is not clearly above the normal range (≤ {limit:.0}): treated at the patient's request at the protocol's gentlest depth → {depth} mm",
                            concern.as_str(),
                            score.uncertainty
                        )
                    },
                },
            }];
            if confirmed_pigment {
                rationale.push(Reason {
                    rule: "intake.pigmentation_confirmed".into(),
                    evidence: format!(
                        "the clinician confirmed the hyperpigmentation on the {} on examination (intake pigmentation_confirmed): the photo's reading grades it",
                        z.label()
                    ),
                });
            }
            if concern == Concern::AcneScars {
                if let Some(s) = scar_depth(rec, z) {
                    rationale.push(Reason {
                        rule: "acne_scars.depth".into(),
                        evidence: s,
                    });
                }
                if let Some(c) = &scar_confirmation {
                    // Where the readings did not fit the lights, only the
                    // clinician's grade lets the zone's scars set a depth:
                    // say so rather than "measured".
                    let grade = confirming_grade(intake, protocol);
                    match (misfit_fill(rec, z), grade) {
                        (Some(fill), Some(grade)) => rationale.push(Reason {
                            rule: "acne_scars.light_fit".into(),
                            evidence: format!(
                                "the multi-light readings here do not fit the capture's lights as declared ({:.0} % ambient fill): the scars are confirmed by the clinician's Goodman & Baron grade {grade} (intake), not by the measurement",
                                100.0 * fill
                            ),
                        }),
                        _ => rationale.push(c.clone()),
                    }
                }
            }
            if let Some((cat, why, t)) = tone {
                if t.depth_factor != 1.0 {
                    depth *= t.depth_factor;
                    rationale.push(Reason {
                        rule: format!("skin_tone.{}.depth_factor", category_key(cat)),
                        evidence: format!("{why} → × {}", t.depth_factor),
                    });
                }
            }
            if let Some(&cap) = protocol.zone_cap_mm.get(z.as_str()) {
                if depth > cap {
                    depth = cap;
                    rationale.push(Reason {
                        rule: format!("zone_cap_mm.{}", z.as_str()),
                        evidence: format!("capped at {cap} mm"),
                    });
                }
            }
            let plan = ZonePlan {
                zone: z,
                concern,
                severity,
                severity_uncertainty: score.uncertainty,
                needle_depth_mm: (depth * 100.0).round() / 100.0,
                rationale,
            };
            if best
                .as_ref()
                .is_none_or(|(b, _)| plan.needle_depth_mm > b.needle_depth_mm)
            {
                best = Some((plan, course_severity));
            }
        }
        if let Some((plan, course_severity)) = best {
            zones.push(plan);
            course_severities.push(course_severity);
        }
    }

    let mut course_rationale = Vec::new();
    let (mut sessions, mut interval, mut maintenance) = (None, None, None);
    if let Some(top) = course_severities.into_iter().reduce(f64::max) {
        let mut weeks = 0;
        if let Some(((n, w), up_to)) = band(&protocol.course.sessions, top) {
            sessions = Some(n);
            weeks = w;
            course_rationale.push(Reason {
                rule: "course.sessions".into(),
                evidence: if top > 0.0 {
                    format!("highest treated severity {top:.0} ≤ {up_to:.0} → {n} sessions, {w} weeks apart")
                } else {
                    format!("treated only at the patient's request → the protocol's shortest course: {n} sessions, {w} weeks apart")
                },
            });
        }
        if let Some((cat, why, t)) = tone {
            if t.extra_interval_weeks > 0 {
                weeks += t.extra_interval_weeks;
                course_rationale.push(Reason {
                    rule: format!("skin_tone.{}.extra_interval_weeks", category_key(cat)),
                    evidence: format!("{why} → + {} weeks", t.extra_interval_weeks),
                });
            }
        }
        interval = Some(weeks);
        maintenance = Some(protocol.course.maintenance_months);
        course_rationale.push(Reason {
            rule: "course.maintenance_months".into(),
            evidence: format!(
                "every {} months after the course",
                protocol.course.maintenance_months
            ),
        });
    }
    let assessed = rec.pores.as_ref().is_some_and(|p| p.measured)
        || rec.pigmentation.as_ref().is_some_and(|p| p.measured)
        || rec.acne_scars.as_ref().is_some_and(|s| s.measured);
    if !assessed && not_assessed.is_empty() {
        not_assessed.push(Reason {
            rule: "measurements".into(),
            evidence: "the record holds no measurement of pores, pigmentation or acne scars".into(),
        });
    }
    let outcome = if findings.iter().any(|f| f.outcome == PlanOutcome::Defer) {
        PlanOutcome::Defer
    } else if !assessed {
        PlanOutcome::NotAssessable
    } else if findings.iter().any(|f| f.outcome == PlanOutcome::Caution) {
        PlanOutcome::Caution
    } else {
        PlanOutcome::Proceed
    };
    // A deferred patient is not treated: no depths or course to act on
    // by mistake. The readings stay in the record; plan again once the
    // findings are resolved.
    if outcome == PlanOutcome::Defer {
        zones.clear();
        (sessions, interval, maintenance) = (None, None, None);
        course_rationale = vec![Reason {
            rule: "outcome.defer".into(),
            evidence: "deferred: no needling until the deferring findings are resolved; plan again then (`dermascore plan` with the updated intake)".into(),
        }];
    }
    Plan {
        outcome,
        findings,
        zones,
        sessions,
        interval_weeks: interval,
        maintenance_months: maintenance,
        course_rationale,
        ita_deg: colour.map(|c| c.ita_deg),
        ita_category: colour.map(|c| c.ita_category),
        fitzpatrick,
        skin_tone_category: basis.map(|(cat, _)| cat),
        not_assessed,
        unconfirmed,
        within_normal,
        intake_checked: intake.is_some_and(|i| i.not_recorded().is_empty()),
        protocol: ProtocolRef {
            name: protocol.name.clone(),
            version: protocol.version.clone(),
            sha256: hex_sha256(protocol_text.as_bytes()),
        },
        disclaimer: DISCLAIMER.into(),
    }
}

/// The colour category whose skin-tone rules a Fitzpatrick type takes: I
/// very light, II light, III intermediate, IV tan, V brown, VI dark. An
/// estimate (Fitzpatrick is how skin burns and tans, ITA its colour), used
/// only to make the adjustments more cautious, never less.
pub fn fitzpatrick_category(fitzpatrick: u8) -> ItaCategory {
    match fitzpatrick {
        ..=1 => ItaCategory::VeryLight,
        2 => ItaCategory::Light,
        3 => ItaCategory::Intermediate,
        4 => ItaCategory::Tan,
        5 => ItaCategory::Brown,
        _ => ItaCategory::Dark,
    }
}

/// A Fitzpatrick type as clinicians write it: I–VI.
pub fn roman(fitzpatrick: u8) -> &'static str {
    ["I", "II", "III", "IV", "V", "VI"][usize::from(fitzpatrick.clamp(1, 6)) - 1]
}

/// The skin-tone category the adjustments use and why: the darker of the
/// measured ITA's category and the intake's Fitzpatrick type's.
fn tone_basis(
    colour: Option<&crate::measure::pigment::SkinColour>,
    fitzpatrick: Option<u8>,
) -> Option<(ItaCategory, String)> {
    let measured = colour.map(|c| {
        (
            c.ita_category,
            format!(
                "measured ITA {:.0}° ({})",
                c.ita_deg,
                category_key(c.ita_category)
            ),
        )
    });
    let recorded = fitzpatrick.map(|f| {
        let cat = fitzpatrick_category(f);
        (
            cat,
            format!(
                "Fitzpatrick {} (intake; rules of {})",
                roman(f),
                category_key(cat)
            ),
        )
    });
    match (measured, recorded) {
        (Some((m, mw)), Some((r, rw))) if r > m => Some((r, format!("{rw}, darker than the {mw}"))),
        (Some(m), _) => Some(m),
        (None, r) => r,
    }
}

pub fn category_key(c: ItaCategory) -> &'static str {
    match c {
        ItaCategory::VeryLight => "very_light",
        ItaCategory::Light => "light",
        ItaCategory::Intermediate => "intermediate",
        ItaCategory::Tan => "tan",
        ItaCategory::Brown => "brown",
        ItaCategory::Dark => "dark",
    }
}

fn outcome(o: Outcome) -> PlanOutcome {
    match o {
        Outcome::Defer => PlanOutcome::Defer,
        Outcome::Caution => PlanOutcome::Caution,
    }
}

/// What the photo shows: inflamed lesions, widespread erythema, suspected sunburn.
fn photo_checks(rec: &ImageRecord, p: &Protocol) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(pig) = rec.pigmentation.as_ref().filter(|x| x.measured) else {
        return out;
    };
    let lesions: u64 = pig
        .zones
        .iter()
        .filter_map(|z| z.redness.as_ref())
        .map(|r| r.lesion_count)
        .sum();
    if lesions >= p.photo.inflamed_lesions_min {
        out.push(Finding {
            rule: "rules.inflamed_lesions".into(),
            outcome: outcome(p.rules.inflamed_lesions),
            evidence: format!("{lesions} round red lesions standing out from the surrounding skin on the haemoglobin map (threshold {}): possible active inflamed acne — examine, and do not needle through active lesions", p.photo.inflamed_lesions_min),
        });
    }
    // A zone under a beard or stubble reads less red than its skin (the
    // hair left in it, too fine for the hair mask, is grey or brown): it
    // is no reference for the face's own redness.
    let hairy = |zone: ZoneName| {
        rec.zones
            .iter()
            .any(|z| z.name == zone && z.hair_pct.is_some_and(is_hairy))
    };
    // Each zone's a* at the face's lightness: dimming skin by a factor k
    // scales a* and L* + 16 alike (both by k^⅓), so a zone in shadow (a
    // photo lit from one side, dimmed over half the face) read less red and
    // became the face's "least-red skin", and the lit side "erythema".
    let face_l = pig.colour.map(|c| c.lab.l);
    let a_of = |z: &crate::measure::ZonePigment| {
        if hairy(z.zone) {
            return None;
        }
        let c = z.colour?;
        Some(match face_l {
            Some(l) if c.lab.l > 8.0 => c.lab.a * (l + 16.0) / (c.lab.l + 16.0),
            _ => c.lab.a,
        })
    };
    // The face's own reference redness: its least-red quarter of zones.
    let mut reds: Vec<f64> = pig.zones.iter().filter_map(a_of).collect();
    reds.sort_by(f64::total_cmp);
    if let Some(&reference) = reds.get(reds.len() / 4) {
        let red_zones: Vec<String> = pig
            .zones
            .iter()
            .filter_map(|z| Some((z.zone, a_of(z)?)))
            .filter(|(_, a)| a - reference >= p.photo.erythema_a_star_excess)
            .map(|(z, a)| format!("{} {a:.1}", z.as_str()))
            .collect();
        if red_zones.len() as u32 >= p.photo.erythema_min_zones {
            out.push(Finding {
                rule: "rules.widespread_erythema".into(),
                outcome: outcome(p.rules.widespread_erythema),
                evidence: format!(
                    "a* (at the face's lightness) at least {} above this face's own least-red skin (a* {reference:.1}) in {} zones ({})",
                    p.photo.erythema_a_star_excess,
                    red_zones.len(),
                    red_zones.join(", ")
                ),
            });
        }
    }
    let mean_a = |zs: &[ZoneName]| {
        let v: Vec<f64> = pig
            .zones
            .iter()
            .filter(|z| zs.contains(&z.zone))
            .filter_map(a_of)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let exposed = mean_a(&[
        ZoneName::Forehead,
        ZoneName::Nose,
        ZoneName::RightCheek,
        ZoneName::LeftCheek,
    ]);
    let sheltered = mean_a(&[ZoneName::Chin, ZoneName::Perioral]);
    if let (Some(e), Some(s)) = (exposed, sheltered) {
        if e - s >= p.photo.sunburn_a_star_excess {
            out.push(Finding {
                rule: "rules.suspected_sunburn".into(),
                outcome: outcome(p.rules.suspected_sunburn),
                evidence: format!(
                    "sun-exposed zones a* {e:.1} vs chin/perioral {s:.1} at the face's lightness (excess ≥ {})",
                    p.photo.sunburn_a_star_excess
                ),
            });
        }
    }
    out
}
