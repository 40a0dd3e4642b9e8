//! Accuracy of the pore and pigment measurements, through the same code the
//! `analyze` command runs (canonical resampling, model, components,
//! thresholds), beside classical baselines:
//!
//! * pores, baseline: difference of Gaussians — a pixel is pore when its
//!   luma is 5 % below a Gaussian background of σ = 0.5 mm;
//! * pigment, baseline: a pixel is pigmented when its melanin index exceeds
//!   the patch median by 0.08.
//!
//! Synthetic patches come from `datasets/synth_skin.py eval` (held out: a
//! different seed from training); the real image is the labelled close-up in
//! `shared/photos/pores`.

pub mod scars;

use crate::compare::repeatability::jpeg_round_trip;
use crate::error::SetupError;
use crate::face::warp::Pyramid;
use crate::ingest::{Depth, Photo};
use crate::measure::colour::{relight_photo, ItaCategory, Separator};
use crate::measure::segment::{self, CanonicalPatch, Component};
use crate::measure::{pigment, pores};
use crate::models::{self, ModelName, VerifiedModels};
use crate::runtime::Device;
use crate::units::PxPerMm;
use crate::zones;
use image::{GrayImage, ImageBuffer, Luma};
use ort::session::Session;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Pore DoG baseline: 5 % darker than a σ = 0.5 mm background.
const DOG_DARKNESS: f32 = 0.05;
const DOG_SIGMA_MM: f32 = 0.5;
/// Pigment baseline: melanin index above the patch median by this much.
const MELANIN_THRESHOLD: f32 = 0.08;
/// The stability check: ±15 % exposure and a mild colour cast, as
/// gains in linear light (R, G, B).
/// (printed label, JSON key, gains)
pub const LIGHTING_CHANGES: [(&str, &str, [f64; 3]); 3] = [
    ("x0.85", "exposure_0_85", [0.85; 3]),
    ("x1.15", "exposure_1_15", [1.15; 3]),
    ("cast", "colour_cast", [1.06, 1.0, 0.94]),
];
/// Other changes as mild, never used for a choice: how much the real-photo
/// figures depend on which three changes the check happens to make.
pub const OTHER_LIGHTING_CHANGES: [(&str, &str, [f64; 3]); 3] = [
    ("x0.9", "exposure_0_9", [0.9; 3]),
    ("x1.1", "exposure_1_1", [1.1; 3]),
    ("opposite cast", "opposite_colour_cast", [0.94, 1.0, 1.06]),
];
/// True pores between these diameters are "don't care": detecting them is
/// neither a hit nor a false alarm (the 0.25 mm threshold is not sharp in a
/// photo).
const DONT_CARE_MM: (f64, f64) = (0.2, 0.25);

#[derive(Debug, Deserialize)]
pub(crate) struct Truth {
    pub(crate) patches: Vec<Patch>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Patch {
    pub(crate) kind: String,
    pub(crate) file: String,
    pub(crate) px_per_mm: f64,
    /// The rendered skin's ITA° (skin tone).
    #[serde(default)]
    ita: Option<f64>,
    size_mm: f64,
    light: Light,
    #[serde(default)]
    pores: Vec<TruePore>,
}

#[derive(Debug, Deserialize)]
struct Light {
    exposure: f64,
    #[serde(default)]
    jpeg_quality: Option<u8>,
}

#[derive(Debug, Deserialize)]
struct TruePore {
    x_mm: f64,
    y_mm: f64,
    diameter_mm: f64,
}

struct Sessions {
    pores: Session,
    pigment: Session,
}

fn sessions(models_dir: Option<&Path>) -> Result<Sessions, SetupError> {
    let dir = models::locate_dir(models_dir)?;
    let m = VerifiedModels::load(
        &dir,
        &[ModelName::PoreSegmentation, ModelName::PigmentSegmentation],
    )?;
    Ok(Sessions {
        pores: m.session(ModelName::PoreSegmentation, Device::Cpu)?.0,
        pigment: m.session(ModelName::PigmentSegmentation, Device::Cpu)?.0,
    })
}

fn whole(
    photo: &Photo,
    mask: Option<&GrayImage>,
    scale: PxPerMm,
    canonical: f64,
) -> Option<CanonicalPatch> {
    let pyramid = Pyramid::of(photo, 16);
    let zone = zones::patch(photo.rgb.width(), photo.rgb.height(), mask);
    CanonicalPatch::from_zone(&pyramid, &zone, scale, canonical)
}

/// Probability map of the DoG baseline (1 where the pixel is dark enough).
fn dog_probability(patch: &CanonicalPatch) -> Vec<f32> {
    let (w, h) = (patch.width, patch.height);
    let luma: ImageBuffer<Luma<f32>, Vec<f32>> = ImageBuffer::from_fn(w, h, |x, y| {
        let i = ((y * w + x) * 3) as usize;
        Luma([crate::srgb::luma_601_f32(
            patch.rgb[i],
            patch.rgb[i + 1],
            patch.rgb[i + 2],
        )])
    });
    let bg = imageproc::filter::gaussian_blur_f32(&luma, DOG_SIGMA_MM * patch.px_per_mm as f32);
    luma.pixels()
        .zip(bg.pixels())
        .map(|(l, b)| {
            if (b.0[0] - l.0[0]) / b.0[0].max(1.0) > DOG_DARKNESS {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

fn melanin_probability(patch: &CanonicalPatch) -> Vec<f32> {
    let sep = Separator::default();
    let n = patch.mask.len();
    let mel: Vec<f32> = (0..n)
        .map(|i| sep.indices(patch.pixel_u8(i)).0 as f32)
        .collect();
    let mut inside: Vec<f32> = (0..n).filter(|&i| patch.mask[i]).map(|i| mel[i]).collect();
    inside.sort_by(f32::total_cmp);
    let median = inside.get(inside.len() / 2).copied().unwrap_or(0.0);
    mel.iter()
        .map(|&m| {
            if m - median > MELANIN_THRESHOLD {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

fn pore_components(patch: &CanonicalPatch, prob: &[f32]) -> Vec<Component> {
    let min_px = std::f64::consts::PI
        * (pores::DETECTION_THRESHOLD_MM / 2.0).powi(2)
        * patch.px_per_mm.powi(2);
    segment::components(
        prob,
        &patch.mask,
        patch.width,
        patch.height,
        pores::PROBABILITY_THRESHOLD,
    )
    .into_iter()
    .filter(|c| f64::from(c.area_px) >= min_px)
    .collect()
}

fn spot_components(patch: &CanonicalPatch, prob: &[f32]) -> Vec<Component> {
    segment::components(
        prob,
        &patch.mask,
        patch.width,
        patch.height,
        pigment::PROBABILITY_THRESHOLD,
    )
    .into_iter()
    .filter(|c| f64::from(c.area_px) / patch.px_per_mm.powi(2) >= pigment::MIN_SPOT_AREA_MM2)
    .collect()
}

#[derive(Default, Clone)]
struct PoreTally {
    tp: u64,
    fp: u64,
    fn_: u64,
    diameter_errors_mm: Vec<f64>,
    diameter_errors_rel: Vec<f64>,
}

impl PoreTally {
    fn f1(&self) -> (f64, f64, f64) {
        let p = self.tp as f64 / (self.tp + self.fp).max(1) as f64;
        let r = self.tp as f64 / (self.tp + self.fn_).max(1) as f64;
        (
            p,
            r,
            if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            },
        )
    }
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// The largest value, 0 for none (the figures are non-negative).
fn max_of(v: &[f64]) -> f64 {
    v.iter().cloned().fold(0.0, f64::max)
}

/// The limit on how far the pigmented area may move with lighting,
/// percent (relative).
const STABILITY_LIMIT_PCT: f64 = 10.0;

/// How many changes (percent) reach the limit.
fn at_or_over_limit(changes: &[f64]) -> usize {
    changes
        .iter()
        .filter(|&&w| w >= STABILITY_LIMIT_PCT)
        .count()
}

/// Greedy matching of detections to true pores by centre distance.
fn tally_pores(patch: &CanonicalPatch, comps: &[Component], truth: &Patch, tally: &mut PoreTally) {
    let px = patch.px_per_mm;
    let margin = 0.3;
    let inner = |x: f64, y: f64| {
        x > margin && y > margin && x < truth.size_mm - margin && y < truth.size_mm - margin
    };
    let mut used = vec![false; truth.pores.len()];
    let mut dets: Vec<(f64, f64, f64)> = comps
        .iter()
        .map(|c| {
            (
                f64::from(c.centroid.0) / px,
                f64::from(c.centroid.1) / px,
                2.0 * (f64::from(c.area_px) / std::f64::consts::PI).sqrt() / px,
            )
        })
        .collect();
    dets.sort_by(|a, b| b.2.total_cmp(&a.2));
    for (x, y, d) in dets {
        if !inner(x, y) {
            continue;
        }
        let best = truth
            .pores
            .iter()
            .enumerate()
            .filter(|(i, _)| !used[*i])
            .map(|(i, t)| (i, ((t.x_mm - x).powi(2) + (t.y_mm - y).powi(2)).sqrt(), t))
            .filter(|(_, dist, t)| *dist <= (0.6 * t.diameter_mm).max(0.2))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, _, t)) => {
                used[i] = true;
                if t.diameter_mm >= DONT_CARE_MM.1 {
                    tally.tp += 1;
                    tally.diameter_errors_mm.push(d - t.diameter_mm);
                    tally
                        .diameter_errors_rel
                        .push((d - t.diameter_mm) / t.diameter_mm);
                } else if t.diameter_mm < DONT_CARE_MM.0 {
                    tally.fp += 1;
                }
            }
            None => tally.fp += 1,
        }
    }
    for (i, t) in truth.pores.iter().enumerate() {
        if !used[i] && t.diameter_mm >= DONT_CARE_MM.1 && inner(t.x_mm, t.y_mm) {
            tally.fn_ += 1;
        }
    }
}

/// Predicted mask at the original resolution, from canonical components.
fn to_original(patch: &CanonicalPatch, comps: &[Component], width: u32, height: u32) -> Vec<bool> {
    let mut canon = vec![false; patch.mask.len()];
    for c in comps {
        for &i in &c.pixels {
            canon[i as usize] = true;
        }
    }
    let step = patch.map.a;
    let mut out = vec![false; (width * height) as usize];
    for y in 0..height {
        for x in 0..width {
            let u = ((x as f32 + 0.5 - patch.map.tx) / step + 0.5).floor();
            let v = ((y as f32 + 0.5 - patch.map.ty) / step + 0.5).floor();
            if u >= 0.0 && v >= 0.0 && (u as u32) < patch.width && (v as u32) < patch.height {
                out[(y * width + x) as usize] = canon[(v as u32 * patch.width + u as u32) as usize];
            }
        }
    }
    out
}

/// The ROI split at its median row into an upper and a lower half.
/// Pore readings from a mask at the photo's resolution, inside `roi`, as
/// `analyze` reports them: 8-connected outlines at least the detection
/// threshold across (equivalent diameter), per cm² of the ROI.
struct OutlineReadings {
    count: u64,
    density_per_cm2: f64,
    median_diameter_mm: f64,
    coverage_pct: f64,
}

fn outline_readings(
    mask: &[bool],
    roi: &[bool],
    width: u32,
    height: u32,
    scale: PxPerMm,
) -> OutlineReadings {
    let inside: Vec<f32> = mask
        .iter()
        .zip(roi)
        .map(|(&m, &r)| if m && r { 1.0 } else { 0.0 })
        .collect();
    let px_mm2 = 1.0 / (scale.get() * scale.get());
    let mut diameters = Vec::new();
    let mut area_mm2 = 0.0;
    for c in crate::measure::segment::components(&inside, roi, width, height, 0.5) {
        let a = c.area_px as f64 * px_mm2;
        let d = 2.0 * (a / std::f64::consts::PI).sqrt();
        if d >= pores::DETECTION_THRESHOLD_MM {
            diameters.push(d);
            area_mm2 += a;
        }
    }
    let roi_mm2 = roi.iter().filter(|&&r| r).count() as f64 * px_mm2;
    OutlineReadings {
        count: diameters.len() as u64,
        density_per_cm2: diameters.len() as f64 / (roi_mm2 / 100.0),
        median_diameter_mm: median(&diameters),
        coverage_pct: 100.0 * area_mm2 / roi_mm2,
    }
}

fn split_rows(roi: &[bool], width: u32) -> (Vec<bool>, Vec<bool>) {
    let w = width as usize;
    let rows: Vec<usize> = (0..roi.len()).filter(|&i| roi[i]).map(|i| i / w).collect();
    let mid = rows.get(rows.len() / 2).copied().unwrap_or(0);
    let upper = roi
        .iter()
        .enumerate()
        .map(|(i, &r)| r && i / w < mid)
        .collect();
    let lower = roi
        .iter()
        .enumerate()
        .map(|(i, &r)| r && i / w >= mid)
        .collect();
    (upper, lower)
}

/// Pixel precision and recall inside the ROI.
fn precision_recall(pred: &[bool], truth: &[bool], roi: &[bool]) -> (f64, f64) {
    let (mut inter, mut p, mut t) = (0u64, 0u64, 0u64);
    for i in (0..pred.len()).filter(|&i| roi[i]) {
        inter += u64::from(pred[i] && truth[i]);
        p += u64::from(pred[i]);
        t += u64::from(truth[i]);
    }
    (
        inter as f64 / p.max(1) as f64,
        inter as f64 / t.max(1) as f64,
    )
}

fn dice(pred: &[bool], truth: &[bool], roi: Option<&[bool]>) -> f64 {
    let (mut inter, mut p, mut t) = (0u64, 0u64, 0u64);
    for i in 0..pred.len() {
        if roi.is_some_and(|r| !r[i]) {
            continue;
        }
        inter += u64::from(pred[i] && truth[i]);
        p += u64::from(pred[i]);
        t += u64::from(truth[i]);
    }
    if p + t == 0 {
        1.0
    } else {
        2.0 * inter as f64 / (p + t) as f64
    }
}

/// Runs every evaluation and returns the figures as JSON; prints tables.
pub fn run(
    synthetic: &Path,
    real_pores: Option<(&Path, PxPerMm)>,
    models_dir: Option<&Path>,
) -> Result<serde_json::Value, SetupError> {
    let mut s = sessions(models_dir)?;
    let bad = |p: &Path, e: String| SetupError::Input {
        path: p.to_path_buf(),
        reason: e,
    };
    let truth_path = synthetic.join("truth.json");
    let text = std::fs::read_to_string(&truth_path).map_err(|e| bad(&truth_path, e.to_string()))?;
    let truth: Truth = serde_json::from_str(&text).map_err(|e| bad(&truth_path, e.to_string()))?;
    // As `analyze` decodes: a 16-bit set is measured at 16 bits.
    let load = |f: &str| {
        image::open(synthetic.join(f))
            .map(Photo::from_decoded)
            .map_err(|e| bad(&synthetic.join(f), e.to_string()))
    };
    let infer = |e: ort::Error| SetupError::ModelLoad {
        name: "evaluation".into(),
        reason: e.to_string(),
    };

    // ---- pores, synthetic
    let mut pore_cells: BTreeMap<(u64, u64), (PoreTally, PoreTally)> = BTreeMap::new();
    // The same pores by the skin's ITA category (lightest first), model | DoG.
    let mut pore_tones: BTreeMap<ItaCategory, (PoreTally, PoreTally)> = BTreeMap::new();
    for t in truth.patches.iter().filter(|p| p.kind == "pores") {
        let photo = load(&t.file)?;
        let scale =
            PxPerMm::new(t.px_per_mm).ok_or_else(|| bad(&truth_path, "bad px_per_mm".into()))?;
        let Some(patch) = whole(&photo, None, scale, pores::CANONICAL_PX_PER_MM) else {
            continue;
        };
        let prob = segment::probability(&mut s.pores, &patch, pores::INPUT).map_err(infer)?;
        let key = (
            (t.px_per_mm * 10.0) as u64,
            (t.light.exposure * 100.0).round() as u64,
        );
        let (model, dog) = (
            pore_components(&patch, &prob),
            pore_components(&patch, &dog_probability(&patch)),
        );
        let cell = pore_cells.entry(key).or_default();
        tally_pores(&patch, &model, t, &mut cell.0);
        tally_pores(&patch, &dog, t, &mut cell.1);
        if let Some(ita) = t.ita {
            let tone = pore_tones.entry(ItaCategory::from_ita(ita)).or_default();
            tally_pores(&patch, &model, t, &mut tone.0);
            tally_pores(&patch, &dog, t, &mut tone.1);
        }
    }
    println!("Pores, synthetic (held out): count F1 and diameter error, model | DoG baseline");
    println!(
        "{:>7} {:>8} | {:>6} {:>6} {:>6} {:>9} {:>8} | {:>6} {:>9}",
        "px/mm", "exposure", "F1", "prec", "recall", "|Δd| mm", "Δd %", "F1", "|Δd| mm"
    );
    let mut pore_rows = Vec::new();
    let (mut all_m, mut all_b) = (PoreTally::default(), PoreTally::default());
    for ((px, ex), (m, b)) in &pore_cells {
        let (p, r, f) = m.f1();
        let abs_m: Vec<f64> = m.diameter_errors_mm.iter().map(|e| e.abs()).collect();
        let abs_b: Vec<f64> = b.diameter_errors_mm.iter().map(|e| e.abs()).collect();
        println!(
            "{:>7.1} {:>8.2} | {:>6.3} {:>6.3} {:>6.3} {:>9.3} {:>+8.1} | {:>6.3} {:>9.3}",
            *px as f64 / 10.0,
            *ex as f64 / 100.0,
            f,
            p,
            r,
            median(&abs_m),
            100.0 * median(&m.diameter_errors_rel),
            b.f1().2,
            median(&abs_b)
        );
        pore_rows.push(json!({"px_per_mm": *px as f64 / 10.0, "exposure": *ex as f64 / 100.0,
            "model": {"f1": f, "precision": p, "recall": r, "median_abs_diameter_error_mm": median(&abs_m), "median_diameter_error_pct": 100.0 * median(&m.diameter_errors_rel)},
            "dog_baseline": {"f1": b.f1().2, "median_abs_diameter_error_mm": median(&abs_b)}}));
        for (all, one) in [(&mut all_m, m), (&mut all_b, b)] {
            all.tp += one.tp;
            all.fp += one.fp;
            all.fn_ += one.fn_;
            all.diameter_errors_mm.extend(&one.diameter_errors_mm);
            all.diameter_errors_rel.extend(&one.diameter_errors_rel);
        }
    }
    let abs_all: Vec<f64> = all_m.diameter_errors_mm.iter().map(|e| e.abs()).collect();
    println!(
        "{:>16} | {:>6.3} {:>6.3} {:>6.3} {:>9.3} {:>+8.1} | {:>6.3}",
        "all",
        all_m.f1().2,
        all_m.f1().0,
        all_m.f1().1,
        median(&abs_all),
        100.0 * median(&all_m.diameter_errors_rel),
        all_b.f1().2
    );

    println!(
        "\nPores, synthetic, by the skin's ITA category: model recall (F1, precision) | DoG recall"
    );
    let mut tone_rows = Vec::new();
    for (category, (m, b)) in &pore_tones {
        let name = crate::plan::category_key(*category);
        let (p, r, f) = m.f1();
        let planted = m.tp + m.fn_;
        println!(
            "{name:>16}: {r:.3} ({f:.3}, {p:.3}; {planted} pores) | {:.3}",
            b.f1().1
        );
        tone_rows.push(json!({"ita_category": name, "pores": planted, "model": {"recall": r, "precision": p, "f1": f}, "dog_baseline": {"recall": b.f1().1, "f1": b.f1().2}}));
    }

    // ---- pores, real close-up
    let mut real = serde_json::Value::Null;
    if let Some((dir, scale)) = real_pores {
        let photo = image::open(dir.join("cheek_input.png"))
            .map(Photo::from_decoded)
            .map_err(|e| bad(dir, e.to_string()))?;
        let rgb = &photo.rgb;
        let label = image::open(dir.join("cheek_pore_label.png"))
            .map_err(|e| bad(dir, e.to_string()))?
            .into_rgba8();
        let roi_img = image::open(dir.join("cheek_roi_mask.png"))
            .map_err(|e| bad(dir, e.to_string()))?
            .into_rgb8();
        let roi: Vec<bool> = roi_img.pixels().map(|p| p.0[0] > 0).collect();
        let truth_mask: Vec<bool> = label.pixels().map(|p| p.0[0] > 0).collect();
        let roi_gray = GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
            Luma([if roi_img.get_pixel(x, y).0[0] > 0 {
                255
            } else {
                0
            }])
        });
        let patch = whole(&photo, Some(&roi_gray), scale, pores::CANONICAL_PX_PER_MM)
            .ok_or_else(|| bad(dir, "empty ROI".into()))?;
        let prob = segment::probability(&mut s.pores, &patch, pores::INPUT).map_err(infer)?;
        let model = to_original(
            &patch,
            &pore_components(&patch, &prob),
            rgb.width(),
            rgb.height(),
        );
        let base = to_original(
            &patch,
            &pore_components(&patch, &dog_probability(&patch)),
            rgb.width(),
            rgb.height(),
        );
        let (dm, db) = (
            dice(&model, &truth_mask, Some(&roi)),
            dice(&base, &truth_mask, Some(&roi)),
        );
        let (pm, rm) = precision_recall(&model, &truth_mask, &roi);
        // Training variants were chosen on the ROI's upper half only; the
        // lower half was never looked at while choosing.
        let (upper, lower) = split_rows(&roi, rgb.width());
        let (du, dl) = (
            dice(&model, &truth_mask, Some(&upper)),
            dice(&model, &truth_mask, Some(&lower)),
        );
        println!(
            "\nPores, real labelled close-up ({}), {:.2} px/mm: Dice in ROI model {dm:.3} (pixel precision {pm:.3}, recall {rm:.3}; upper half {du:.3}, used to choose training variants; lower half {dl:.3}, held out) | DoG baseline {db:.3} | published PoreNet ≈ 0.46",
            dir.display(),
            scale.get()
        );
        dump_mask("real_pores_model.png", &model, rgb.width(), rgb.height());
        // The readings a clinic sees, from the expert's outlines and from
        // the model's, over the same skin: whether real normal skin reads
        // high because of the segmentation or because of the score.
        let (expert, found) = (
            outline_readings(&truth_mask, &roi, rgb.width(), rgb.height(), scale),
            outline_readings(&model, &roi, rgb.width(), rgb.height(), scale),
        );
        println!(
            "  readings in the ROI (pores ≥ {} mm): expert outlines density {:.1}/cm², median diameter {:.3} mm, coverage {:.2} % (score {:.0}) | model {:.1}/cm², {:.3} mm, {:.2} % (score {:.0})",
            pores::DETECTION_THRESHOLD_MM,
            expert.density_per_cm2,
            expert.median_diameter_mm,
            expert.coverage_pct,
            crate::score::pores(expert.coverage_pct, expert.count).value,
            found.density_per_cm2,
            found.median_diameter_mm,
            found.coverage_pct,
            crate::score::pores(found.coverage_pct, found.count).value,
        );
        let readings = |r: &OutlineReadings| {
            json!({"count": r.count, "density_per_cm2": r.density_per_cm2,
                   "median_diameter_mm": r.median_diameter_mm, "coverage_pct": r.coverage_pct,
                   "severity": crate::score::pores(r.coverage_pct, r.count).value})
        };
        real = json!({"readings_expert_outlines": readings(&expert), "readings_model": readings(&found),"image": dir.join("cheek_input.png").display().to_string(), "px_per_mm": scale.get(), "dice_model": dm,
            "dice_model_upper_half_selection": du, "dice_model_lower_half_held_out": dl,
            "pixel_precision_model": pm, "pixel_recall_model": rm, "dice_dog_baseline": db, "porenet_published": 0.46});
    }

    // ---- pigment, synthetic + stability under exposure and colour cast
    println!("\nPigmented spots, synthetic (held out): pixel Dice and total-area error; model: its components; measured: the spots the analysis keeps (more melanin than the skin around them) and the area it counts | melanin-threshold baseline");
    println!(
        "{:>7} {:>8} | {:>6} {:>10} | {:>6} {:>10} | {:>6} {:>10}",
        "px/mm", "exposure", "Dice", "area err %", "Dice", "area err %", "Dice", "area err %"
    );
    let mut cells: BTreeMap<(u64, u64), Vec<[f64; 6]>> = BTreeMap::new();
    let mut stability = Vec::new();
    let mut stability_by_px: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    let (mut moved_near_spots_mm2, mut moved_elsewhere_mm2) = (0.0, 0.0);
    let (mut stability_steady, mut stability_unsteady) = (Vec::new(), Vec::new());
    let (mut recorded_png, mut recorded_jpeg) = (Vec::new(), Vec::new());
    for t in truth.patches.iter().filter(|p| p.kind == "spots") {
        let photo = load(&t.file)?;
        let rgb = &photo.rgb;
        let label = load(&t.file.replace(".png", "_label.png"))?.rgb;
        let truth_mask: Vec<bool> = label.pixels().map(|p| p.0[0] > 127).collect();
        let scale =
            PxPerMm::new(t.px_per_mm).ok_or_else(|| bad(&truth_path, "bad px_per_mm".into()))?;
        let canonical = |img: &Photo| {
            whole(img, None, scale, pigment::CANONICAL_PX_PER_MM)
                .ok_or_else(|| bad(&truth_path, "empty".into()))
        };
        // The pigment model's spots, in the photo's pixels, and the skin it
        // is unsure of, mm² (see `pigment::area_caution`), from its
        // probability over a patch.
        let spots_of = |patch: &CanonicalPatch, prob: &[f32]| {
            let borderline_mm2 = patch.pixels_mm2(&pigment::borderline_pixels(prob, &patch.mask));
            let spots = spot_components(patch, prob);
            (
                to_original(patch, &spots, rgb.width(), rgb.height()),
                borderline_mm2,
            )
        };
        let model_spots =
            |patch: &CanonicalPatch, s: &mut Session| -> Result<(Vec<bool>, f64), SetupError> {
                let prob = segment::probability(s, patch, pigment::INPUT).map_err(infer)?;
                Ok(spots_of(patch, &prob))
            };
        let patch = canonical(&photo)?;
        let prob = segment::probability(&mut s.pigment, &patch, pigment::INPUT).map_err(infer)?;
        let (m, borderline_mm2) = spots_of(&patch, &prob);
        // As the analysis reports them: the components `measure_spots`
        // keeps, and the area it counts (each weighted by its melanin excess).
        let (kept, counted_mm2) =
            match pigment::measure_spots(&patch, &prob, &pigment::colours(&patch)) {
                Ok(r) => {
                    let comps: Vec<Component> =
                        r.spots.iter().map(|d| d.component.clone()).collect();
                    let counted: f64 = r
                        .spots
                        .iter()
                        .map(|d| d.weight * patch.pixels_mm2(&d.component.pixels))
                        .sum();
                    (
                        to_original(&patch, &comps, rgb.width(), rgb.height()),
                        counted,
                    )
                }
                Err(_) => (vec![false; truth_mask.len()], 0.0),
            };
        // The classical baseline, on the original photo only.
        let b = to_original(
            &patch,
            &spot_components(&patch, &melanin_probability(&patch)),
            rgb.width(),
            rgb.height(),
        );
        let area = |p: &[bool]| p.iter().filter(|&&v| v).count() as f64;
        let px_mm2 = 1.0 / (t.px_per_mm * t.px_per_mm);
        let steady = pigment::area_caution(area(&m) * px_mm2, borderline_mm2).is_none();
        let true_area = area(&truth_mask);
        let area_err = |p: &[bool]| {
            if true_area > 0.0 {
                100.0 * (area(p) - true_area) / true_area
            } else {
                f64::NAN
            }
        };
        let key = (
            (t.px_per_mm * 10.0) as u64,
            (t.light.exposure * 100.0).round() as u64,
        );
        let true_mm2 = true_area * px_mm2;
        cells.entry(key).or_default().push([
            dice(&m, &truth_mask, None),
            area_err(&m),
            dice(&b, &truth_mask, None),
            area_err(&b),
            dice(&kept, &truth_mask, None),
            if true_mm2 > 0.0 {
                100.0 * (counted_mm2 - true_mm2) / true_mm2
            } else {
                f64::NAN
            },
        ]);
        if key.1 == 100 {
            let a0 = area(&m);
            if a0 > 0.0 {
                // Where the area moves: within 2 mm of a true spot, or
                // elsewhere (findings on unlabelled skin that come and go).
                let near = near_truth(&truth_mask, rgb.width(), rgb.height(), scale);
                let split = |p: &[bool]| {
                    let close = p.iter().zip(&near).filter(|(&v, &c)| v && c).count() as f64;
                    [close, area(p) - close]
                };
                let s0 = split(&m);
                let mut worst: f64 = 0.0;
                let mut worst_split = [0.0; 2];
                for (_, _, gains) in LIGHTING_CHANGES {
                    let (mm, _) =
                        model_spots(&canonical(&relight_photo(&photo, gains))?, &mut s.pigment)?;
                    let change = (area(&mm) - a0).abs() / a0;
                    if change >= worst {
                        let s1 = split(&mm);
                        worst_split = [(s1[0] - s0[0]).abs(), (s1[1] - s0[1]).abs()];
                    }
                    worst = worst.max(change);
                }
                moved_near_spots_mm2 += worst_split[0] * px_mm2;
                moved_elsewhere_mm2 += worst_split[1] * px_mm2;
                stability.push(100.0 * worst);
                if steady {
                    stability_steady.push(100.0 * worst);
                } else {
                    stability_unsteady.push(100.0 * worst);
                }
                stability_by_px
                    .entry(key.0)
                    .or_default()
                    .push(100.0 * worst);
                // A 16-bit set also stands for the scene recorded anew
                // under each light at 8 bits (each rendering rounded on its
                // own), as PNG and as JPEG at the patch's quality: a new
                // photo rather than an edit of the 8-bit one.
                if photo.deep.is_some() {
                    let quality = t.light.jpeg_quality.unwrap_or(90);
                    for (jpeg, out) in [(false, &mut recorded_png), (true, &mut recorded_jpeg)] {
                        let area_of = |p: &Photo, s: &mut Session| -> Result<f64, SetupError> {
                            let rgb = if jpeg {
                                jpeg_round_trip(&p.rgb, quality)
                                    .map_err(|e| bad(&truth_path, e.to_string()))?
                            } else {
                                p.rgb.clone()
                            };
                            Ok(area(&model_spots(&canonical(&rgb.into())?, s)?.0))
                        };
                        let r0 = area_of(&photo, &mut s.pigment)?;
                        if r0 > 0.0 {
                            let mut worst: f64 = 0.0;
                            for (_, _, gains) in LIGHTING_CHANGES {
                                let r = area_of(&relight_photo(&photo, gains), &mut s.pigment)?;
                                worst = worst.max((r - r0).abs() / r0);
                            }
                            out.push(100.0 * worst);
                        }
                    }
                }
            }
        }
    }
    let mut pigment_rows = Vec::new();
    for ((px, ex), v) in &cells {
        let col = |k: usize| {
            median(
                &v.iter()
                    .map(|r| r[k])
                    .filter(|x| x.is_finite())
                    .collect::<Vec<_>>(),
            )
        };
        let abs_col = |k: usize| {
            median(
                &v.iter()
                    .map(|r| r[k].abs())
                    .filter(|x| x.is_finite())
                    .collect::<Vec<_>>(),
            )
        };
        println!(
            "{:>7.1} {:>8.2} | {:>6.3} {:>+10.1} | {:>6.3} {:>+10.1} | {:>6.3} {:>+10.1}",
            *px as f64 / 10.0,
            *ex as f64 / 100.0,
            col(0),
            col(1),
            col(4),
            col(5),
            col(2),
            col(3)
        );
        pigment_rows.push(json!({"px_per_mm": *px as f64 / 10.0, "exposure": *ex as f64 / 100.0,
            "model": {"median_dice": col(0), "median_area_error_pct": col(1), "median_abs_area_error_pct": abs_col(1)},
            "measured": {"median_dice": col(4), "median_area_error_pct": col(5), "median_abs_area_error_pct": abs_col(5)},
            "melanin_baseline": {"median_dice": col(2), "median_area_error_pct": col(3)}}));
    }
    println!(
        "\nPigmented area under exposure x0.85 / x1.15 and a colour cast (R x1.06, B x0.94), worst relative change per patch: median {:.1} %, max {:.1} % over {} patches",
        median(&stability),
        max_of(&stability),
        stability.len()
    );
    println!(
        "  summed over patches, the worst change moved {moved_near_spots_mm2:.0} mm² within 2 mm of a true spot and {moved_elsewhere_mm2:.0} mm² elsewhere"
    );
    println!(
        "  patches marked area_steady: {} (median {:.1} %, max {:.1} %); marked unsteady: {} (median {:.1} %, max {:.1} %)",
        stability_steady.len(), median(&stability_steady), max_of(&stability_steady),
        stability_unsteady.len(), median(&stability_unsteady), max_of(&stability_unsteady)
    );
    for (px, v) in &stability_by_px {
        println!(
            "  at {:>4.1} px/mm: median {:.1} %, max {:.1} % ({} patches)",
            *px as f64 / 10.0,
            median(v),
            max_of(v),
            v.len()
        );
    }
    println!(
        "  at 10 % or more: {} of {} patches",
        at_or_over_limit(&stability),
        stability.len()
    );
    let recorded = if recorded_png.is_empty() {
        serde_json::Value::Null
    } else {
        let mut out = json!({});
        for (label, key, v) in [
            ("PNG", "png", &recorded_png),
            ("JPEG at the patch's quality", "jpeg", &recorded_jpeg),
        ] {
            println!(
                "  the scene recorded anew under each light at 8 bits, {label}: median {:.1} %, max {:.1} %, {} of {} at 10 % or more",
                median(v), max_of(v), at_or_over_limit(v), v.len()
            );
            out[key] = json!({"median": median(v), "max": max_of(v), "patches": v.len(), "at_or_over_10_pct": at_or_over_limit(v)});
        }
        out
    };
    let stability_rows: Vec<_> = stability_by_px
        .iter()
        .map(|(px, v)| json!({"px_per_mm": *px as f64 / 10.0, "median_pct": median(v), "max_pct": max_of(v), "patches": v.len()}))
        .collect();
    Ok(json!({
        "pigment_stability_by_px_per_mm": stability_rows,
        "pores_synthetic": pore_rows,
        "pores_synthetic_by_ita": tone_rows,
        "pores_synthetic_all": {"model_f1": all_m.f1().2, "model_precision": all_m.f1().0, "model_recall": all_m.f1().1,
            "model_median_abs_diameter_error_mm": median(&abs_all), "dog_baseline_f1": all_b.f1().2},
        "pores_real": real,
        "pigment_synthetic": pigment_rows,
        "pigment_stability_recorded_at_8_bits": recorded,
        "pigment_stability_worst_change_pct": {"median": median(&stability), "max": max_of(&stability), "patches": stability.len(),
            "at_or_over_10_pct": at_or_over_limit(&stability),
            "moved_near_true_spots_mm2": moved_near_spots_mm2, "moved_elsewhere_mm2": moved_elsewhere_mm2,
            "marked_steady": {"patches": stability_steady.len(), "median": median(&stability_steady), "max": max_of(&stability_steady)},
            "marked_unsteady": {"patches": stability_unsteady.len(), "median": median(&stability_unsteady), "max": max_of(&stability_unsteady)}},
    }))
}

/// Per region ("face" or a zone): the pigmented share (%), or its worst
/// change (%), and whether the reading was marked `area_steady`.
type Shares = BTreeMap<String, (f64, bool)>;

/// Pixels within 2 mm (square neighbourhood) of a labelled spot pixel.
fn near_truth(truth: &[bool], width: u32, height: u32, scale: PxPerMm) -> Vec<bool> {
    let binary = GrayImage::from_fn(width, height, |x, y| {
        Luma([if truth[(y * width + x) as usize] {
            255
        } else {
            0
        }])
    });
    let radius = (2.0 * scale.get()).round().clamp(1.0, 255.0) as u8;
    imageproc::morphology::dilate(&binary, imageproc::distance_transform::Norm::LInf, radius)
        .pixels()
        .map(|p| p.0[0] > 0)
        .collect()
}

/// The stability check on real photos: each photo under `inputs`
/// analysed as it is, at ×0.85 and ×1.15 exposure and under a colour cast
/// (R ×1.06, B ×0.94; all in linear light), through the whole `analyze`
/// pipeline; the change of the pigmented share of the measured skin, for
/// the face and per zone. Faces by default; with `patch_scale`, close-ups as
/// `analyze --patch --px-per-mm` reads them. For faces it also measures the
/// relit photos on the original's face geometry (scale, zones), which
/// separates the pigment measurement's own residual from the face model's
/// response to lighting. Each photo is also analysed under
/// `OTHER_LIGHTING_CHANGES`, to show how much the figures depend on the
/// particular changes.
///
/// `depth`: at which depth the changed photos are re-encoded. At 16 bits
/// each photo is first carried at 16 bits (its 8-bit values × 257), so the
/// changes add no 8-bit rounding: what is left is the normalisation's
/// own residual on real skin.
pub fn real_photo_stability(
    inputs: &[std::path::PathBuf],
    patch_scale: Option<PxPerMm>,
    models_dir: Option<&Path>,
    depth: Depth,
) -> Result<serde_json::Value, SetupError> {
    use crate::measure::PigmentReport;
    let analyzer = crate::pipeline::Analyzer::new(crate::pipeline::Options {
        models_dir: models_dir.map(Path::to_path_buf),
        px_per_mm: patch_scale,
        patch: patch_scale.map(|_| crate::pipeline::PatchOptions::default()),
        ..Default::default()
    })?;
    // Pigmented share (%) of the face and of each measured zone.
    let shares = |p: &PigmentReport| -> Shares {
        let mut out = BTreeMap::new();
        if let Some(f) = &p.face {
            out.insert("face".to_string(), (f.pigmented_pct, f.area_steady));
        }
        for z in &p.zones {
            if let Some(m) = &z.metrics {
                out.insert(
                    z.zone.as_str().to_string(),
                    (m.pigmented_pct, m.area_steady),
                );
            }
        }
        out
    };
    // Severity score of the face and of each measured zone.
    let severities = |p: &PigmentReport| -> BTreeMap<String, crate::score::Score> {
        p.face
            .iter()
            .map(|f| ("face".to_string(), f.severity))
            .chain(p.zones.iter().filter_map(|z| {
                z.metrics
                    .as_ref()
                    .map(|m| (z.zone.as_str().to_string(), m.severity))
            }))
            .collect()
    };
    // Whether the stated uncertainty covers the changes: (regions compared,
    // how many moved by more than one stated standard deviation).
    let (mut scores_compared, mut scores_beyond) = (0usize, 0usize);
    // Worst relative change (%) of each region over the variants.
    let worst = |base: &Shares, variants: &[Shares]| {
        base.iter()
            .filter(|(_, (b, _))| *b > 0.0)
            .map(|(name, &(b, steady))| {
                let w = variants
                    .iter()
                    .map(|v| {
                        v.get(name)
                            .map_or(f64::INFINITY, |(x, _)| 100.0 * (x - b).abs() / b)
                    })
                    .fold(0.0, f64::max);
                (name.clone(), (w, steady))
            })
            .collect::<Shares>()
    };
    let what = match patch_scale {
        Some(scale) => format!("real close-ups (--patch at {} px/mm)", scale.get()),
        None => "real faces".into(),
    };
    let shown_inputs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    println!(
        "\nPigmented share of {what} ({}) under the same exposure and colour changes:",
        shown_inputs.join(", ")
    );
    let mut rows = Vec::new();
    let (mut zone_changes, mut zone_changes_fixed) = (Vec::new(), Vec::new());
    let mut steady_fixed = Vec::new();
    let mut zone_changes_other = Vec::new();
    for item in crate::ingest::discover(inputs)? {
        let name = item
            .path
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned());
        // Decoded as `analyze` decodes (orientation, bit depth, alpha).
        let mut info = crate::ingest::InputInfo::unread(&item.path);
        let rgb = match crate::ingest::load(&item.path, &Default::default(), &mut info) {
            Ok(photo) if depth == Depth::Sixteen && photo.deep.is_none() => Photo {
                deep: Some(image::DynamicImage::ImageRgb8(photo.rgb.clone()).into_rgb16()),
                ..photo
            },
            Ok(photo) => photo,
            Err(e) => {
                println!("  {name:<28} no figure: {}", e.message);
                rows.push(json!({"photo": name, "pigmented_pct": null, "reason": e.message}));
                continue;
            }
        };
        let base_rec = analyzer.analyze_image(rgb.clone(), &item);
        let base = base_rec
            .pigmentation
            .as_ref()
            .map(shares)
            .unwrap_or_default();
        let Some(&(face_base, face_steady)) = base.get("face").filter(|(b, _)| *b > 0.0) else {
            let why = base_rec
                .pigmentation
                .and_then(|p| p.reason)
                .or_else(|| base_rec.error.map(|e| e.message))
                .unwrap_or_else(|| "no pigmented skin found".into());
            println!("  {name:<28} no figure: {why}");
            rows.push(json!({"photo": name, "pigmented_pct": null, "reason": why}));
            continue;
        };
        let relit: Vec<Photo> = LIGHTING_CHANGES
            .iter()
            .map(|(_, _, g)| relight_photo(&rgb, *g))
            .collect();
        let scale_of = |rec: &crate::report::ImageRecord| {
            rec.scale
                .as_ref()
                .and_then(|s| s.px_per_mm)
                .map(|s| s.get())
        };
        let base_scale = scale_of(&base_rec);
        // The face model's own response to the lighting change: how far
        // the iris scale moved (percent).
        let base_scores = base_rec
            .pigmentation
            .as_ref()
            .map(severities)
            .unwrap_or_default();
        let mut analyse = |img: Photo| {
            let rec = analyzer.analyze_image(img, &item);
            let moved = base_scale
                .zip(scale_of(&rec))
                .map_or(0.0, |(a, b)| 100.0 * (b - a).abs() / a);
            let scores = rec
                .pigmentation
                .as_ref()
                .map(severities)
                .unwrap_or_default();
            for (region, s0) in &base_scores {
                if let Some(s1) = scores.get(region) {
                    scores_compared += 1;
                    scores_beyond += usize::from((s1.value - s0.value).abs() > s0.uncertainty);
                }
            }
            (
                rec.pigmentation.as_ref().map(shares).unwrap_or_default(),
                moved,
            )
        };
        let (variants, moved): (Vec<_>, Vec<f64>) =
            relit.iter().map(|img| analyse(img.clone())).unzip();
        let scale_moved_pct = moved.into_iter().fold(0.0, f64::max);
        let other: Vec<_> = OTHER_LIGHTING_CHANGES
            .iter()
            .map(|(_, _, g)| analyse(relight_photo(&rgb, *g)).0)
            .collect();
        let other = worst(&base, &other);
        let face_changes: Vec<Option<f64>> = variants
            .iter()
            .map(|v| {
                v.get("face")
                    .map(|(x, _)| 100.0 * (x - face_base) / face_base)
            })
            .collect();
        let end_to_end = worst(&base, &variants);
        let face_worst = end_to_end.get("face").map_or(f64::INFINITY, |w| w.0);
        let zones_only = |m: &Shares| -> Vec<(f64, bool)> {
            m.iter()
                .filter(|(k, _)| k.as_str() != "face")
                .map(|(_, &v)| v)
                .collect()
        };
        zone_changes.extend(zones_only(&end_to_end).iter().map(|w| w.0));
        zone_changes_other.extend(zones_only(&other).iter().map(|w| w.0));
        let other_face_worst = other.get("face").map_or(f64::INFINITY, |w| w.0);
        let fixed = if patch_scale.is_none() {
            match analyzer.pigmentation_on_fixed_geometry(&rgb, &relit) {
                // The original's own reading is `base`: same geometry.
                Ok(reports) => Some(worst(
                    &base,
                    &reports.iter().map(shares).collect::<Vec<_>>(),
                )),
                Err(e) => {
                    println!("  {name:<28} fixed geometry: {}", e.message);
                    None
                }
            }
        } else {
            None
        };
        let shown: Vec<String> = LIGHTING_CHANGES
            .iter()
            .zip(&face_changes)
            .map(|((label, _, _), c)| {
                c.map_or(format!("{label} n/a"), |c| format!("{label} {c:+.1} %"))
            })
            .collect();
        let zone_summary = |w: &[(f64, bool)]| {
            let v: Vec<f64> = w.iter().map(|x| x.0).collect();
            format!("median {:.1} %, max {:.1} %", median(&v), max_of(&v))
        };
        println!(
            "  {name:<28} {face_base:5.2} % pigmented (area_steady {face_steady}); {}; worst {face_worst:.1} %",
            shown.join(", ")
        );
        if patch_scale.is_none() {
            println!(
                "  {:<28} zones: worst change {}; the scale moved by up to {scale_moved_pct:.1} %",
                "",
                zone_summary(&zones_only(&end_to_end))
            );
        }
        let other_labels = OTHER_LIGHTING_CHANGES.map(|c| c.0).join(", ");
        println!(
            "  {:<28} under {other_labels} instead: face worst {other_face_worst:.1} %{}",
            "",
            if patch_scale.is_none() {
                format!(", zones {}", zone_summary(&zones_only(&other)))
            } else {
                String::new()
            }
        );
        if let Some(f) = &fixed {
            zone_changes_fixed.extend(zones_only(f).iter().map(|w| w.0));
            steady_fixed.extend(zones_only(f).iter().filter(|w| w.1).map(|w| w.0));
            println!(
                "  {:<28} on the original's face geometry: face worst {:.1} %, zones {}",
                "",
                f.get("face").map_or(f64::INFINITY, |w| w.0),
                zone_summary(&zones_only(f))
            );
        }
        let change_pct: serde_json::Map<String, serde_json::Value> = LIGHTING_CHANGES
            .iter()
            .zip(&face_changes)
            .map(|((_, key, _), c)| (key.to_string(), json!(c)))
            .collect();
        let as_json = |m: &Shares| -> serde_json::Value {
            m.iter()
                .filter(|(k, _)| k.as_str() != "face")
                .map(|(k, (w, steady))| {
                    (
                        k.clone(),
                        json!({"worst_change_pct": w, "area_steady": steady}),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        rows.push(
            json!({"photo": name, "pigmented_pct": face_base, "area_steady": face_steady, "change_pct": change_pct,
            "worst_change_pct": face_worst, "zones": as_json(&end_to_end), "scale_moved_pct": patch_scale.is_none().then_some(scale_moved_pct),
            "other_changes": {"worst_change_pct": other_face_worst, "zones": as_json(&other)},
            "fixed_geometry": fixed.as_ref().map(|f| json!({
                "face_worst_change_pct": f.get("face").map(|w| w.0), "zones": as_json(f)}))}),
        );
    }
    let mut summary = json!({});
    if !zone_changes.is_empty() && patch_scale.is_none() {
        println!(
            "  all zones: worst change median {:.1} %, {} of {} at 10 % or more; on the original's face geometry median {:.1} %, {} of {}; zones marked area_steady: {} (max {:.1} %)",
            median(&zone_changes), at_or_over_limit(&zone_changes), zone_changes.len(),
            median(&zone_changes_fixed), at_or_over_limit(&zone_changes_fixed), zone_changes_fixed.len(),
            steady_fixed.len(), max_of(&steady_fixed)
        );
        println!(
            "  all zones under the other changes: worst change median {:.1} %, {} of {} at 10 % or more",
            median(&zone_changes_other), at_or_over_limit(&zone_changes_other), zone_changes_other.len()
        );
        println!(
            "  severity scores (face and zones, all six changes): {scores_beyond} of {scores_compared} moved by more than their stated uncertainty (one standard deviation)"
        );
        summary = json!({"zones": zone_changes.len(), "zones_median_worst_change_pct": median(&zone_changes),
            "zones_at_or_over_10_pct": at_or_over_limit(&zone_changes),
            "fixed_geometry_zones_median_worst_change_pct": median(&zone_changes_fixed),
            "fixed_geometry_zones_at_or_over_10_pct": at_or_over_limit(&zone_changes_fixed),
            "fixed_geometry_zones_marked_steady": steady_fixed.len(),
            "fixed_geometry_zones_marked_steady_max_change_pct": max_of(&steady_fixed),
            "other_changes_zones_median_worst_change_pct": median(&zone_changes_other),
            "other_changes_zones_at_or_over_10_pct": at_or_over_limit(&zone_changes_other),
            "severity_scores_compared": scores_compared, "severity_scores_beyond_stated_uncertainty": scores_beyond});
    }
    Ok(json!({"photos": rows, "summary": summary}))
}

/// Writes a `w`×`h` mask (255 where true) as `file` in the folder that
/// `DERMASCORE_EVAL_DUMP` names, for looking at what was scored; nothing
/// when it is unset, a warning when the file cannot be written.
fn dump_mask(file: &str, mask: &[bool], w: u32, h: u32) {
    let Some(dump) = std::env::var_os("DERMASCORE_EVAL_DUMP") else {
        return;
    };
    let img = GrayImage::from_fn(w, h, |x, y| {
        Luma([if mask[(y * w + x) as usize] { 255 } else { 0 }])
    });
    let path = Path::new(&dump).join(file);
    if let Err(e) = img.save(&path) {
        eprintln!("warning: could not write {}: {e}", path.display());
    }
}

#[derive(Debug, Deserialize)]
struct RealOutlines {
    image: String,
    px_per_mm: f64,
    roi: [u32; 4],
}

/// The pigment model (and the melanin-threshold baseline) against hand
/// outlines of real macules (`datasets/real_pigment`: one folder per region,
/// whose `outlines.json` names the photo under `photos` and the region;
/// `spots.png` and `dont_care.png` are its masks from `make_masks.py`):
/// pixel Dice and the pigmented area's error inside each region, don't-care
/// pixels left out. `dir` is one region's folder or a folder of them;
/// figures are keyed by the region's folder name.
pub fn real_pigment(
    dir: &Path,
    photos: &Path,
    models_dir: Option<&Path>,
) -> Result<serde_json::Value, SetupError> {
    let bad = |p: &Path, e: String| SetupError::Input {
        path: p.to_path_buf(),
        reason: e,
    };
    let mut regions: Vec<PathBuf> = if dir.join("outlines.json").is_file() {
        vec![dir.to_path_buf()]
    } else {
        std::fs::read_dir(dir)
            .map_err(|e| bad(dir, e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("outlines.json").is_file())
            .collect()
    };
    if regions.is_empty() {
        return Err(bad(dir, "no outlines.json here or in its folders".into()));
    }
    regions.sort();
    let mut figures = serde_json::Map::new();
    for region in regions {
        let name = region
            .file_name()
            .map_or_else(|| "region".into(), |n| n.to_string_lossy().into_owned());
        let scored = real_pigment_region(&region, &name, photos, models_dir)?;
        figures.insert(name, scored);
    }
    Ok(serde_json::Value::Object(figures))
}

/// One region's figures; `name` names its dump (`dump_mask`).
fn real_pigment_region(
    dir: &Path,
    name: &str,
    photos: &Path,
    models_dir: Option<&Path>,
) -> Result<serde_json::Value, SetupError> {
    let bad = |p: &Path, e: String| SetupError::Input {
        path: p.to_path_buf(),
        reason: e,
    };
    let spec_path = dir.join("outlines.json");
    let text = std::fs::read_to_string(&spec_path).map_err(|e| bad(&spec_path, e.to_string()))?;
    let spec: RealOutlines =
        serde_json::from_str(&text).map_err(|e| bad(&spec_path, e.to_string()))?;
    let image_path = photos.join(&spec.image);
    let full = image::open(&image_path).map_err(|e| bad(&image_path, e.to_string()))?;
    let [x0, y0, x1, y1] = spec.roi;
    if x1 <= x0 || y1 <= y0 || x1 > full.width() || y1 > full.height() {
        return Err(bad(&spec_path, "roi outside the photo".into()));
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let photo = Photo::from_decoded(full.crop_imm(x0, y0, w, h));
    let mask_of = |name: &str| -> Result<Vec<bool>, SetupError> {
        let path = dir.join(name);
        let m = image::open(&path)
            .map_err(|e| bad(&path, e.to_string()))?
            .into_luma8();
        if m.dimensions() != (w, h) {
            return Err(bad(
                &path,
                format!("{}×{} is not the region's {w}×{h}", m.width(), m.height()),
            ));
        }
        Ok(m.pixels().map(|p| p.0[0] > 127).collect())
    };
    let truth = mask_of("spots.png")?;
    let scored: Vec<bool> = mask_of("dont_care.png")?.iter().map(|&d| !d).collect();
    let scale =
        PxPerMm::new(spec.px_per_mm).ok_or_else(|| bad(&spec_path, "bad px_per_mm".into()))?;
    let mut s = sessions(models_dir)?;
    let patch = whole(&photo, None, scale, pigment::CANONICAL_PX_PER_MM)
        .ok_or_else(|| bad(&spec_path, "empty region".into()))?;
    let prob = segment::probability(&mut s.pigment, &patch, pigment::INPUT).map_err(|e| {
        SetupError::ModelLoad {
            name: "evaluation".into(),
            reason: e.to_string(),
        }
    })?;
    let model = to_original(&patch, &spot_components(&patch, &prob), w, h);
    // The spots the analysis keeps (more melanin than the skin around them).
    let kept: Vec<Component> = pigment::measure_spots(&patch, &prob, &pigment::colours(&patch))
        .map(|r| r.spots.into_iter().map(|d| d.component).collect())
        .unwrap_or_default();
    let measured = to_original(&patch, &kept, w, h);
    dump_mask(
        &format!("real_pigment_{name}_measured.png"),
        &measured,
        w,
        h,
    );
    let baseline = to_original(
        &patch,
        &spot_components(&patch, &melanin_probability(&patch)),
        w,
        h,
    );
    let area = |m: &[bool]| (0..m.len()).filter(|&i| m[i] && scored[i]).count() as f64;
    let true_area = area(&truth);
    let px_mm2 = 1.0 / (spec.px_per_mm * spec.px_per_mm);
    let figures = |m: &[bool]| {
        let (precision, recall) = precision_recall(m, &truth, &scored);
        json!({
            "dice": dice(m, &truth, Some(&scored)),
            "precision": precision,
            "recall": recall,
            "area_mm2": area(m) * px_mm2,
            "area_error_pct": 100.0 * (area(m) - true_area) / true_area.max(1.0),
        })
    };
    let (fm, fk, fb) = (figures(&model), figures(&measured), figures(&baseline));
    println!(
        "\nPigmented macules, real ({} region {}×{} px at {} px/mm; hand outlines, {:.0} mm² scored as spots):",
        spec.image, w, h, spec.px_per_mm, true_area * px_mm2
    );
    for (name, f) in [
        ("model", &fm),
        ("measured (spots kept)", &fk),
        ("melanin-threshold baseline", &fb),
    ] {
        println!(
            "  {name:>26}: Dice {:.3} (precision {:.3}, recall {:.3}), area {:.0} mm² ({:+.1} %)",
            f["dice"].as_f64().unwrap_or(f64::NAN),
            f["precision"].as_f64().unwrap_or(f64::NAN),
            f["recall"].as_f64().unwrap_or(f64::NAN),
            f["area_mm2"].as_f64().unwrap_or(f64::NAN),
            f["area_error_pct"].as_f64().unwrap_or(f64::NAN)
        );
    }
    Ok(json!({
        "image": spec.image, "roi": spec.roi, "px_per_mm": spec.px_per_mm,
        "true_area_mm2": true_area * px_mm2, "model": fm, "measured": fk, "melanin_baseline": fb,
    }))
}
