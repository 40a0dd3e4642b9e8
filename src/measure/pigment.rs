//! Pigmentation: colour of unaffected skin (CIELAB, ITA°), melanin and
//! haemoglobin indices, and hyperpigmented spots from the pigment model at
//! 4 px/mm, each compared with the zone's own baseline.

use super::colour::{self, ItaCategory, Lab, Separator};
use super::segment::{CanonicalPatch, Component};
use crate::ingest::Depth;
use crate::score::{self, Score};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const CANONICAL_PX_PER_MM: f64 = 4.0;
/// What the pigment model's input is divided by. The model was trained with
/// the median; the interquartile mean leaves its accuracy unchanged and
/// halves how much a zone's pigmented area moves when the photo is
/// re-encoded at another exposure or white balance (README, Accuracy; a
/// model retrained with it was steadier on synthetic skin but merged nearby
/// spots).
pub const REFERENCE: super::segment::Reference = super::segment::Reference::InterquartileMean;
/// The pigment model's input: even sides (its network halves the resolution
/// once; a student that reads 4×4 blocks, `distill_zone_models.py`, would
/// need 4).
pub const INPUT: super::segment::InputSpec = super::segment::InputSpec {
    reference: REFERENCE,
    multiple: 2,
};
pub const PROBABILITY_THRESHOLD: f32 = 0.5;
/// Spots smaller than this (≈ 1.4 mm across) are ignored.
pub const MIN_SPOT_AREA_MM2: f64 = 1.5;
/// Skin where the model is unsure: probability strictly between these.
/// Such skin flips in or out of spots with small changes of the photo
/// (8-bit re-encoding after an exposure or white-balance change), so it
/// says how far the pigmented area can be trusted.
pub const BORDERLINE_PROBABILITY: (f32, f32) = (0.3, 0.7);
/// The pigmented area is marked unsteady when borderline skin exceeds this
/// share of it. Chosen on synthetic validation patches (seed 1111, not the
/// evaluation set) as the largest share at which no patch marked steady
/// changed its area by 10 % or more under ×0.85 / ×1.15 exposure or a
/// colour cast; `dermascore evaluate` reports the held-out result.
pub const BORDERLINE_SHARE_LIMIT: f64 = 0.3;

/// Median colour of the zone's unaffected skin (spots excluded).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SkinColour {
    /// CIELAB (D65) of the unaffected skin.
    pub lab: Lab,
    /// Individual typology angle, degrees: arctan((L* − 50) / b*). The zone
    /// is not measured when b* ≤ 0 (no skin colour: UV or greyscale).
    pub ita_deg: f64,
    /// Skin category from ITA (Chardon 1991): very light > 55°, light > 41°, intermediate > 28°, tan > 10°, brown > −30°, dark.
    pub ita_category: ItaCategory,
    /// Melanin optical density of the unaffected skin (colour separation; unitless, higher is darker).
    pub melanin_index: f64,
    /// Haemoglobin optical density of the unaffected skin (unitless, higher is redder).
    pub haemoglobin_index: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PigmentMetrics {
    /// Hyperpigmented spots of at least `min_spot_area_mm2`.
    pub spot_count: u64,
    /// Total hyperpigmented area, mm².
    pub pigmented_area_mm2: f64,
    /// Share of the measured skin that is hyperpigmented, percent.
    pub pigmented_pct: f64,
    /// How much darker spots are than the skin around them (0.5–2 mm from
    /// it; area-weighted mean), L* units. Spots are counted by their melanin
    /// excess over that skin, so this is rarely below zero.
    pub mean_delta_l: Option<f64>,
    /// Lightness drop of the darkest spot below the skin around it, L* units.
    pub max_delta_l: Option<f64>,
    /// Melanin-index rise of spots over the skin around them.
    pub mean_delta_melanin: Option<f64>,
    /// Melanin-index rise of the most pigmented spot over the skin around it.
    pub max_delta_melanin: Option<f64>,
    /// MASI-style grades: area 0–6, darkness 0–4 (estimates).
    pub area_grade: u8,
    /// MASI-style darkness grade 0–4 (estimate).
    pub darkness_grade: u8,
    /// Skin the figures refer to, cm².
    pub measured_area_cm2: f64,
    /// Skin where the model is unsure (probability 0.3–0.7), mm²: it can
    /// flip in or out of spots with small changes of the photo.
    pub borderline_area_mm2: f64,
    /// How much of the borderline skin may flip together, mm²: what
    /// `area_steady` judges. A zone's borderline area; for the face, the
    /// root of the sum of its zones' squared borderline areas (zones flip
    /// independently, so their swings add in quadrature).
    pub borderline_swing_mm2: f64,
    /// False when `borderline_swing_mm2` exceeds 30 % of the pigmented area
    /// (and 1.5 mm²): the area may then change by 10 % or more with
    /// exposure or white balance. `area_caution` says why.
    pub area_steady: bool,
    /// Why `area_steady` is false; null when it is true.
    pub area_caution: Option<String>,
    /// 0–100 from the pigmented share and darkness (the zone's mMASI term scaled).
    pub severity: Score,
}

/// Whether a pigmented area is steady given its borderline skin (for
/// pooled zones, their quadrature sum); the caution when it is not.
pub fn area_caution(pigmented_mm2: f64, borderline_mm2: f64) -> Option<String> {
    (borderline_mm2 >= MIN_SPOT_AREA_MM2 && borderline_mm2 > BORDERLINE_SHARE_LIMIT * pigmented_mm2).then(|| {
        format!(
            "{borderline_mm2:.1} mm² of borderline skin (pigment-model probability {}–{}; pooled zones added in quadrature) is more than {:.0} % of the {pigmented_mm2:.1} mm² found pigmented: the area may change by 10 % or more with exposure or white balance",
            BORDERLINE_PROBABILITY.0,
            BORDERLINE_PROBABILITY.1,
            100.0 * BORDERLINE_SHARE_LIMIT
        )
    })
}

/// Measured pixels whose spot probability is borderline.
pub fn borderline_pixels(prob: &[f32], mask: &[bool]) -> Vec<u32> {
    let (lo, hi) = BORDERLINE_PROBABILITY;
    (0..prob.len().min(mask.len()))
        .filter(|&i| mask[i] && prob[i] > lo && prob[i] < hi)
        .map(|i| i as u32)
        .collect()
}

/// Red lesions (e.g. inflamed papules), judged against the person's own
/// skin: regions whose haemoglobin index exceeds the skin around them
/// (the mean over `RED_LESION_SURROUND_MM`) by this much …
pub const RED_LESION_HB_EXCESS: f32 = 0.8;
/// … and by this many robust SDs of that local excess over the zone, so
/// that a blotchy or high-contrast photo does not raise its own lesions …
pub const RED_LESION_NOISE_SDS: f32 = 5.0;
/// … on photos at least this sharp: below it JPEG's half-resolution colour
/// leaves a papule only a few colour samples wide …
pub const RED_LESION_MIN_PX_PER_MM: f64 = 4.0;
/// … whose area lies in this range (mm²: inflamed papules are about 1.5–5
/// mm across; a red dot of 1 mm is a follicle or a small vessel, and the
/// normal close-up `bioskin/1.jpg` had three of 0.8–1.7 mm²) …
pub const RED_LESION_AREA_MM2: (f64, f64) = (1.2, 20.0);
/// … and which are round: the longer axis at most this many times the
/// shorter (second moments), which leaves out vessels, folds and the
/// zone's edges.
pub const RED_LESION_MAX_ELONGATION: f64 = 2.0;
/// Side of the box (mm) the surrounding skin is averaged over.
pub const RED_LESION_SURROUND_MM: f64 = 8.0;

/// Redness of a zone from the haemoglobin map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Redness {
    /// Red lesions as defined by `RED_LESION_*`: round regions 1.2–20 mm²
    /// whose haemoglobin index exceeds the surrounding skin by at least 0.8
    /// and by five robust SDs of the zone's local excess.
    pub lesion_count: u64,
    /// Their area, mm².
    pub lesion_area_mm2: f64,
    /// Largest haemoglobin-index excess over the surrounding skin, among lesions.
    pub max_delta_haemoglobin: Option<f64>,
}

pub fn redness(patch: &CanonicalPatch, px: &PixelColour) -> Redness {
    let (w, h) = (patch.width as usize, patch.height as usize);
    // The surrounding skin: a masked box mean of the haemoglobin index.
    let r = (RED_LESION_SURROUND_MM / 2.0 * patch.px_per_mm)
        .round()
        .max(1.0) as usize;
    let hb: Vec<f64> = px.haemoglobin.iter().map(|&v| f64::from(v)).collect();
    let (count, [around]) = super::segment::masked_box_means([&hb], &patch.mask, w, h, r);
    let excess: Vec<f32> = (0..w * h)
        .map(|i| {
            if patch.mask[i] && count[i] > 0.0 {
                (hb[i] - around[i]) as f32
            } else {
                0.0
            }
        })
        .collect();
    let measured: Vec<f64> = (0..w * h)
        .filter(|&i| patch.mask[i])
        .map(|i| f64::from(excess[i]))
        .collect();
    let threshold = RED_LESION_HB_EXCESS
        .max(RED_LESION_NOISE_SDS * super::segment::robust_sd(&measured) as f32);
    let comps =
        super::segment::components(&excess, &patch.mask, patch.width, patch.height, threshold);
    let lesions: Vec<&Component> = comps
        .iter()
        .filter(|c| {
            (RED_LESION_AREA_MM2.0..=RED_LESION_AREA_MM2.1).contains(&patch.pixels_mm2(&c.pixels))
                && super::segment::elongation(&c.pixels, patch.width) <= RED_LESION_MAX_ELONGATION
        })
        .collect();
    Redness {
        lesion_count: lesions.len() as u64,
        lesion_area_mm2: crate::units::total(lesions.iter().map(|c| patch.pixels_mm2(&c.pixels))),
        max_delta_haemoglobin: lesions
            .iter()
            .flat_map(|c| c.pixels.iter().map(|&i| f64::from(excess[i as usize])))
            .reduce(f64::max),
    }
}

/// Width of the skin around a spot that its contrast is read against.
/// Skin the model is unsure of (probability ≥ the borderline's lower end,
/// the spot's own fuzzy edge) is not part of it.
pub const SURROUND_MM: f64 = 2.0;
/// Skin this close to a spot is its blurred edge (optics, JPEG, the
/// model's margin), still darker than the skin: left out of the surround.
pub const SURROUND_GAP_MM: f64 = 0.5;

/// Melanin-index excess over the surround at which a component counts in
/// full as hyperpigmented; one with less counts in proportion
/// (`DarkSpot::weight`), one with none not at all. Melanin, not L*: the
/// separation puts shading in its own channel, and planted spots of
/// 0.1–0.6 OD melanin read only 1–3 L* darker than their surround (an L*
/// ramp over 4.6 found a third of their area). A hard cut at zero made the
/// area jump when a large, faint component crossed it between re-captures
/// (repeatability MDC of the cheeks 3.4 → 6.6 points, perioral 4.3 → 12.9);
/// with the ramp every zone's MDC stays within 1.7 points of counting every
/// component (`models/mdc.json`).
pub const FULL_MELANIN_EXCESS: f64 = 0.1;

/// A component this much redder (a*) than the skin around it is red, not
/// brown (a lip's edge, the corner of the mouth, a vessel): not counted.
/// The outlined real macules are 0.2–2.1 redder than theirs
/// (`datasets/real_pigment/contrast.py`); the corner of `bioskin/1.jpg`'s
/// mouth read 5.9.
pub const RED_DELTA_A: f64 = 3.0;

/// A model component with more melanin than the skin around it.
#[derive(Debug, Clone)]
pub struct DarkSpot {
    pub component: Component,
    /// Share of the component's area counted as hyperpigmented, (0, 1]:
    /// its melanin excess over the surround in units of
    /// `FULL_MELANIN_EXCESS`.
    pub weight: f64,
    /// How much darker (L*) and more pigmented (melanin index) the
    /// component is than its surround: the skin `SURROUND_GAP_MM` to
    /// `SURROUND_MM` from it, in no spot and not borderline (the zone's
    /// baseline where there is none).
    pub delta_l: f64,
    pub delta_melanin: f64,
}

/// The model's components that are hyperpigmentation: at least
/// `MIN_SPOT_AREA_MM2`, with more melanin on average than the skin around
/// them (weighted by how much, `FULL_MELANIN_EXCESS`) and not red
/// (`RED_DELTA_A`). A component without these is not a pigmented spot,
/// whatever the model thought (shading, a fold, a lighter patch, the
/// corner of the mouth): it is left out of the area and the overlay. The
/// surround, not the zone's baseline, is the reference, so that a spot on
/// the lit side of a cheek is not judged against the shaded side.
pub fn hyperpigmented(
    patch: &CanonicalPatch,
    comps: Vec<Component>,
    prob: &[f32],
    px: &PixelColour,
    base: &SkinColour,
) -> Vec<DarkSpot> {
    let (w, h) = (patch.width as usize, patch.height as usize);
    // Not surround: spots and the model's borderline.
    let mut in_spot: Vec<bool> = prob
        .iter()
        .map(|&p| p >= BORDERLINE_PROBABILITY.0)
        .collect();
    for c in &comps {
        for &i in &c.pixels {
            in_spot[i as usize] = true;
        }
    }
    let gap = (SURROUND_GAP_MM * patch.px_per_mm).round() as usize;
    let r = ((SURROUND_MM * patch.px_per_mm).round() as usize).max(gap + 1);
    comps
        .into_iter()
        .filter(|c| patch.pixels_mm2(&c.pixels) >= MIN_SPOT_AREA_MM2)
        .filter_map(|c| {
            let mean = |v: &[f32], idx: &mut dyn Iterator<Item = usize>| {
                let (mut sum, mut n) = (0f64, 0usize);
                for i in idx {
                    sum += f64::from(v[i]);
                    n += 1;
                }
                (n > 0).then(|| sum / n as f64)
            };
            let ring = surround(&c, &in_spot, &patch.mask, (w, h), gap, r);
            let (surround_l, surround_a, surround_melanin) = match (
                mean(&px.l, &mut ring.iter().copied()),
                mean(&px.a, &mut ring.iter().copied()),
                mean(&px.melanin, &mut ring.iter().copied()),
            ) {
                (Some(l), Some(a), Some(m)) => (l, a, m),
                _ => (base.lab.l, base.lab.a, base.melanin_index),
            };
            let spot = |v: &[f32]| mean(v, &mut c.pixels.iter().map(|&i| i as usize));
            let (spot_l, spot_a, spot_melanin) = (spot(&px.l)?, spot(&px.a)?, spot(&px.melanin)?);
            let brown = spot_a - surround_a < RED_DELTA_A;
            let weight = ((spot_melanin - surround_melanin) / FULL_MELANIN_EXCESS).min(1.0);
            (weight > 0.0 && brown).then_some(DarkSpot {
                component: c,
                weight,
                delta_l: surround_l - spot_l,
                delta_melanin: spot_melanin - surround_melanin,
            })
        })
        .collect()
}

/// The patch's measured pixels within `zones::FOLD_HALF_WIDTH_MM` of a
/// fold (`folds`: polylines in image pixels, as `ZoneMask::folds`).
pub fn fold_band(patch: &CanonicalPatch, folds: &[Vec<crate::face::Point>]) -> Vec<bool> {
    let (w, h) = (patch.width as i64, patch.height as i64);
    let mut band = vec![false; patch.mask.len()];
    let half = (crate::zones::FOLD_HALF_WIDTH_MM * patch.px_per_mm) as f32;
    for line in folds {
        let canon: Option<Vec<(f32, f32)>> =
            line.iter().map(|p| patch.map.unapply(p.0, p.1)).collect();
        let Some(canon) = canon else { continue };
        for seg in canon.windows(2) {
            let ((ax, ay), (bx, by)) = (seg[0], seg[1]);
            let x0 = ((ax.min(bx) - half).floor() as i64).max(0);
            let x1 = ((ax.max(bx) + half).ceil() as i64).min(w - 1);
            let y0 = ((ay.min(by) - half).floor() as i64).max(0);
            let y1 = ((ay.max(by) + half).ceil() as i64).min(h - 1);
            let (dx, dy) = (bx - ax, by - ay);
            let len2 = (dx * dx + dy * dy).max(f32::EPSILON);
            for y in y0..=y1 {
                for x in x0..=x1 {
                    let (px, py) = (x as f32, y as f32);
                    // Distance to the segment: the nearest point on it.
                    let t = (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0);
                    let (ex, ey) = (px - (ax + t * dx), py - (ay + t * dy));
                    if ex * ex + ey * ey <= half * half {
                        let i = (y * w + x) as usize;
                        band[i] = patch.mask[i];
                    }
                }
            }
        }
    }
    band
}

/// The patch's measured pixels on skin turned more than `max_deg` from the
/// camera (from the face mesh; none on a close-up, taken as facing it).
pub fn turned_beyond(patch: &CanonicalPatch, max_deg: f64) -> Vec<bool> {
    let limit = 1.0 / max_deg.to_radians().cos();
    (0..patch.mask.len())
        .map(|i| patch.mask[i] && patch.surface_factor(i) > limit)
        .collect()
}

/// A zone's pigment reading before pooling: the spots the measurement
/// keeps and the zone's unaffected skin.
pub struct Measured {
    pub spots: Vec<DarkSpot>,
    pub base: SkinColour,
    /// Every pixel of every model component, kept or not (the baseline
    /// leaves them out).
    pub in_spot: Vec<bool>,
}

/// From the pigment model's probability over a patch to the spots the
/// measurement reports (`hyperpigmented`): one path for the analysis and
/// for `evaluate`, so that the accuracy figures are the product's. `px`:
/// the patch's colours (`colours`), read where its mask holds. Why the zone
/// has no reading, when it has none.
pub fn measure_spots(
    patch: &CanonicalPatch,
    prob: &[f32],
    px: &PixelColour,
) -> Result<Measured, String> {
    let comps = super::segment::components(
        prob,
        &patch.mask,
        patch.width,
        patch.height,
        PROBABILITY_THRESHOLD,
    );
    let mut in_spot = vec![false; patch.mask.len()];
    for c in &comps {
        for &i in &c.pixels {
            in_spot[i as usize] = true;
        }
    }
    let base = baseline(patch, px, &in_spot)?;
    let spots = hyperpigmented(patch, comps, prob, px, &base);
    if std::env::var_os("DERMASCORE_DEBUG_PIGMENT").is_some() {
        for s in &spots {
            eprintln!(
                "pigment spot: melanin excess {:.3}, {:.1} mm²",
                s.delta_melanin,
                patch.pixels_mm2(&s.component.pixels)
            );
        }
    }
    Ok(Measured {
        spots,
        base,
        in_spot,
    })
}

/// Skin pixels (in the mask, not `in_spot`) farther than `gap` and within
/// `r` pixels (square neighbourhoods) of the component.
fn surround(
    c: &Component,
    in_spot: &[bool],
    mask: &[bool],
    (w, h): (usize, usize),
    gap: usize,
    r: usize,
) -> Vec<usize> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for &i in &c.pixels {
        let (x, y) = (i as usize % w, i as usize / w);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    if c.pixels.is_empty() {
        return Vec::new();
    }
    let (bx0, by0) = (x0.saturating_sub(r), y0.saturating_sub(r));
    let (bx1, by1) = ((x1 + r).min(w - 1), (y1 + r).min(h - 1));
    let (bw, bh) = (bx1 - bx0 + 1, by1 - by0 + 1);
    let mut grid = image::GrayImage::new(bw as u32, bh as u32);
    for &i in &c.pixels {
        let (x, y) = (i as usize % w, i as usize / w);
        grid.put_pixel((x - bx0) as u32, (y - by0) as u32, image::Luma([255]));
    }
    // Square neighbourhoods, as the evaluation's `near_truth`.
    let dilate = |k: usize| {
        let k = k.min(usize::from(u8::MAX)) as u8;
        imageproc::morphology::dilate(&grid, imageproc::distance_transform::Norm::LInf, k)
    };
    let (outer, inner) = (dilate(r), dilate(gap));
    let mut out = Vec::new();
    for y in 0..bh {
        for x in 0..bw {
            let (px, py) = (x as u32, y as u32);
            let i = (y + by0) * w + (x + bx0);
            if outer.get_pixel(px, py).0[0] > 0
                && inner.get_pixel(px, py).0[0] == 0
                && mask[i]
                && !in_spot[i]
            {
                out.push(i);
            }
        }
    }
    out
}

/// One spot, for pooling over the face.
#[derive(Debug, Clone, Copy)]
pub struct Spot {
    /// Area counted as hyperpigmented: the component's area times its
    /// `DarkSpot::weight`.
    pub area_mm2: f64,
    pub perimeter_mm: f64,
    pub delta_l: f64,
    pub delta_melanin: f64,
}

#[derive(Debug, Clone, Default)]
pub struct PigmentSample {
    pub spots: Vec<Spot>,
    pub skin_area_mm2: f64,
    pub borderline_area_mm2: f64,
    /// Root of the summed squares of the pooled zones' borderline areas:
    /// zones flip independently, so their swings add in quadrature (one
    /// zone: its borderline area).
    pub borderline_swing_mm2: f64,
}

/// Per-pixel colour values of a patch.
pub struct PixelColour {
    pub l: Vec<f32>,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub melanin: Vec<f32>,
    pub haemoglobin: Vec<f32>,
    /// Grey optical density (exposure and relief's shading).
    pub shading: Vec<f32>,
}

/// Every measured pixel's colour values, with the default separation.
pub fn colours(patch: &CanonicalPatch) -> PixelColour {
    pixel_colour(patch, &Separator::default(), &colour::linear_lut())
}

fn pixel_colour(patch: &CanonicalPatch, sep: &Separator, lin: &[f64; 256]) -> PixelColour {
    let lin32: Vec<f32> = lin.iter().map(|&v| v as f32).collect();
    let n = (patch.width * patch.height) as usize;
    let mut out = PixelColour {
        l: vec![0.0; n],
        a: vec![0.0; n],
        b: vec![0.0; n],
        melanin: vec![0.0; n],
        haemoglobin: vec![0.0; n],
        shading: vec![0.0; n],
    };
    for i in 0..n {
        if !patch.mask[i] {
            continue;
        }
        let ([l, a, b], [m, h, sh]) = match patch.depth {
            Depth::Eight => {
                let p = patch.pixel_u8(i);
                let [r, g, b] = p.map(|c| lin32[c as usize]);
                (colour::lab_from_linear_f32(r, g, b), sep.components(p))
            }
            Depth::Sixteen => {
                let [r, g, b] = [0, 1, 2].map(|k| patch.linear(patch.rgb[i * 3 + k]));
                (
                    colour::lab_from_linear_f32(r, g, b),
                    sep.components_linear([r, g, b].map(f64::from)),
                )
            }
        };
        out.l[i] = l;
        out.a[i] = a;
        out.b[i] = b;
        out.melanin[i] = m as f32;
        out.haemoglobin[i] = h as f32;
        out.shading[i] = sh as f32;
    }
    out
}

/// How much of a patch's melanin-index variation its shading (grey optical
/// density) explains: the least-squares slope of melanin on shading over
/// the measured pixels, and R². A camera tone curve that is not sRGB's would
/// leak shading into melanin along one slope per face; on real photos the
/// slopes scatter and R² is low (docs/harm-on-real-skin.md). For tuning
/// only: `DERMASCORE_DEBUG_PIGMENT=1` prints it per zone.
pub fn shading_slope(px: &PixelColour, mask: &[bool]) -> Option<(f64, f64)> {
    let idx: Vec<usize> = (0..mask.len()).filter(|&i| mask[i]).collect();
    let n = idx.len() as f64;
    let mean = |v: &[f32]| idx.iter().map(|&i| f64::from(v[i])).sum::<f64>() / n;
    let (ms, mm) = (mean(&px.shading), mean(&px.melanin));
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for &i in &idx {
        let (x, y) = (f64::from(px.shading[i]) - ms, f64::from(px.melanin[i]) - mm);
        sxx += x * x;
        sxy += x * y;
        syy += y * y;
    }
    (idx.len() > 1 && sxx > 0.0 && syy > 0.0).then(|| (sxy / sxx, sxy * sxy / (sxx * syy)))
}

/// The upper median, in linear time.
fn median(mut v: Vec<f32>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let k = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(k, f32::total_cmp);
    f64::from(*m)
}

/// Baseline colour from the zone's pixels outside any spot; why there is
/// none, when there is none.
pub fn baseline(
    patch: &CanonicalPatch,
    px: &PixelColour,
    in_spot: &[bool],
) -> Result<SkinColour, String> {
    let idx: Vec<usize> = (0..in_spot.len())
        .filter(|&i| patch.mask[i] && !in_spot[i])
        .collect();
    if idx.len() < 16 {
        return Err("too little unaffected skin for a baseline".into());
    }
    let pick = |v: &Vec<f32>| median(idx.iter().map(|&i| v[i]).collect());
    let lab = Lab {
        l: pick(&px.l),
        a: pick(&px.a),
        b: pick(&px.b),
    };
    let ita = colour::ita_degrees(lab).ok_or_else(|| {
        format!(
            "the zone's skin reads blue-violet (b* {:.1} ≤ 0): no skin colour under visible light (UV or blue light, or a strong blue colour cast: correct the white balance or give a device colour_matrix), no ITA",
            lab.b
        )
    })?;
    Ok(SkinColour {
        lab,
        ita_deg: ita,
        ita_category: ItaCategory::from_ita(ita),
        melanin_index: pick(&px.melanin),
        haemoglobin_index: pick(&px.haemoglobin),
    })
}

impl PigmentSample {
    /// `prob`: the model's spot probability over the patch, from which
    /// the spots were cut (`hyperpigmented`).
    pub fn from_spots(patch: &CanonicalPatch, spots: &[DarkSpot], prob: &[f32]) -> Self {
        let px_mm = 1.0 / patch.px_per_mm;
        let borderline = patch.pixels_mm2(&borderline_pixels(prob, &patch.mask));
        let w = patch.width as i64;
        let spots = spots
            .iter()
            .map(|spot| {
                let c = &spot.component;
                // Boundary pixels: 4-neighbours not in this component.
                let set: std::collections::HashSet<u32> = c.pixels.iter().copied().collect();
                let boundary = c
                    .pixels
                    .iter()
                    .filter(|&&i| {
                        let i = i64::from(i);
                        [i - 1, i + 1, i - w, i + w]
                            .iter()
                            .any(|&j| j < 0 || !set.contains(&(j as u32)))
                    })
                    .count();
                Spot {
                    area_mm2: spot.weight * patch.pixels_mm2(&c.pixels),
                    perimeter_mm: spot.weight * boundary as f64 * px_mm,
                    delta_l: spot.delta_l,
                    delta_melanin: spot.delta_melanin,
                }
            })
            .collect();
        Self {
            spots,
            skin_area_mm2: patch.area_mm2(),
            borderline_area_mm2: borderline,
            borderline_swing_mm2: borderline,
        }
    }

    pub fn merge(samples: &[&PigmentSample]) -> Self {
        Self {
            spots: samples
                .iter()
                .flat_map(|s| s.spots.iter().copied())
                .collect(),
            skin_area_mm2: samples.iter().map(|s| s.skin_area_mm2).sum(),
            borderline_area_mm2: samples.iter().map(|s| s.borderline_area_mm2).sum(),
            borderline_swing_mm2: samples
                .iter()
                .map(|s| s.borderline_swing_mm2.powi(2))
                .sum::<f64>()
                .sqrt(),
        }
    }

    pub fn metrics(&self) -> PigmentMetrics {
        let area = crate::units::total(self.spots.iter().map(|s| s.area_mm2));
        let pct = if self.skin_area_mm2 > 0.0 {
            100.0 * area / self.skin_area_mm2
        } else {
            0.0
        };
        let weighted = |f: fn(&Spot) -> f64| {
            (area > 0.0).then(|| self.spots.iter().map(|s| f(s) * s.area_mm2).sum::<f64>() / area)
        };
        let max = |f: fn(&Spot) -> f64| self.spots.iter().map(f).reduce(f64::max);
        let mean_dl = weighted(|s| s.delta_l);
        // Boundary uncertain by about one canonical pixel all round, and
        // half the borderline skin either way.
        let px_mm = 1.0 / CANONICAL_PX_PER_MM;
        let rel = if area > 0.0 {
            (self
                .spots
                .iter()
                .map(|s| s.perimeter_mm * px_mm)
                .sum::<f64>()
                + 0.5 * self.borderline_swing_mm2)
                / area
        } else {
            0.0
        };
        // How far the mean darkness moves if the mix of spots changes (one
        // comes or goes, boundaries move): the standard error of the
        // area-weighted mean over spots.
        let delta_l_uncertainty = mean_dl.map_or(0.0, |m| {
            self.spots
                .iter()
                .map(|s| (s.area_mm2 * (s.delta_l - m)).powi(2))
                .sum::<f64>()
                .sqrt()
                / area
        });
        let caution = area_caution(area, self.borderline_swing_mm2);
        PigmentMetrics {
            spot_count: self.spots.len() as u64,
            pigmented_area_mm2: area,
            pigmented_pct: pct,
            mean_delta_l: mean_dl,
            max_delta_l: max(|s| s.delta_l),
            mean_delta_melanin: weighted(|s| s.delta_melanin),
            max_delta_melanin: max(|s| s.delta_melanin),
            area_grade: score::masi_area_grade(pct),
            darkness_grade: if self.spots.is_empty() {
                0
            } else {
                score::darkness_grade(mean_dl.unwrap_or(0.0))
            },
            measured_area_cm2: self.skin_area_mm2 / 100.0,
            borderline_area_mm2: self.borderline_area_mm2,
            borderline_swing_mm2: self.borderline_swing_mm2,
            area_steady: caution.is_none(),
            area_caution: caution,
            severity: score::pigmentation(pct, mean_dl.unwrap_or(0.0), rel, delta_l_uncertainty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40×40 patch at 4 px/mm of an 80×80 photo at 8 px/mm: canonical
    /// pixel (u, v) lies at image (2u + 1, 2v + 1).
    fn plain_patch() -> CanonicalPatch {
        let img = image::RgbImage::from_pixel(80, 80, image::Rgb([180, 140, 120]));
        let pyramid = crate::face::warp::Pyramid::new(&img, 16);
        let zone = crate::zones::patch(80, 80, None);
        let scale = crate::units::PxPerMm::new(8.0).unwrap();
        CanonicalPatch::from_zone(&pyramid, &zone, scale, 4.0).unwrap()
    }

    #[test]
    fn a_red_component_is_not_a_pigmented_spot() {
        let patch = plain_patch();
        let n = patch.mask.len();
        // A 6×6-pixel component (2.25 mm²) in the middle of the patch.
        let pixels: Vec<u32> = (17..23)
            .flat_map(|y| (17..23).map(move |x| y * 40 + x))
            .collect();
        let component = Component {
            area_px: pixels.len() as u32,
            centroid: (19.5, 19.5),
            pixels: pixels.clone(),
        };
        let mut prob = vec![0.0f32; n];
        for &i in &pixels {
            prob[i as usize] = 0.9;
        }
        // Skin of L* 60, a* 15, melanin 1.0; the component 0.2 more melanin
        // and a little darker, with `redder` more a*.
        let spots = |redder: f32| {
            let mut px = PixelColour {
                l: vec![60.0; n],
                a: vec![15.0; n],
                b: vec![18.0; n],
                melanin: vec![1.0; n],
                haemoglobin: vec![2.0; n],
                shading: vec![0.0; n],
            };
            for &i in &pixels {
                let i = i as usize;
                px.l[i] = 57.0;
                px.a[i] = 15.0 + redder;
                px.melanin[i] = 1.2;
            }
            let in_spot: Vec<bool> = (0..n).map(|i| prob[i] > 0.5).collect();
            let base = baseline(&patch, &px, &in_spot).unwrap();
            hyperpigmented(&patch, vec![component.clone()], &prob, &px, &base)
        };
        let brown = spots(1.0);
        assert_eq!(brown.len(), 1, "a brown spot is counted");
        assert_eq!(brown[0].weight, 1.0);
        assert!(
            spots(RED_DELTA_A as f32 + 0.5).is_empty(),
            "a red one is not"
        );
    }

    #[test]
    fn a_close_up_has_no_turned_skin() {
        assert!(turned_beyond(&plain_patch(), 50.0).iter().all(|&t| !t));
    }

    #[test]
    fn fold_band_marks_measured_pixels_within_the_half_width() {
        let mut patch = plain_patch();
        assert_eq!((patch.width, patch.height), (40, 40));
        patch.mask[20 * 40 + 5] = false;
        // A horizontal crease through canonical row 20 (image y 41),
        // canonical columns 0–39.
        let folds = vec![vec![(1.0, 41.0), (79.0, 41.0)]];
        let band = fold_band(&patch, &folds);
        // 3 mm at 4 px/mm: 12 canonical pixels either side.
        let half = (crate::zones::FOLD_HALF_WIDTH_MM * 4.0) as usize;
        for y in 0..40usize {
            assert_eq!(band[y * 40 + 10], y.abs_diff(20) <= half, "row {y}");
        }
        assert!(
            !band[20 * 40 + 5],
            "a pixel outside the mask is not in the band"
        );
        // A short crease ending at column 10: its band ends 12 columns on.
        let short = fold_band(&patch, &[vec![(1.0, 41.0), (21.0, 41.0)]]);
        assert!(short[20 * 40 + 22] && !short[20 * 40 + 23]);
        assert!(fold_band(&patch, &[]).iter().all(|&b| !b));
    }

    #[test]
    fn borderline_skin_beyond_the_limit_marks_the_area_unsteady() {
        assert!(area_caution(100.0, 30.0).is_none());
        assert!(area_caution(100.0, 31.0).is_some());
        // Too little borderline skin to make a spot of its own.
        assert!(area_caution(0.0, 1.0).is_none());
        assert!(area_caution(0.0, 2.0).is_some());
    }

    #[test]
    fn borderline_pixels_count_only_measured_unsure_ones() {
        let prob = [0.1, 0.3, 0.31, 0.5, 0.69, 0.7, 0.9, 0.5];
        let mask = [true, true, true, true, true, true, true, false];
        assert_eq!(borderline_pixels(&prob, &mask), vec![2, 3, 4]);
    }

    #[test]
    fn pooled_zones_add_their_borderline_swings_in_quadrature() {
        let zone = |spot_mm2: f64, borderline: f64| PigmentSample {
            spots: vec![Spot {
                area_mm2: spot_mm2,
                perimeter_mm: 0.0,
                delta_l: 5.0,
                delta_melanin: 0.1,
            }],
            skin_area_mm2: 1000.0,
            borderline_area_mm2: borderline,
            borderline_swing_mm2: borderline,
        };
        // Each zone alone: 40 mm² borderline for 100 mm² pigmented (unsteady).
        let one = zone(100.0, 40.0);
        assert!(!one.metrics().area_steady);
        // Four such zones: swing 80 mm² for 400 mm² pigmented (steady).
        let zones = [&one, &one, &one, &one];
        let face = PigmentSample::merge(&zones).metrics();
        assert_eq!(face.borderline_area_mm2, 160.0);
        assert!(face.area_steady, "{:?}", face.area_caution);
        assert!(face.severity.uncertainty < one.metrics().severity.uncertainty);
    }
}
