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
    /// Lightness drop of spots below the baseline (area-weighted mean, and the darkest spot).
    pub mean_delta_l: Option<f64>,
    /// Lightness drop of the darkest spot below the baseline, L* units.
    pub max_delta_l: Option<f64>,
    /// Melanin-index rise of spots over the baseline.
    pub mean_delta_melanin: Option<f64>,
    /// Melanin-index rise of the most pigmented spot.
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
    /// False when the borderline skin exceeds 30 % of the pigmented area
    /// (and 1.5 mm²): the area may then change by 10 % or more with
    /// exposure or white balance. For the face, the zones' borderline areas
    /// are added in quadrature (they flip independently). `area_caution`
    /// says why.
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

/// One spot, for pooling over the face.
#[derive(Debug, Clone, Copy)]
pub struct Spot {
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

pub fn pixel_colour(patch: &CanonicalPatch, sep: &Separator, lin: &[f64; 256]) -> PixelColour {
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
            "the zone's skin reads blue-violet (b* {:.1} ≤ 0): no skin colour under visible light, no ITA",
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
    /// `comps` were cut.
    pub fn from_components(
        patch: &CanonicalPatch,
        comps: &[Component],
        prob: &[f32],
        px: &PixelColour,
        base: &SkinColour,
    ) -> Self {
        let px_mm = 1.0 / patch.px_per_mm;
        let borderline = patch.pixels_mm2(&borderline_pixels(prob, &patch.mask));
        let w = patch.width as i64;
        let spots = comps
            .iter()
            .filter(|c| patch.pixels_mm2(&c.pixels) >= MIN_SPOT_AREA_MM2)
            .map(|c| {
                let n = c.pixels.len() as f64;
                let mean = |v: &Vec<f32>| {
                    c.pixels
                        .iter()
                        .map(|&i| f64::from(v[i as usize]))
                        .sum::<f64>()
                        / n
                };
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
                    area_mm2: patch.pixels_mm2(&c.pixels),
                    perimeter_mm: boundary as f64 * px_mm,
                    delta_l: base.lab.l - mean(&px.l),
                    delta_melanin: mean(&px.melanin) - base.melanin_index,
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
            area_steady: caution.is_none(),
            area_caution: caution,
            severity: score::pigmentation(pct, mean_dl.unwrap_or(0.0), rel, delta_l_uncertainty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
