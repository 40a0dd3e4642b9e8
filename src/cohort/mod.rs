//! Cohort statistics over results files, for trials: per arm, time point
//! and metric (face and zone), with change from baseline, differences
//! between arms, test–retest reliability from repeat captures, and the
//! visits that are missing. Results are read line by line and only metric
//! values are kept, so memory grows with the number of values, not records.

pub mod html;
pub mod stats;

use crate::error::SetupError;
use crate::report::{ImageRecord, Record, Status};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Reads one metric from a record.
type Reader = Box<dyn Fn(&ImageRecord) -> Option<f64> + Send + Sync>;
/// Whether a record's reading of a metric is steady (`area_steady`);
/// `None` where the metric has no such flag.
type Steadiness = Box<dyn Fn(&ImageRecord) -> Option<bool> + Send + Sync>;

/// One metric: its name in the output, how people read it, and how to read
/// it from a record.
pub struct Metric {
    /// The name in CSV and JSON outputs, e.g. `pigmentation.right_cheek.pigmented_pct`.
    pub name: String,
    /// As a report writes it: "Pigmented skin, right cheek".
    pub label: String,
    /// Its unit as written after a number ("%", "mm", "/cm²", "°"; empty
    /// for scores and indices).
    pub unit: &'static str,
    /// Where the record holds it, as a path of keys ("[zone]" for the
    /// zone's entry in a list), e.g. `pigmentation.mmasi_severity.value`.
    pub record_field: String,
    read: Reader,
    steady: Option<Steadiness>,
}

impl Metric {
    pub fn value(&self, r: &ImageRecord) -> Option<f64> {
        (self.read)(r)
    }

    /// `Some(false)` when the record flags this reading as unsteady: a
    /// re-encoded or relit copy of the same photo can move it by 10 % or
    /// more (pigmented area; `area_steady`).
    pub fn steady(&self, r: &ImageRecord) -> Option<bool> {
        self.steady.as_ref().and_then(|f| f(r))
    }
}

fn zone_pigment(
    r: &ImageRecord,
    zone: crate::zones::ZoneName,
) -> Option<&crate::measure::pigment::PigmentMetrics> {
    r.pigmentation
        .as_ref()?
        .zones
        .iter()
        .find(|x| x.zone == zone)?
        .metrics
        .as_ref()
}

/// The metrics analysed: face-level pores, pigmentation and acne scars,
/// colour, and per-zone pore coverage, pigmented share and severities.
pub fn metrics() -> Vec<Metric> {
    use crate::zones::ZoneName;
    fn add(
        m: &mut Vec<Metric>,
        name: &str,
        label: &str,
        unit: &'static str,
        field: &str,
        read: Reader,
    ) -> usize {
        m.push(Metric {
            name: name.into(),
            label: label.into(),
            unit,
            record_field: field.into(),
            read,
            steady: None,
        });
        m.len() - 1
    }
    let mut m: Vec<Metric> = Vec::new();
    add(
        &mut m,
        "pores.face.density_per_cm2",
        "Pore density, face",
        "/cm²",
        "pores.face.density_per_cm2",
        Box::new(|r| Some(r.pores.as_ref()?.face.as_ref()?.density_per_cm2)),
    );
    add(
        &mut m,
        "pores.face.median_diameter_mm",
        "Median pore diameter, face",
        "mm",
        "pores.face.median_diameter_mm",
        Box::new(|r| r.pores.as_ref()?.face.as_ref()?.median_diameter_mm),
    );
    add(
        &mut m,
        "pores.face.p90_diameter_mm",
        "Pore diameter, 90th percentile, face",
        "mm",
        "pores.face.p90_diameter_mm",
        Box::new(|r| r.pores.as_ref()?.face.as_ref()?.p90_diameter_mm),
    );
    add(
        &mut m,
        "pores.face.coverage_pct",
        "Pore coverage, face",
        "%",
        "pores.face.coverage_pct",
        Box::new(|r| Some(r.pores.as_ref()?.face.as_ref()?.coverage_pct)),
    );
    add(
        &mut m,
        "pores.face.severity",
        "Pore severity, face (0–100)",
        "",
        "pores.face.severity.value",
        Box::new(|r| Some(r.pores.as_ref()?.face.as_ref()?.severity.value)),
    );
    let face_steady = || -> Steadiness {
        Box::new(|r| Some(r.pigmentation.as_ref()?.face.as_ref()?.area_steady))
    };
    let i = add(
        &mut m,
        "pigmentation.face.pigmented_pct",
        "Pigmented skin, face",
        "%",
        "pigmentation.face.pigmented_pct",
        Box::new(|r| Some(r.pigmentation.as_ref()?.face.as_ref()?.pigmented_pct)),
    );
    m[i].steady = Some(face_steady());
    add(
        &mut m,
        "pigmentation.face.mean_delta_l",
        "Spots' contrast (mean ΔL*), face",
        "",
        "pigmentation.face.mean_delta_l",
        Box::new(|r| r.pigmentation.as_ref()?.face.as_ref()?.mean_delta_l),
    );
    add(
        &mut m,
        "pigmentation.face.mmasi_estimate",
        // Not "mMASI": that is a melasma score, and these faces may have none.
        "Pigment index on the mMASI scale, face (0–24; not a melasma diagnosis)",
        "",
        "pigmentation.mmasi.value",
        Box::new(|r| Some(r.pigmentation.as_ref()?.mmasi.as_ref()?.value)),
    );
    let i = add(
        &mut m,
        "pigmentation.face.mmasi_severity",
        "Pigmentation severity, face (0–100)",
        "",
        "pigmentation.mmasi_severity.value",
        Box::new(|r| Some(r.pigmentation.as_ref()?.mmasi_severity.as_ref()?.value)),
    );
    m[i].steady = Some(face_steady());
    add(
        &mut m,
        "colour.face.ita_deg",
        "Skin colour, ITA",
        "°",
        "pigmentation.colour.ita_deg",
        Box::new(|r| Some(r.pigmentation.as_ref()?.colour.as_ref()?.ita_deg)),
    );
    add(
        &mut m,
        "colour.face.melanin_index",
        "Melanin index",
        "",
        "pigmentation.colour.melanin_index",
        Box::new(|r| Some(r.pigmentation.as_ref()?.colour.as_ref()?.melanin_index)),
    );
    add(
        &mut m,
        "colour.face.haemoglobin_index",
        "Haemoglobin index",
        "",
        "pigmentation.colour.haemoglobin_index",
        Box::new(|r| Some(r.pigmentation.as_ref()?.colour.as_ref()?.haemoglobin_index)),
    );
    add(
        &mut m,
        "acne_scars.face.count",
        "Acne scars, face (count)",
        "",
        "acne_scars.face.count",
        Box::new(|r| Some(r.acne_scars.as_ref()?.face.as_ref()?.count as f64)),
    );
    add(
        &mut m,
        "acne_scars.face.scarred_area_pct",
        "Scarred skin, face",
        "%",
        "acne_scars.face.scarred_area_pct",
        Box::new(|r| Some(r.acne_scars.as_ref()?.face.as_ref()?.scarred_area_pct)),
    );
    add(
        &mut m,
        "acne_scars.face.mean_depth_mm",
        "Mean scar depth, face",
        "mm",
        "acne_scars.face.mean_depth_mm",
        Box::new(|r| r.acne_scars.as_ref()?.face.as_ref()?.mean_depth_mm),
    );
    add(
        &mut m,
        "acne_scars.face.max_depth_mm",
        "Deepest scar, face",
        "mm",
        "acne_scars.face.max_depth_mm",
        Box::new(|r| r.acne_scars.as_ref()?.face.as_ref()?.max_depth_mm),
    );
    add(
        &mut m,
        "acne_scars.face.severity",
        "Acne scar severity, face (0–100)",
        "",
        "acne_scars.face.severity.value",
        Box::new(|r| Some(r.acne_scars.as_ref()?.face.as_ref()?.severity.value)),
    );
    for zone in ZoneName::ALL {
        let (z, l) = (zone.as_str(), zone.label());
        add(
            &mut m,
            &format!("pores.{z}.coverage_pct"),
            &format!("Pore coverage, {l}"),
            "%",
            &format!("pores.zones[{z}].metrics.coverage_pct"),
            Box::new(move |r| {
                Some(
                    r.pores
                        .as_ref()?
                        .zones
                        .iter()
                        .find(|x| x.zone == zone)?
                        .metrics
                        .as_ref()?
                        .coverage_pct,
                )
            }),
        );
        let steady =
            move || -> Steadiness { Box::new(move |r| Some(zone_pigment(r, zone)?.area_steady)) };
        let i = add(
            &mut m,
            &format!("pigmentation.{z}.pigmented_pct"),
            &format!("Pigmented skin, {l}"),
            "%",
            &format!("pigmentation.zones[{z}].metrics.pigmented_pct"),
            Box::new(move |r| Some(zone_pigment(r, zone)?.pigmented_pct)),
        );
        m[i].steady = Some(steady());
        let i = add(
            &mut m,
            &format!("pigmentation.{z}.severity"),
            &format!("Pigmentation severity, {l} (0–100)"),
            "",
            &format!("pigmentation.zones[{z}].metrics.severity.value"),
            Box::new(move |r| Some(zone_pigment(r, zone)?.severity.value)),
        );
        m[i].steady = Some(steady());
    }
    m
}

/// Who is in which arm, and optionally which visit is which time point.
#[derive(Debug, Clone, Default)]
pub struct Design {
    pub arm: BTreeMap<String, String>,
    /// (patient, visit date) → time point label, when the design names them.
    pub timepoint: BTreeMap<(String, String), String>,
    /// Time point labels in the order of their visits (the first is the
    /// baseline): by each one's median visit date, checked against every
    /// patient's own dates; not the rows' order.
    pub timepoint_order: Vec<String>,
    pub covariates: BTreeMap<String, BTreeMap<String, String>>,
}

impl Design {
    /// CSV with `patient_id,arm` and optionally `visit_date,timepoint`
    /// (one row per visit) and any other columns as covariates.
    pub fn read(path: &Path) -> Result<Self, SetupError> {
        let table = crate::ingest::table::Table {
            what: "design",
            path,
        };
        let err = |line: u64, reason: String| table.error(Some(line), reason);
        let (mut reader, headers) = table.open(None)?;
        let col = |name: &str| headers.iter().position(|h| h == name);
        let (Some(pid), Some(arm)) = (col("patient_id"), col("arm")) else {
            return Err(err(1, "the design needs patient_id and arm columns".into()));
        };
        let (date, tp) = (col("visit_date"), col("timepoint"));
        let mut d = Design::default();
        // (patient, visit date) → line; (patient, time point) → (date, line).
        let mut visit_line: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut at_timepoint: BTreeMap<(String, String), (String, u64)> = BTreeMap::new();
        for row in reader.records() {
            let row = row.map_err(|e| table.csv_error(&e))?;
            let line = row.position().map_or(0, |p| p.line());
            let p = row.get(pid).unwrap_or_default().to_string();
            let a = row.get(arm).unwrap_or_default().to_string();
            if p.is_empty() || a.is_empty() {
                return Err(err(line, "empty patient_id or arm".into()));
            }
            if let Some(prev) = d.arm.insert(p.clone(), a.clone()) {
                if prev != a {
                    return Err(err(line, format!("patient {p} is in arms {prev} and {a}")));
                }
            }
            if let (Some(di), Some(ti)) = (date, tp) {
                let (vd, t) = (
                    row.get(di).unwrap_or_default(),
                    row.get(ti).unwrap_or_default(),
                );
                if !vd.is_empty() && !t.is_empty() {
                    if !crate::ingest::is_iso_date(vd) {
                        return Err(err(line, format!("visit_date `{vd}` is not YYYY-MM-DD")));
                    }
                    if let Some(first) = visit_line.insert((p.clone(), vd.to_string()), line) {
                        return Err(err(
                            line,
                            format!("patient {p}'s visit {vd} is listed twice (lines {first} and {line})"),
                        ));
                    }
                    if let Some((other, first)) =
                        at_timepoint.insert((p.clone(), t.to_string()), (vd.to_string(), line))
                    {
                        return Err(err(
                            line,
                            format!("patient {p} has two visits at time point {t}: {other} (line {first}) and {vd}: one would be dropped"),
                        ));
                    }
                    if let Some(x) = d
                        .timepoint_order
                        .iter()
                        .find(|x| *x != t && x.to_lowercase() == t.to_lowercase())
                    {
                        return Err(err(
                            line,
                            format!("time point `{t}` differs from `{x}` only in case: one time point or two?"),
                        ));
                    }
                    d.timepoint
                        .insert((p.clone(), vd.to_string()), t.to_string());
                    if !d.timepoint_order.iter().any(|x| x == t) {
                        d.timepoint_order.push(t.to_string());
                    }
                }
            }
            let cov: BTreeMap<String, String> = headers
                .iter()
                .enumerate()
                .filter(|(i, _)| {
                    ![Some(*i)].contains(&Some(pid))
                        && *i != arm
                        && Some(*i) != date
                        && Some(*i) != tp
                })
                .map(|(i, h)| (h.to_string(), row.get(i).unwrap_or_default().to_string()))
                .collect();
            if !cov.is_empty() {
                d.covariates.insert(p, cov);
            }
        }
        // The baseline is the earliest time point, whatever order the rows
        // come in (a file sorted newest first must not reverse every
        // change): time points in the order of their median visit date (one
        // mislabelled patient does not move it), and every patient's own
        // dates must agree with that order.
        let median_date = |t: &str| {
            let mut dates: Vec<&String> = d
                .timepoint
                .iter()
                .filter(|(_, x)| x.as_str() == t)
                .map(|((_, vd), _)| vd)
                .collect();
            dates.sort();
            dates
                .get(dates.len().saturating_sub(1) / 2)
                .map(|s| s.to_string())
        };
        let mut keyed: Vec<(Option<String>, String)> = d
            .timepoint_order
            .iter()
            .map(|t| (median_date(t), t.clone()))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        d.timepoint_order = keyed.into_iter().map(|(_, t)| t).collect();
        let rank = |t: &str| d.timepoint_order.iter().position(|x| x == t);
        let mut previous: Option<(&str, &str, &str)> = None;
        for ((p, vd), t) in &d.timepoint {
            if let Some((pp, pvd, pt)) = previous.filter(|(pp, _, _)| *pp == p.as_str()) {
                if rank(pt) > rank(t) {
                    let line = visit_line
                        .get(&(p.clone(), vd.clone()))
                        .copied()
                        .unwrap_or(0);
                    return Err(err(
                        line,
                        format!("patient {pp}'s visit {vd} is at time point {t}, but the earlier visit {pvd} is at {pt}, which other patients' dates put after {t}: the time points contradict the dates"),
                    ));
                }
            }
            previous = Some((p, vd, t));
        }
        Ok(d)
    }
}

/// Metric values of one visit: one row per capture (repeats kept apart).
type Captures = Vec<Vec<f64>>;

/// Everything read from the results files.
pub struct Data {
    pub metrics: Vec<String>,
    /// patient → visit date → captures.
    pub visits: BTreeMap<String, BTreeMap<String, Captures>>,
    pub records: u64,
    pub skipped: BTreeMap<String, u64>,
    /// Per results file, the numbers of its lines that are not records
    /// (for naming them; `skipped` holds their count).
    pub unreadable_lines: Vec<(PathBuf, Vec<usize>)>,
    /// Records refused because their photo (same sha256) was already read:
    /// a copy is not a repeat capture, and counting it would make the
    /// test–retest reliability perfect.
    pub duplicates: Vec<String>,
    /// The tool and model versions that made the records, with how many
    /// records each made.
    pub analysed_by: BTreeMap<String, u64>,
}

/// Streams the results files, keeping each ok record's metric values.
pub fn load(files: &[PathBuf], metrics: &[Metric]) -> Result<Data, SetupError> {
    let mut data = Data {
        metrics: metrics.iter().map(|m| m.name.clone()).collect(),
        visits: BTreeMap::new(),
        records: 0,
        skipped: BTreeMap::new(),
        unreadable_lines: Vec::new(),
        duplicates: Vec::new(),
        analysed_by: BTreeMap::new(),
    };
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for path in files {
        let input = |e: std::io::Error| SetupError::Input {
            path: path.clone(),
            reason: e.to_string(),
        };
        let mut unreadable = Vec::new();
        for line in crate::report::sink::results_lines(path).map_err(input)? {
            let (number, record) = line.map_err(input)?;
            let r = match record {
                Some(Record::Image(r)) => r,
                Some(Record::Summary(_)) => continue,
                None => {
                    unreadable.push(number);
                    // Edited by hand, cut short or written by another
                    // version: counted, never dropped without a word.
                    *data
                        .skipped
                        .entry(format!(
                            "lines that are not schema {} records",
                            crate::SCHEMA_VERSION
                        ))
                        .or_default() += 1;
                    continue;
                }
            };
            data.records += 1;
            *data
                .analysed_by
                .entry(format!(
                    "{} {}; models {}",
                    r.tool.name,
                    r.tool.written(),
                    r.models
                        .iter()
                        .map(|m| format!("{} {}", m.name, m.sha256.get(..12).unwrap_or(&m.sha256)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .or_default() += 1;
            let why = if r.status != Status::Ok {
                Some("failed analysis")
            } else if r
                .subject
                .as_ref()
                .and_then(|s| s.patient_id.as_ref())
                .is_none()
            {
                Some("no patient_id")
            } else if r
                .subject
                .as_ref()
                .and_then(|s| s.visit_date.as_ref())
                .is_none()
            {
                Some("no visit_date")
            } else {
                None
            };
            if let Some(why) = why {
                *data.skipped.entry(why.into()).or_default() += 1;
                continue;
            }
            let (Some(pid), Some(date)) = (
                r.subject.as_ref().and_then(|s| s.patient_id.clone()),
                r.subject.as_ref().and_then(|s| s.visit_date.clone()),
            ) else {
                continue;
            };
            if let Some(sha) = &r.input.sha256 {
                if let Some(first) = seen.get(sha) {
                    data.duplicates.push(format!(
                        "{} is the same file as {first} (sha256 {}…): refused, a copy is not a repeat capture",
                        r.input.path,
                        &sha[..sha.len().min(12)]
                    ));
                    continue;
                }
                seen.insert(sha.clone(), r.input.path.clone());
            }
            let values: Vec<f64> = metrics
                .iter()
                .map(|m| (m.read)(&r).unwrap_or(f64::NAN))
                .collect();
            data.visits
                .entry(pid)
                .or_default()
                .entry(date)
                .or_default()
                .push(values);
        }
        if !unreadable.is_empty() {
            data.unreadable_lines.push((path.clone(), unreadable));
        }
    }
    Ok(data)
}

/// `cohort.json`: the cohort's statistics and what went into them.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(title = "dermascore cohort.json")]
pub struct CohortDocument<'a> {
    /// The results schema version the cohort read.
    pub schema_version: &'a str,
    /// Results records read.
    pub records: u64,
    /// The tool and model versions (sha256, first 12 hex digits) that made
    /// the records, with how many each made. More than one: the arms may
    /// differ by version as well as by treatment (`notes` says so).
    pub analysed_by: &'a BTreeMap<String, u64>,
    /// The design's arms, in the order of its CSV.
    pub arms: &'a [String],
    /// Visit time points, in study order.
    pub timepoints: &'a [String],
    /// arm → time point → patients with no usable record.
    pub missing: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// What was left out or assumed, and why (duplicate rows, missing visits,
    /// unknown patients).
    pub notes: &'a [String],
    /// The tidy table (`cohort.csv`'s rows).
    pub rows: &'a [Row],
}

/// One row of the tidy output.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Row {
    /// `describe` (each arm at each time point), `change` (from baseline,
    /// paired t and Wilcoxon), `between_arms` (change against the
    /// reference arm, Welch) or `reliability` (repeat captures, ICC(3,1)).
    pub analysis: &'static str,
    /// The arm (`*`: all, for reliability).
    pub arm: String,
    /// For between-arm rows: the arm compared against; empty otherwise.
    pub reference_arm: String,
    /// The visit time point (`*`: all, for reliability).
    pub timepoint: String,
    /// The metric's name (as `cohort.csv` and `changes.csv` name it), in
    /// the metric's own units.
    pub metric: String,
    /// `mean`, `sd`, `median`, `q1`, `q3`, `iqr`, `mean_change`,
    /// `ci95_low`, `ci95_high`, `t`, `df`, `p_paired_t`, `cohen_dz`,
    /// `wilcoxon_statistic`, `p_wilcoxon`, `rank_biserial`,
    /// `difference_in_change`, `p_welch`, `icc_3_1` or `sem`.
    pub statistic: &'static str,
    /// The statistic's value: the metric's units for means, changes,
    /// quantiles and their intervals; unitless for t, p, effect sizes and
    /// ICC. Rows whose value is not finite are not written.
    pub value: f64,
    /// Patients (or capture pairs, for reliability) it rests on.
    pub n: usize,
}

pub struct CohortResult {
    pub rows: Vec<Row>,
    /// arm → time point → patients with no usable record.
    pub missing: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    pub timepoints: Vec<String>,
    pub arms: Vec<String>,
    pub notes: Vec<String>,
}

fn nanmean(v: &[f64]) -> f64 {
    let ok: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if ok.is_empty() {
        f64::NAN
    } else {
        stats::mean(&ok)
    }
}

/// Runs every analysis.
pub fn analyse(data: &Data, design: &Design, reference_arm: Option<&str>) -> CohortResult {
    let mut notes = data.duplicates.clone();
    if data.analysed_by.len() > 1 {
        notes.push(format!(
            "the records were made by {} different tool or model versions ({}): differences between arms or visits may be the versions' — analyse them again with one version",
            data.analysed_by.len(),
            data.analysed_by
                .iter()
                .map(|(v, n)| format!("{n} by {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    // Time point of each visit: from the design, else by visit order (T0 = baseline).
    let mut tp_of: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut order: Vec<String> = design.timepoint_order.clone();
    for (pid, visits) in &data.visits {
        for (i, date) in visits.keys().enumerate() {
            let tp = match design.timepoint.get(&(pid.clone(), date.clone())) {
                Some(t) => t.clone(),
                None if design.timepoint.is_empty() => format!("T{i}"),
                None => {
                    notes.push(format!(
                        "{pid} {date}: visit not in the design's time points, left out"
                    ));
                    continue;
                }
            };
            if !order.contains(&tp) {
                order.push(tp.clone());
            }
            tp_of.insert((pid.clone(), date.clone()), tp);
        }
    }
    if design.timepoint.is_empty() {
        order.sort_by_key(|t| t.trim_start_matches('T').parse::<u32>().unwrap_or(u32::MAX));
    }
    let arms: Vec<String> = design
        .arm
        .values()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for pid in data.visits.keys().filter(|p| !design.arm.contains_key(*p)) {
        notes.push(format!(
            "patient {pid} has results but is not in the design, left out"
        ));
    }
    // value[arm][tp][patient] = per-metric visit means (repeats averaged).
    let mut value: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, Vec<f64>>>> = BTreeMap::new();
    for (pid, visits) in &data.visits {
        let Some(arm) = design.arm.get(pid) else {
            continue;
        };
        for (date, caps) in visits {
            let Some(tp) = tp_of.get(&(pid.clone(), date.clone())) else {
                continue;
            };
            let means: Vec<f64> = (0..data.metrics.len())
                .map(|m| nanmean(&caps.iter().map(|c| c[m]).collect::<Vec<_>>()))
                .collect();
            // A visit with no metric measured (too low a resolution, no
            // face) is no usable record: the patient counts as missing.
            if means.iter().all(|v| !v.is_finite()) {
                notes.push(format!(
                    "{pid} {date}: no metric could be measured on this visit's photos, counted as missing"
                ));
                continue;
            }
            value
                .entry(arm.as_str())
                .or_default()
                .entry(tp.as_str())
                .or_default()
                .insert(pid.as_str(), means);
        }
    }
    let mut missing: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for arm in &arms {
        for tp in &order {
            let have = value.get(arm.as_str()).and_then(|a| a.get(tp.as_str()));
            let absent: Vec<String> = design
                .arm
                .iter()
                .filter(|(p, a)| *a == arm && have.is_none_or(|h| !h.contains_key(p.as_str())))
                .map(|(p, _)| p.clone())
                .collect();
            missing
                .entry(arm.clone())
                .or_default()
                .insert(tp.clone(), absent);
        }
    }

    for arm in &arms {
        if !value.contains_key(arm.as_str()) {
            notes.push(format!(
                "arm {arm} has no usable record at any time point: it takes no part in the statistics or the comparison between arms"
            ));
        }
    }

    let mut rows = Vec::new();
    let baseline = order.first().cloned().unwrap_or_default();
    let push = |rows: &mut Vec<Row>,
                analysis,
                arm: &str,
                refa: &str,
                tp: &str,
                metric: &str,
                statistic,
                value: f64,
                n| {
        if value.is_finite() {
            rows.push(Row {
                analysis,
                arm: arm.into(),
                reference_arm: refa.into(),
                timepoint: tp.into(),
                metric: metric.into(),
                statistic,
                value,
                n,
            });
        }
    };
    // change[arm][tp][metric] = per-patient changes, for the between-arm step.
    let mut changes: BTreeMap<(String, String, usize), Vec<f64>> = BTreeMap::new();
    for arm in &arms {
        for tp in &order {
            let n_missing = missing[arm][tp].len();
            push(
                &mut rows,
                "missing",
                arm,
                "",
                tp,
                "*",
                "patients_missing",
                n_missing as f64,
                n_missing,
            );
            let Some(pts) = value.get(arm.as_str()).and_then(|a| a.get(tp.as_str())) else {
                continue;
            };
            for (mi, metric) in data.metrics.iter().enumerate() {
                let vals: Vec<f64> = pts
                    .values()
                    .map(|v| v[mi])
                    .filter(|x| x.is_finite())
                    .collect();
                if vals.is_empty() {
                    continue;
                }
                let d = stats::describe(&vals);
                for (s, v) in [
                    ("mean", d.mean),
                    ("sd", d.sd),
                    ("median", d.median),
                    ("q1", d.q1),
                    ("q3", d.q3),
                    ("iqr", d.q3 - d.q1),
                ] {
                    push(&mut rows, "describe", arm, "", tp, metric, s, v, d.n);
                }
                if *tp == baseline {
                    continue;
                }
                let Some(base) = value
                    .get(arm.as_str())
                    .and_then(|a| a.get(baseline.as_str()))
                else {
                    continue;
                };
                let diffs: Vec<f64> = pts
                    .iter()
                    .filter_map(|(p, v)| Some(v[mi] - base.get(p)?[mi]))
                    .filter(|x| x.is_finite())
                    .collect();
                if let Some(t) = stats::paired_t(&diffs) {
                    for (s, v) in [
                        ("mean_change", t.mean_diff),
                        ("ci95_low", t.ci_low),
                        ("ci95_high", t.ci_high),
                        ("t", t.t),
                        ("p_paired_t", t.p),
                        ("cohen_dz", t.cohen_dz),
                    ] {
                        push(&mut rows, "change", arm, "", tp, metric, s, v, t.n);
                    }
                }
                // One pair carries no test, as for the paired t.
                if let Some(w) = stats::wilcoxon(&diffs, false).filter(|w| w.n >= 2) {
                    for (s, v) in [
                        ("wilcoxon_statistic", w.statistic),
                        ("p_wilcoxon", w.p),
                        ("rank_biserial", w.rank_biserial),
                    ] {
                        push(&mut rows, "change", arm, "", tp, metric, s, v, w.n);
                    }
                }
                changes.insert((arm.clone(), tp.clone(), mi), diffs);
            }
        }
    }
    let refarm = reference_arm
        .map(str::to_string)
        .or_else(|| arms.first().cloned())
        .unwrap_or_default();
    for arm in arms.iter().filter(|a| **a != refarm) {
        for tp in order.iter().skip(1) {
            for (mi, metric) in data.metrics.iter().enumerate() {
                let (Some(a), Some(b)) = (
                    changes.get(&(refarm.clone(), tp.clone(), mi)),
                    changes.get(&(arm.clone(), tp.clone(), mi)),
                ) else {
                    continue;
                };
                if let Some(w) = stats::welch(a, b) {
                    for (s, v) in [
                        ("difference_in_change", w.diff),
                        ("ci95_low", w.ci_low),
                        ("ci95_high", w.ci_high),
                        ("t", w.t),
                        ("df", w.df),
                        ("p_welch", w.p),
                    ] {
                        push(
                            &mut rows,
                            "between_arms",
                            arm,
                            &refarm,
                            tp,
                            metric,
                            s,
                            v,
                            a.len() + b.len(),
                        );
                    }
                }
            }
        }
    }
    // Test–retest: visits captured more than once, first two captures
    // (ICC(3,1) wants the same number of captures per visit); said when a
    // visit had more.
    let more_than_two = data
        .visits
        .values()
        .flat_map(|v| v.values())
        .filter(|caps| caps.len() > 2)
        .count();
    if more_than_two > 0 {
        notes.push(format!(
            "test–retest reliability (ICC(3,1), SEM) uses each visit's first two captures: {more_than_two} visit(s) had more, whose further captures count in the visit means only"
        ));
    }
    for (mi, metric) in data.metrics.iter().enumerate() {
        let pairs: Vec<Vec<f64>> = data
            .visits
            .values()
            .flat_map(|v| v.values())
            .filter(|caps| caps.len() >= 2)
            .map(|caps| vec![caps[0][mi], caps[1][mi]])
            .filter(|p| p.iter().all(|x| x.is_finite()))
            .collect();
        if let Some(icc) = stats::icc31(&pairs) {
            for (s, v) in [
                ("icc_3_1", icc.icc),
                ("ci95_low", icc.ci_low),
                ("ci95_high", icc.ci_high),
                ("sem", icc.sem),
            ] {
                push(&mut rows, "reliability", "*", "", "*", metric, s, v, icc.n);
            }
        }
    }
    CohortResult {
        rows,
        missing,
        timepoints: order,
        arms,
        notes,
    }
}

/// Tidy CSV: one row per statistic.
pub fn write_csv(rows: &[Row], out: &mut impl std::io::Write) -> std::io::Result<()> {
    use crate::report::csv_export::text_cell;
    let mut w = csv::Writer::from_writer(out);
    for r in rows {
        w.serialize(Row {
            arm: text_cell(&r.arm),
            reference_arm: text_cell(&r.reference_arm),
            timepoint: text_cell(&r.timepoint),
            metric: text_cell(&r.metric),
            // Six significant digits, as every output; never -0.
            value: crate::report::round_significant(r.value),
            ..r.clone()
        })?;
    }
    w.flush()
}

#[cfg(test)]
mod design_tests {
    use super::*;

    fn read(text: &str) -> Result<Design, SetupError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("design.csv");
        std::fs::write(&path, text).unwrap();
        Design::read(&path)
    }

    const HEAD: &str = "patient_id,arm,visit_date,timepoint\n";

    #[test]
    fn time_points_follow_the_dates_not_the_rows() {
        let rows = [
            "P1,A,2026-03-01,week8",
            "P1,A,2026-02-01,week4",
            "P1,A,2026-01-01,baseline",
            "P2,B,2026-03-03,week8",
            "P2,B,2026-01-03,baseline",
        ];
        let d = read(&format!("{HEAD}{}\n", rows.join("\n"))).unwrap();
        assert_eq!(d.timepoint_order, ["baseline", "week4", "week8"]);
    }

    #[test]
    fn contradicting_or_repeated_visits_are_refused_naming_the_line() {
        let refused = |rows: &[&str], says: &str| {
            let e = read(&format!("{HEAD}{}\n", rows.join("\n"))).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        };
        // Two visits at one time point: one would be dropped.
        refused(
            &["P1,A,2026-01-01,baseline", "P1,A,2026-02-01,baseline"],
            "two visits at time point baseline",
        );
        // The same visit twice.
        refused(
            &["P1,A,2026-01-01,baseline", "P1,A,2026-01-01,baseline"],
            "listed twice",
        );
        // Labels that differ only in case.
        refused(
            &["P1,A,2026-01-01,Week4", "P2,A,2026-01-02,week4"],
            "only in case",
        );
        // One patient's dates against everyone else's order.
        refused(
            &[
                "P1,A,2026-01-01,baseline",
                "P1,A,2026-02-01,week4",
                "P2,A,2026-01-02,baseline",
                "P2,A,2026-02-02,week4",
                "P3,A,2026-01-01,week4",
                "P3,A,2026-02-01,baseline",
            ],
            "contradict the dates",
        );
    }
}
