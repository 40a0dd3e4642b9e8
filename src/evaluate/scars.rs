//! Accuracy of the acne-scar measurements on held-out renders
//! (`datasets/synth_scars.py eval`: seeds disjoint from training), through
//! the same functions `analyze` runs: the single-photo model on each
//! capture's clinic photo (estimated mode) and photometric stereo on its
//! multi-light device photos (measured mode), after aligning them as
//! `analyze` does.
//!
//! A found scar matches a planted one when its centre lies within half the
//! planted width (at least 0.75 mm); each planted scar matches once.
//! Detection F1 counts planted scars at least 1 mm wide and found scars at
//! least 1 mm wide that match nothing (found scars matched to narrower
//! planted ones are neither hits nor false alarms).

use crate::capture::{Light, LightDir, LightPos};
use crate::error::SetupError;
use crate::face::warp::Pyramid;
use crate::measure::colour::ItaCategory;
use crate::measure::scars::{self, Scar, ScarType};
use crate::measure::segment::CanonicalPatch;
use crate::measure::{scars_estimated, scars_measured, Frame};
use crate::models::{self, ModelName, VerifiedModels};
use crate::runtime::Device;
use crate::units::PxPerMm;
use crate::zones;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

const MIN_MATCH_MM: f64 = 0.75;
const F1_MIN_WIDTH_MM: f64 = 1.0;

#[derive(Debug, Deserialize)]
struct Truth {
    captures: Vec<CaptureTruth>,
}

#[derive(Debug, Deserialize)]
struct CaptureTruth {
    name: String,
    px_per_mm: f64,
    /// Distant lights' directions (with `light_pos_mm` absent), or each
    /// near light's direction at the frame's origin (for alignment).
    lights: Vec<[f32; 3]>,
    /// Near lights' positions (mm), when the set was rendered with them.
    #[serde(default)]
    light_pos_mm: Option<Vec<[f32; 3]>>,
    /// Each light's calibrated brightness (default 1).
    #[serde(default)]
    intensities: Option<Vec<f32>>,
    /// The pixel the optical axis passes through (default the centre).
    #[serde(default)]
    optical_centre_px: Option<[f32; 2]>,
    #[serde(default)]
    ita_deg: Option<f64>,
    files: Vec<String>,
    /// The clinic photo, if the set has one.
    #[serde(default)]
    single: Option<String>,
    scars: Vec<PlantedScar>,
}

impl CaptureTruth {
    /// The set's lights as `analyze` reads them from a sidecar.
    fn lights(&self) -> Result<Vec<Light>, String> {
        let n = self.files.len();
        (0..n)
            .map(|k| {
                let light = match &self.light_pos_mm {
                    Some(pos) => Light::near(LightPos::new(
                        *pos.get(k).ok_or("fewer light positions than files")?,
                    )?),
                    None => Light::distant(LightDir::new(
                        *self.lights.get(k).ok_or("fewer lights than files")?,
                    )?),
                };
                light.with_intensity(
                    self.intensities
                        .as_ref()
                        .and_then(|v| v.get(k).copied())
                        .unwrap_or(1.0),
                )
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
struct PlantedScar {
    #[serde(rename = "type")]
    kind: String,
    cx_mm: f64,
    cy_mm: f64,
    width_mm: f64,
    depth_mm: f64,
}

#[derive(Default)]
struct Tally {
    tp: u64,
    fp: u64,
    fn_: u64,
    depth_errors: Vec<f64>,
    /// The depth errors of matched scars planted at least
    /// `F1_MIN_WIDTH_MM` wide (the population the F1 is over).
    depth_errors_wide: Vec<f64>,
    width_errors: Vec<f64>,
    type_right: u64,
    matched: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.depth_errors.extend(&o.depth_errors);
        self.depth_errors_wide.extend(&o.depth_errors_wide);
        self.width_errors.extend(&o.width_errors);
        self.type_right += o.type_right;
        self.matched += o.matched;
    }

    fn f1(&self) -> f64 {
        let d = 2 * self.tp + self.fp + self.fn_;
        if d == 0 {
            1.0
        } else {
            2.0 * self.tp as f64 / d as f64
        }
    }

    fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }

    fn mae(v: &[f64]) -> Option<f64> {
        (!v.is_empty()).then(|| v.iter().map(|e| e.abs()).sum::<f64>() / v.len() as f64)
    }

    fn rmse(v: &[f64]) -> Option<f64> {
        (!v.is_empty()).then(|| (v.iter().map(|e| e * e).sum::<f64>() / v.len() as f64).sqrt())
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "f1_width_ge_1mm": self.f1(), "recall_width_ge_1mm": self.recall(),
            "true_positives": self.tp, "false_positives": self.fp, "false_negatives": self.fn_,
            "matched": self.matched,
            "depth_mae_mm": Self::mae(&self.depth_errors), "depth_rmse_mm": Self::rmse(&self.depth_errors),
            "depth_mae_width_ge_1mm_mm": Self::mae(&self.depth_errors_wide),
            "depth_bias_mm": (!self.depth_errors.is_empty()).then(|| self.depth_errors.iter().sum::<f64>() / self.depth_errors.len() as f64),
            "width_mae_mm": Self::mae(&self.width_errors),
            "type_accuracy": (self.matched > 0).then(|| self.type_right as f64 / self.matched as f64),
        })
    }
}

fn type_name(t: ScarType) -> &'static str {
    match t {
        ScarType::IcePick => "ice_pick",
        ScarType::BoxcarShallow => "boxcar_shallow",
        ScarType::BoxcarDeep => "boxcar_deep",
        ScarType::Rolling => "rolling",
    }
}

/// Tallies found scars (centres in mm) against the planted ones, per
/// planted type (found scars that match nothing go to "unmatched").
fn tally(found: &[(Scar, (f64, f64))], planted: &[PlantedScar], out: &mut BTreeMap<String, Tally>) {
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, (_, c)) in found.iter().enumerate() {
        for (j, p) in planted.iter().enumerate() {
            let d = (c.0 - p.cx_mm).hypot(c.1 - p.cy_mm);
            if d <= (p.width_mm / 2.0).max(MIN_MATCH_MM) {
                pairs.push((d, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut f_used, mut p_used) = (vec![false; found.len()], vec![false; planted.len()]);
    for (_, i, j) in pairs {
        if f_used[i] || p_used[j] {
            continue;
        }
        f_used[i] = true;
        p_used[j] = true;
        let (s, p) = (&found[i].0, &planted[j]);
        if std::env::var_os("DERMASCORE_DEBUG_SCARS").is_some() {
            eprintln!(
                "match {} planted depth {:.3} width {:.2} found depth {:.3} width {:.2}",
                p.kind, p.depth_mm, p.width_mm, s.depth_mm, s.width_mm
            );
        }
        let t = out.entry(p.kind.clone()).or_default();
        t.matched += 1;
        t.depth_errors.push(s.depth_mm - p.depth_mm);
        t.width_errors.push(s.width_mm - p.width_mm);
        t.type_right += u64::from(type_name(s.kind) == p.kind);
        if p.width_mm >= F1_MIN_WIDTH_MM {
            t.tp += 1;
            t.depth_errors_wide.push(s.depth_mm - p.depth_mm);
        }
    }
    for (j, p) in planted.iter().enumerate() {
        if !p_used[j] && p.width_mm >= F1_MIN_WIDTH_MM {
            out.entry(p.kind.clone()).or_default().fn_ += 1;
        }
    }
    for (i, (s, _)) in found.iter().enumerate() {
        if !f_used[i] && s.width_mm >= F1_MIN_WIDTH_MM {
            out.entry("unmatched".into()).or_default().fp += 1;
        }
    }
}

/// A repeatable subject motion for photo `k` of capture `capture`: up to
/// ±6 px on each axis.
fn known_motion(capture: usize, k: usize) -> (i64, i64) {
    let h = (capture as u64 * 7919 + k as u64 * 104_729).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (((h >> 20) % 13) as i64 - 6, ((h >> 40) % 13) as i64 - 6)
}

/// `img` with its content moved by (dx, dy) pixels, edges repeated.
fn translate(img: &image::RgbImage, dx: i64, dy: i64) -> image::RgbImage {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let sx = (i64::from(x) - dx).clamp(0, w - 1) as u32;
        let sy = (i64::from(y) - dy).clamp(0, h - 1) as u32;
        *img.get_pixel(sx, sy)
    })
}

fn centre_mm(patch: &CanonicalPatch, s: &Scar, px_per_mm: f64) -> (f64, f64) {
    let (x, y) = patch
        .map
        .apply(s.centre_px.0 as f32 - 0.5, s.centre_px.1 as f32 - 0.5);
    (f64::from(x) / px_per_mm, f64::from(y) / px_per_mm)
}

fn print_table(title: &str, cells: &BTreeMap<(String, String), Tally>) -> serde_json::Value {
    println!("{title}");
    println!(
        "{:>6} {:>15} | {:>4} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9} {:>6}",
        "mode",
        "type / px",
        "n",
        "F1",
        "recall",
        "depth MAE",
        ">= 1 mm",
        "bias",
        "width MAE",
        "type ok"
    );
    let f = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.3}"));
    let mut rows = Vec::new();
    for ((mode, key), t) in cells {
        println!(
            "{:>6} {:>15} | {:>4} {:>6.3} {:>6.3} {:>9} {:>9} {:>9} {:>9} {:>6}",
            mode,
            key,
            t.matched,
            t.f1(),
            t.recall(),
            f(Tally::mae(&t.depth_errors)),
            f(Tally::mae(&t.depth_errors_wide)),
            f((!t.depth_errors.is_empty())
                .then(|| t.depth_errors.iter().sum::<f64>() / t.depth_errors.len() as f64)),
            f(Tally::mae(&t.width_errors)),
            f((t.matched > 0).then(|| t.type_right as f64 / t.matched as f64)),
        );
        let mut j = t.json();
        j["mode"] = json!(mode);
        j["group"] = json!(key);
        rows.push(j);
    }
    json!(rows)
}

/// Runs both modes on every capture of the evaluation set; prints tables and
/// returns the figures.
pub fn run(dir: &Path, models_dir: Option<&Path>) -> Result<serde_json::Value, SetupError> {
    let bad = |p: &Path, e: String| SetupError::Input {
        path: p.to_path_buf(),
        reason: e,
    };
    let truth_path = dir.join("truth.json");
    let text = std::fs::read_to_string(&truth_path).map_err(|e| bad(&truth_path, e.to_string()))?;
    let truth: Truth = serde_json::from_str(&text).map_err(|e| bad(&truth_path, e.to_string()))?;
    let mdir = models::locate_dir(models_dir)?;
    let m = VerifiedModels::load(&mdir, &[ModelName::ScarRelief])?;
    let mut session = m.session(ModelName::ScarRelief, Device::Cpu)?.0;
    let infer = |e: ort::Error| SetupError::ModelLoad {
        name: "scar_relief".into(),
        reason: e.to_string(),
    };

    // (mode, px) and (mode, type) → tally; "all" rows too.
    let mut by_type: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut by_px: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut by_tone: BTreeMap<(String, String), Tally> = BTreeMap::new();
    let mut alignment_errors: Vec<f64> = Vec::new();
    let mut still_shifts: Vec<f64> = Vec::new();
    // Per measured mode: sets whose depressions were checked with each
    // photo left out, sets where some vanished, and how many did.
    let mut light_checks: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    // Each set's share of skin with a normal (three or more usable lights).
    let mut coverage: Vec<f64> = Vec::new();
    for (ci, c) in truth.captures.iter().enumerate() {
        let load = |f: &String| {
            image::open(dir.join(f))
                .map(|i| i.into_rgb8())
                .map_err(|e| bad(&dir.join(f), e.to_string()))
        };
        let images = c.files.iter().map(load).collect::<Result<Vec<_>, _>>()?;
        let lights = c
            .lights()
            .map_err(|e| bad(&truth_path, format!("{}: {e}", c.name)))?;
        let tone = c.ita_deg.map(|ita| {
            serde_json::to_value(ItaCategory::from_ita(ita))
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        });
        let scale = PxPerMm::new(c.px_per_mm)
            .ok_or_else(|| bad(&truth_path, format!("{}: bad px_per_mm", c.name)))?;
        let pyramids: Vec<Pyramid> = images[..1].iter().map(|i| Pyramid::new(i, 16)).collect();
        let zone = zones::patch(images[0].width(), images[0].height(), None);
        let mut found_by_mode = Vec::new();

        // Estimated: the clinic photo alone.
        let single = c.single.as_ref().map(load).transpose()?;
        let single_pyramid = single.as_ref().map(|s| Pyramid::new(s, 16));
        if let Some(mut patch) = single_pyramid
            .as_ref()
            .and_then(|p| CanonicalPatch::from_zone(p, &zone, scale, scars::CANONICAL_PX_PER_MM))
        {
            patch.exclude_clipped();
            let found = scars_estimated(&mut session, &patch, None)
                .map_err(infer)?
                .ok_or_else(|| bad(&truth_path, format!("{}: a colourless render", c.name)))?;
            found_by_mode.push((
                "single",
                found
                    .into_iter()
                    .map(|s| {
                        let c = centre_mm(&patch, &s, c.px_per_mm);
                        (s, c)
                    })
                    .collect::<Vec<_>>(),
            ));
        }
        // Measured: every photo, aligned to the first as analyze does; then
        // again with the device photos moved by known amounts (subject
        // motion), which alignment must undo.
        let canonical = c.px_per_mm.min(scars::MEASURED_MAX_PX_PER_MM);
        let motion: Vec<(i64, i64)> = (0..images.len())
            .map(|k| if k == 0 { (0, 0) } else { known_motion(ci, k) })
            .collect();
        let moved: Vec<image::RgbImage> = images
            .iter()
            .zip(&motion)
            .map(|(img, &(dx, dy))| translate(img, dx, dy))
            .collect();
        // A near rig's photos read as if its lights were distant and equal
        // (the model before near lights): what modelling them is worth.
        let as_distant: Vec<Light> = lights
            .iter()
            .filter_map(|l| {
                LightDir::new(l.central_direction())
                    .ok()
                    .map(Light::distant)
            })
            .collect();
        let mut modes = vec![("multi", &images, &lights), ("moved", &moved, &lights)];
        if c.light_pos_mm.is_some() {
            modes.push(("distant", &images, &as_distant));
        }
        for (mode, set, lights) in modes {
            let Some(mut patch) = CanonicalPatch::from_zone(&pyramids[0], &zone, scale, canonical)
            else {
                continue;
            };
            patch.exclude_clipped();
            let refs: Vec<&image::RgbImage> = set.iter().collect();
            let align_lights: Vec<[f32; 3]> = lights.iter().map(|l| l.alignment_vector()).collect();
            let shifts = crate::measure::align::align_set(&refs, &align_lights)
                .map_err(|(k, e)| bad(dir, format!("{} photo {k}: {e}", c.name)))?;
            if mode == "multi" {
                // A still set: every shift found is invented motion.
                still_shifts.extend(
                    shifts
                        .iter()
                        .skip(1)
                        .map(|s| f64::from(s.0).hypot(f64::from(s.1))),
                );
            }
            if mode == "moved" {
                for (s, &(dx, dy)) in shifts.iter().zip(&motion).skip(1) {
                    let err = (f64::from(s.0) - dx as f64).hypot(f64::from(s.1) - dy as f64);
                    alignment_errors.push(err);
                }
            }
            let set_pyramids: Vec<Pyramid> = set.iter().map(|i| Pyramid::new(i, 16)).collect();
            let refs: Vec<&Pyramid> = set_pyramids.iter().collect();
            let frame = Frame {
                optical_centre_px: c.optical_centre_px.unwrap_or([
                    images[0].width() as f32 / 2.0,
                    images[0].height() as f32 / 2.0,
                ]),
                px_per_mm: c.px_per_mm,
            };
            let found = scars_measured(&patch, &refs, &shifts, lights, &frame)
                .map_err(|e| bad(dir, format!("{}: {e}", c.name)))?;
            if mode == "multi" {
                coverage.push(found.valid_share);
            }
            if let Some(check) = &found.light_check {
                let t = light_checks.entry(mode.to_string()).or_default();
                t[0] += 1;
                t[1] += u64::from(check.depressions_dropped > 0);
                t[2] += check.depressions_dropped;
            }
            found_by_mode.push((
                mode,
                found
                    .scars
                    .into_iter()
                    .map(|s| {
                        let c = centre_mm(&patch, &s, c.px_per_mm);
                        (s, c)
                    })
                    .collect(),
            ));
        }
        for (mode, found) in found_by_mode {
            let mut one: BTreeMap<String, Tally> = BTreeMap::new();
            tally(&found, &c.scars, &mut one);
            let mut sum = Tally::default();
            for (kind, t) in &one {
                by_type
                    .entry((mode.into(), kind.clone()))
                    .or_default()
                    .add(t);
                sum.add(t);
            }
            by_type
                .entry((mode.into(), "all".into()))
                .or_default()
                .add(&sum);
            by_px
                .entry((mode.into(), format!("{:>5.1} px/mm", c.px_per_mm)))
                .or_default()
                .add(&sum);
            if let Some(tone) = &tone {
                by_tone
                    .entry((mode.into(), tone.clone()))
                    .or_default()
                    .add(&sum);
            }
        }
    }
    println!(
        "Acne scars, held-out renders ({} captures): per planted type (\"unmatched\": false alarms)",
        truth.captures.len()
    );
    println!("single: one clinic photo (estimated); multi: the multi-light device set (measured); moved: the same set with its photos moved by known amounts, aligned, then measured; distant: a near rig's set measured as if its lights were distant and equally bright");
    let types = print_table("", &by_type);
    println!();
    let pxs = print_table("Per resolution:", &by_px);
    println!();
    let tones = print_table("Per skin tone (ITA category):", &by_tone);
    let min_coverage = coverage.iter().copied().reduce(f64::min);
    if let Some(m) = min_coverage {
        println!(
            "\nSkin with a normal (three or more usable lights): at least {:.1} % of every set, mean {:.1} %",
            100.0 * m,
            100.0 * coverage.iter().sum::<f64>() / coverage.len() as f64
        );
    }
    let exact = alignment_errors.iter().filter(|&&e| e <= 0.5).count();
    println!(
        "\nAlignment of moved photos: {exact} of {} within 0.5 px of the known motion, mean error {:.2} px",
        alignment_errors.len(),
        alignment_errors.iter().sum::<f64>() / alignment_errors.len().max(1) as f64
    );
    let invented = still_shifts.iter().filter(|&&s| s > 0.5).count();
    let worst_still = still_shifts.iter().copied().fold(0.0, f64::max);
    println!(
        "Still sets (never moved): {invented} of {} photos shifted by more than 0.5 px, largest {worst_still:.2} px",
        still_shifts.len()
    );
    for (mode, [sets, with, dropped]) in &light_checks {
        println!(
            "Set check ({mode}): {with} of {sets} sets that found depressions lost some with one photo left out ({dropped} depressions; such a set's scars set no needle depth)"
        );
    }
    let light_checks: serde_json::Map<String, serde_json::Value> = light_checks
        .iter()
        .map(|(mode, [sets, with, dropped])| {
            (mode.clone(), json!({"sets_checked": sets, "sets_with_depressions_dropped": with, "depressions_dropped": dropped}))
        })
        .collect();
    Ok(json!({
        "captures": truth.captures.len(),
        "light_check": light_checks,
        "still_sets": {"photos": still_shifts.len(), "shifted_over_half_px": invented, "largest_shift_px": worst_still},
        "alignment": {"photos": alignment_errors.len(), "within_half_px": exact,
                      "mean_error_px": alignment_errors.iter().sum::<f64>() / alignment_errors.len().max(1) as f64},
        "matching": format!("centre within max(half the planted width, {MIN_MATCH_MM} mm); F1 over scars >= {F1_MIN_WIDTH_MM} mm wide"),
        "by_type": types,
        "by_px_per_mm": pxs,
        "by_skin_tone": tones,
        "relief_coverage_min": min_coverage,
    }))
}

/// The single-photo scar model on the real labelled close-up's ROI (cheeks
/// and nose of a face without visible atrophic scars): every scar found
/// there is a false alarm.
pub fn real_false_alarms(
    dir: &Path,
    scale: PxPerMm,
    models_dir: Option<&Path>,
) -> Result<serde_json::Value, SetupError> {
    let bad = |e: String| SetupError::Input {
        path: dir.to_path_buf(),
        reason: e,
    };
    let rgb = image::open(dir.join("cheek_input.png"))
        .map_err(|e| bad(e.to_string()))?
        .into_rgb8();
    let roi = image::open(dir.join("cheek_roi_mask.png"))
        .map_err(|e| bad(e.to_string()))?
        .into_luma8();
    let mdir = models::locate_dir(models_dir)?;
    let m = VerifiedModels::load(&mdir, &[ModelName::ScarRelief])?;
    let mut session = m.session(ModelName::ScarRelief, Device::Cpu)?.0;
    let pyramid = Pyramid::new(&rgb, 16);
    let zone = zones::patch(rgb.width(), rgb.height(), Some(&roi));
    let mut patch = CanonicalPatch::from_zone(&pyramid, &zone, scale, scars::CANONICAL_PX_PER_MM)
        .ok_or_else(|| bad("empty ROI".into()))?;
    patch.exclude_clipped();
    let found = scars_estimated(&mut session, &patch, None)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("the close-up has no colour".into()))?;
    let cm2 = patch.area_mm2() / 100.0;
    let area: f64 = found.iter().map(|s| s.area_mm2).sum();
    println!(
        "\nAcne scars, one photo, on the real close-up's ROI ({cm2:.0} cm², no visible atrophic scars): {} false alarms, {:.2} per cm², {:.1} % of the area",
        found.len(),
        found.len() as f64 / cm2,
        100.0 * area / patch.area_mm2()
    );
    Ok(json!({
        "roi_cm2": cm2, "false_alarms": found.len(), "per_cm2": found.len() as f64 / cm2,
        "false_scarred_area_pct": 100.0 * area / patch.area_mm2(),
    }))
}

/// The single-photo scar mode on the held-out pore and pigment patches of
/// `synth_skin.py eval` (flat skin: pores, pigmented spots, no relief to
/// speak of), at the resolutions scars are measured at: every scar found is
/// a false alarm on a pigmented spot or on texture.
pub fn flat_false_alarms(
    synthetic: &Path,
    min_px_per_mm: f64,
    models_dir: Option<&Path>,
) -> Result<serde_json::Value, SetupError> {
    let truth_path = synthetic.join("truth.json");
    let bad = |p: &Path, e: String| SetupError::Input {
        path: p.to_path_buf(),
        reason: e,
    };
    let text = std::fs::read_to_string(&truth_path).map_err(|e| bad(&truth_path, e.to_string()))?;
    let truth: super::Truth =
        serde_json::from_str(&text).map_err(|e| bad(&truth_path, e.to_string()))?;
    let mdir = models::locate_dir(models_dir)?;
    let m = VerifiedModels::load(&mdir, &[ModelName::ScarRelief])?;
    let mut session = m.session(ModelName::ScarRelief, Device::Cpu)?.0;
    let mut rows: BTreeMap<String, (u64, u64, u64, f64)> = BTreeMap::new();
    for t in truth
        .patches
        .iter()
        .filter(|t| t.px_per_mm >= min_px_per_mm)
    {
        let path = synthetic.join(&t.file);
        let photo = crate::ingest::Photo::from_decoded(
            image::open(&path).map_err(|e| bad(&path, e.to_string()))?,
        );
        let scale =
            PxPerMm::new(t.px_per_mm).ok_or_else(|| bad(&truth_path, "bad px_per_mm".into()))?;
        let pyramid = Pyramid::of(&photo, 16);
        let zone = zones::patch(photo.rgb.width(), photo.rgb.height(), None);
        let Some(mut patch) =
            CanonicalPatch::from_zone(&pyramid, &zone, scale, scars::CANONICAL_PX_PER_MM)
        else {
            continue;
        };
        patch.exclude_clipped();
        let found = scars_estimated(&mut session, &patch, None)
            .map_err(|e| bad(&path, e.to_string()))?
            .unwrap_or_default();
        let row = rows.entry(t.kind.clone()).or_default();
        row.0 += 1;
        row.1 += u64::from(!found.is_empty());
        row.2 += found.len() as u64;
        row.3 += patch.area_mm2() / 100.0;
    }
    println!(
        "\nAcne scars, one photo, on flat held-out patches (pores and pigmented spots, no scars):"
    );
    let mut out = serde_json::Map::new();
    for (kind, (n, with, count, cm2)) in &rows {
        println!(
            "  {kind:>6}: {with} of {n} patches with a false scar, {count} in all, {:.3} per cm²",
            *count as f64 / cm2
        );
        out.insert(
            kind.clone(),
            json!({"patches": n, "patches_with_false_scars": with, "false_scars": count, "per_cm2": *count as f64 / cm2}),
        );
    }
    Ok(serde_json::Value::Object(out))
}
