//! The treatment protocol: every clinical number the plan uses, from TOML.
//! A default is compiled in (`dermascore protocol` prints it); a clinic
//! passes its own with `--protocol`. An invalid file is rejected with the
//! line and the reason.

use crate::measure::colour::ItaCategory;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const DEFAULT: &str = include_str!("../../protocols/default.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Defer,
    Caution,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepthBand {
    pub up_to_severity: f64,
    pub depth_mm: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionBand {
    pub up_to_severity: f64,
    pub sessions: u32,
    pub interval_weeks: u32,
}

/// A severity band with its value, whatever the value is.
#[derive(Debug, Clone, Copy)]
pub struct Band<T> {
    pub up_to_severity: f64,
    pub value: T,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DepthRaw {
    pores: Vec<DepthBand>,
    pigmentation: Vec<DepthBand>,
    /// Optional so that protocols written before scars were measured still
    /// load; without it scars are reported but not planned.
    #[serde(default)]
    acne_scars: Option<Vec<DepthBand>>,
}

pub struct Depth {
    pub pores: Vec<Band<f64>>,
    pub pigmentation: Vec<Band<f64>>,
    pub acne_scars: Option<Vec<Band<f64>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CourseRaw {
    sessions: Vec<SessionBand>,
    maintenance_months: u32,
}

pub struct Course {
    /// (sessions, interval in weeks) by severity band.
    pub sessions: Vec<Band<(u32, u32)>>,
    pub maintenance_months: u32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkinTone {
    pub depth_factor: f64,
    pub extra_interval_weeks: u32,
    pub pih_caution: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub isotretinoin: Outcome,
    pub pregnancy_or_breastfeeding: Outcome,
    pub bleeding_disorder: Outcome,
    pub anticoagulants: Outcome,
    pub keloid_history: Outcome,
    pub herpes_history: Outcome,
    pub active_infection: Outcome,
    pub autoimmune_skin_disease: Outcome,
    pub chemotherapy_or_radiation: Outcome,
    pub uncontrolled_diabetes: Outcome,
    pub recent_procedure: Outcome,
    pub inflamed_lesions: Outcome,
    pub widespread_erythema: Outcome,
    pub suspected_sunburn: Outcome,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waits {
    pub isotretinoin_months: u32,
    pub peel_weeks: u32,
    pub laser_weeks: u32,
    pub filler_weeks: u32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoChecks {
    pub inflamed_lesions_min: u64,
    /// A zone is red when its a* exceeds the face's own least-red quarter
    /// of zones by this much.
    pub erythema_a_star_excess: f64,
    pub erythema_min_zones: u32,
    pub sunburn_a_star_excess: f64,
}

/// When acne scars may set a needle depth.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScarRules {
    /// One-photo scar estimates set a depth only when the clinician's
    /// Goodman & Baron grade in the intake is at least this (1–4); scars
    /// measured from a multi-light capture set always may.
    pub confirm_from_grade: u8,
}

/// Upper limits of normal: per concern that normal skin also shows (pores,
/// pigmentation), per zone, the highest severity this measurement reads on
/// normal skin. A zone at or below its limit is within the normal range and
/// is not needled unless the patient asks (intake `requests`). Scars have no
/// normal range: a scar is never normal.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalLimits {
    pub pores: BTreeMap<String, f64>,
    pub pigmentation: BTreeMap<String, f64>,
}

impl NormalLimits {
    /// The limit for `concern` in `zone`; `None` for concerns without a
    /// normal range.
    pub fn get(&self, concern: super::Concern, zone: crate::zones::ZoneName) -> Option<f64> {
        let map = match concern {
            super::Concern::Pores => &self.pores,
            super::Concern::Pigmentation => &self.pigmentation,
            super::Concern::AcneScars => return None,
        };
        map.get(zone.as_str()).copied()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    version: String,
    treat_from_severity: f64,
    depth: DepthRaw,
    zone_cap_mm: BTreeMap<String, f64>,
    course: CourseRaw,
    #[serde(default)]
    skin_tone: BTreeMap<ItaCategory, SkinTone>,
    rules: Rules,
    waits: Waits,
    photo: PhotoChecks,
    acne_scars: ScarRules,
    /// Optional so that protocols written before it still load; without it
    /// every concern is judged by `treat_from_severity` alone.
    #[serde(default)]
    normal_limit: Option<NormalLimits>,
}

pub struct Protocol {
    pub name: String,
    pub version: String,
    pub treat_from_severity: f64,
    pub depth: Depth,
    pub zone_cap_mm: BTreeMap<String, f64>,
    pub course: Course,
    pub skin_tone: BTreeMap<ItaCategory, SkinTone>,
    pub rules: Rules,
    pub waits: Waits,
    pub photo: PhotoChecks,
    pub acne_scars: ScarRules,
    pub normal_limit: Option<NormalLimits>,
}

/// A rejected protocol: where and why.
#[derive(Debug, thiserror::Error)]
#[error("protocol, line {line}: {reason}")]
pub struct ProtocolError {
    pub line: usize,
    pub reason: String,
}

/// Deepest needle any protocol may ask for (mm): beyond the facial dermis.
const MAX_DEPTH_MM: f64 = 3.0;

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(needle))
        .map_or(0, |i| i + 1)
}

fn bands<T: Copy>(
    raw: Vec<(f64, T)>,
    key: &str,
    text: &str,
) -> Result<Vec<Band<T>>, ProtocolError> {
    let err = |reason: String| ProtocolError {
        line: line_of(text, key),
        reason: format!("{key}: {reason}"),
    };
    if raw.is_empty() {
        return Err(err("needs at least one band".into()));
    }
    let mut last = f64::NEG_INFINITY;
    for (up_to, _) in &raw {
        // NaN bounds fail too.
        if up_to.partial_cmp(&last) != Some(std::cmp::Ordering::Greater) {
            return Err(err("up_to_severity must increase from band to band".into()));
        }
        last = *up_to;
    }
    if last < 100.0 {
        return Err(err(format!(
            "the last band must reach severity 100 (it stops at {last})"
        )));
    }
    Ok(raw
        .into_iter()
        .map(|(up_to_severity, value)| Band {
            up_to_severity,
            value,
        })
        .collect())
}

impl Protocol {
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| {
                text[..s.start.min(text.len())].lines().count().max(1)
            });
            ProtocolError {
                line,
                reason: e.message().to_string(),
            }
        })?;
        let check = |ok: bool, key: &str, reason: String| {
            if ok {
                Ok(())
            } else {
                Err(ProtocolError {
                    line: line_of(text, key),
                    reason: format!("{key}: {reason}"),
                })
            }
        };
        for b in raw
            .depth
            .pores
            .iter()
            .chain(&raw.depth.pigmentation)
            .chain(raw.depth.acne_scars.iter().flatten())
        {
            check(
                b.depth_mm > 0.0 && b.depth_mm <= MAX_DEPTH_MM,
                "depth",
                format!("depth_mm {} is outside (0, {MAX_DEPTH_MM}]", b.depth_mm),
            )?;
        }
        let zones: Vec<&str> = crate::zones::ZoneName::nameable()
            .map(crate::zones::ZoneName::as_str)
            .collect();
        for (zone, cap) in &raw.zone_cap_mm {
            check(
                zones.contains(&zone.as_str()),
                zone,
                format!("unknown zone (zones: {})", zones.join(", ")),
            )?;
            check(
                *cap > 0.0 && *cap <= MAX_DEPTH_MM,
                zone,
                format!("cap {cap} mm is outside (0, {MAX_DEPTH_MM}]"),
            )?;
        }
        for z in &zones {
            check(
                raw.zone_cap_mm.contains_key(*z),
                "[zone_cap_mm]",
                format!("no cap for zone {z}: every zone needs one"),
            )?;
        }
        for (cat, t) in &raw.skin_tone {
            let key = crate::plan::category_key(*cat);
            check(
                t.depth_factor > 0.0 && t.depth_factor <= 1.0,
                &format!("[skin_tone.{key}]"),
                format!(
                    "depth_factor {} must be in (0, 1]: skin tone never deepens",
                    t.depth_factor
                ),
            )?;
        }
        for b in &raw.course.sessions {
            check(
                (1..=26).contains(&b.interval_weeks),
                "sessions",
                format!("an interval of {} weeks is outside 1–26", b.interval_weeks),
            )?;
            check(
                (1..=12).contains(&b.sessions),
                "sessions",
                format!("{} sessions is outside 1–12", b.sessions),
            )?;
        }
        check(
            (0.0..=100.0).contains(&raw.treat_from_severity),
            "treat_from_severity",
            "must be within 0–100".into(),
        )?;
        // Every other number within documented bounds: a NaN, an infinity
        // or a wrapped-around integer must not silently switch a rule off.
        let within = |v: f64, lo: f64, hi: f64, key: &str| {
            check(
                v.is_finite() && (lo..=hi).contains(&v),
                key,
                format!("{v} is outside {lo}–{hi}"),
            )
        };
        let ph = &raw.photo;
        within(
            ph.inflamed_lesions_min as f64,
            1.0,
            1000.0,
            "inflamed_lesions_min",
        )?;
        within(
            ph.erythema_a_star_excess,
            0.5,
            30.0,
            "erythema_a_star_excess",
        )?;
        within(
            f64::from(ph.erythema_min_zones),
            1.0,
            crate::zones::ZoneName::ALL.len() as f64,
            "erythema_min_zones",
        )?;
        within(ph.sunburn_a_star_excess, 0.5, 30.0, "sunburn_a_star_excess")?;
        let w = &raw.waits;
        within(
            f64::from(w.isotretinoin_months),
            0.0,
            24.0,
            "isotretinoin_months",
        )?;
        for (v, key) in [
            (w.peel_weeks, "peel_weeks"),
            (w.laser_weeks, "laser_weeks"),
            (w.filler_weeks, "filler_weeks"),
        ] {
            within(f64::from(v), 0.0, 52.0, key)?;
        }
        within(
            f64::from(raw.course.maintenance_months),
            1.0,
            36.0,
            "maintenance_months",
        )?;
        within(
            f64::from(raw.acne_scars.confirm_from_grade),
            1.0,
            4.0,
            "confirm_from_grade",
        )?;
        if let Some(n) = &raw.normal_limit {
            for (concern, map) in [("pores", &n.pores), ("pigmentation", &n.pigmentation)] {
                let section = format!("[normal_limit.{concern}]");
                for z in &zones {
                    check(
                        map.contains_key(*z),
                        &section,
                        format!("no limit for zone {z}: every zone needs one"),
                    )?;
                }
                for (zone, v) in map {
                    // The zone names repeat [zone_cap_mm]'s: point at the
                    // line inside this section.
                    let at = line_of(text, &section);
                    let line = text
                        .lines()
                        .enumerate()
                        .skip(at)
                        .find(|(_, l)| l.trim_start().starts_with(zone.as_str()))
                        .map_or(at, |(i, _)| i + 1);
                    let fail = |reason: String| ProtocolError {
                        line,
                        reason: format!("normal_limit.{concern}.{zone}: {reason}"),
                    };
                    if !zones.contains(&zone.as_str()) {
                        return Err(fail(format!("unknown zone (zones: {})", zones.join(", "))));
                    }
                    if !(v.is_finite() && (0.0..=100.0).contains(v)) {
                        return Err(fail(format!("{v} is outside 0–100")));
                    }
                }
            }
        }
        Ok(Protocol {
            name: raw.name,
            version: raw.version,
            treat_from_severity: raw.treat_from_severity,
            depth: Depth {
                pores: bands(
                    raw.depth
                        .pores
                        .iter()
                        .map(|b| (b.up_to_severity, b.depth_mm))
                        .collect(),
                    "pores",
                    text,
                )?,
                pigmentation: bands(
                    raw.depth
                        .pigmentation
                        .iter()
                        .map(|b| (b.up_to_severity, b.depth_mm))
                        .collect(),
                    "pigmentation",
                    text,
                )?,
                acne_scars: raw
                    .depth
                    .acne_scars
                    .map(|b| {
                        bands(
                            b.iter().map(|b| (b.up_to_severity, b.depth_mm)).collect(),
                            "acne_scars",
                            text,
                        )
                    })
                    .transpose()?,
            },
            zone_cap_mm: raw.zone_cap_mm,
            course: Course {
                sessions: bands(
                    raw.course
                        .sessions
                        .iter()
                        .map(|b| (b.up_to_severity, (b.sessions, b.interval_weeks)))
                        .collect(),
                    "sessions",
                    text,
                )?,
                maintenance_months: raw.course.maintenance_months,
            },
            skin_tone: raw.skin_tone,
            rules: raw.rules,
            waits: raw.waits,
            photo: raw.photo,
            acne_scars: raw.acne_scars,
            normal_limit: raw.normal_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_protocol_is_valid() {
        let p = Protocol::parse(DEFAULT).unwrap();
        assert_eq!(p.zone_cap_mm["right_periorbital"], 0.5);
        assert!(p.skin_tone.contains_key(&ItaCategory::Dark));
    }

    #[test]
    fn invalid_protocols_are_rejected_with_the_line() {
        let bad_type = DEFAULT.replace("maintenance_months = 9", "maintenance_months = \"nine\"");
        let e = Protocol::parse(&bad_type).err().unwrap();
        assert_eq!(e.line, line_of(&bad_type, "maintenance_months"));
        let too_deep = DEFAULT.replace("nose = 0.5", "nose = 4.5");
        let e = Protocol::parse(&too_deep).err().unwrap();
        assert_eq!(e.line, line_of(&too_deep, "nose"));
        assert!(e.reason.contains("4.5"));
        let unknown = DEFAULT.replace("nose = 0.5", "nose = 0.5\nneck = 1.0");
        let e = Protocol::parse(&unknown).err().unwrap();
        assert!(e.reason.contains("unknown zone"), "{}", e.reason);
        let typo = DEFAULT.replace("peel_weeks", "peeel_weeks");
        let e = Protocol::parse(&typo).err().unwrap();
        assert!(e.line > 0 && e.reason.contains("peeel_weeks"), "{e}");
        let unordered = DEFAULT.replace(
            "{ up_to_severity = 66.0, depth_mm = 0.75 }",
            "{ up_to_severity = 20.0, depth_mm = 0.75 }",
        );
        assert!(Protocol::parse(&unordered)
            .err()
            .unwrap()
            .reason
            .contains("increase"));
        let deepening = DEFAULT.replace("depth_factor = 0.8", "depth_factor = 1.3");
        assert!(Protocol::parse(&deepening).is_err());
    }

    #[test]
    fn normal_limits_are_bounded_complete_and_optional() {
        let section = DEFAULT.find("[normal_limit.pigmentation]").unwrap();
        let (head, tail) = DEFAULT.split_at(section);
        let over = format!("{head}{}", tail.replacen("chin = 25.0", "chin = 120.0", 1));
        let e = Protocol::parse(&over).err().unwrap();
        assert!(e.reason.contains("normal_limit.pigmentation.chin"), "{e}");
        assert_eq!(
            e.line,
            over.lines().position(|l| l == "chin = 120.0").unwrap() + 1
        );
        let nan = format!("{head}{}", tail.replacen("nose = 25.0", "nose = nan", 1));
        assert!(Protocol::parse(&nan).is_err());
        let missing = format!("{head}{}", tail.replacen("patch = 100.0", "", 1));
        assert!(Protocol::parse(&missing)
            .err()
            .unwrap()
            .reason
            .contains("patch"));
        let cut = DEFAULT.find("\n[normal_limit.").unwrap();
        assert!(Protocol::parse(&DEFAULT[..cut])
            .unwrap()
            .normal_limit
            .is_none());
        let p = Protocol::parse(DEFAULT).unwrap();
        let n = p.normal_limit.unwrap();
        use crate::plan::Concern;
        use crate::zones::ZoneName;
        assert_eq!(n.get(Concern::Pigmentation, ZoneName::Chin), Some(25.0));
        assert_eq!(n.get(Concern::AcneScars, ZoneName::Chin), None);
    }
}
