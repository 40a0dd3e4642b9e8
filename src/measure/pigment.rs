//! Pigmentation: colour of unaffected skin (CIELAB, ITA°), melanin and
//! haemoglobin indices, and hyperpigmented spots from the pigment model at
//! 4 px/mm, each compared with the zone's own baseline.

use super::colour::{self, ItaCategory, Lab, Separator};
use super::segment::{CanonicalPatch, Component};
use crate::score::{self, Score};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const CANONICAL_PX_PER_MM: f64 = 4.0;
pub const PROBABILITY_THRESHOLD: f32 = 0.5;
/// Spots smaller than this (≈ 1.4 mm across) are ignored.
pub const MIN_SPOT_AREA_MM2: f64 = 1.5;

/// Median colour of the zone's unaffected skin (spots excluded).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SkinColour {
    pub lab: Lab,
    pub ita_deg: f64,
    pub ita_category: ItaCategory,
    pub melanin_index: f64,
    pub haemoglobin_index: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PigmentMetrics {
    pub spot_count: u64,
    pub pigmented_area_mm2: f64,
    /// Share of the measured skin that is hyperpigmented, percent.
    pub pigmented_pct: f64,
    /// Lightness drop of spots below the baseline (area-weighted mean, and the darkest spot).
    pub mean_delta_l: Option<f64>,
    pub max_delta_l: Option<f64>,
    /// Melanin-index rise of spots over the baseline.
    pub mean_delta_melanin: Option<f64>,
    pub max_delta_melanin: Option<f64>,
    /// MASI-style grades: area 0–6, darkness 0–4 (estimates).
    pub area_grade: u8,
    pub darkness_grade: u8,
    pub measured_area_cm2: f64,
    pub severity: Score,
}

/// Red lesions (e.g. inflamed papules): regions whose haemoglobin index
/// exceeds the zone's unaffected skin by this much … Set for specificity:
/// the shared face photos (no active acne visible) give 0–2 lesions each;
/// sensitivity on real active acne has not been measured (no labelled
/// photos are available here).
pub const RED_LESION_HB_EXCESS: f32 = 0.8;
/// … and whose area lies in this range (mm²) …
/// … on photos at least this sharp: below it JPEG's half-resolution colour
/// leaves a papule only a few colour samples wide.
pub const RED_LESION_MIN_PX_PER_MM: f64 = 4.0;
/// … and whose area lies in this range (mm²).
pub const RED_LESION_AREA_MM2: (f64, f64) = (0.8, 30.0);

/// Redness of a zone from the haemoglobin map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Redness {
    /// Red lesions as defined by `RED_LESION_HB_EXCESS` and `RED_LESION_AREA_MM2`.
    pub lesion_count: u64,
    pub lesion_area_mm2: f64,
    /// Largest haemoglobin-index excess over the zone baseline, among lesions.
    pub max_delta_haemoglobin: Option<f64>,
}

pub fn redness(patch: &CanonicalPatch, px: &PixelColour, base: &SkinColour) -> Redness {
    let excess: Vec<f32> = px
        .haemoglobin
        .iter()
        .map(|&h| h - base.haemoglobin_index as f32)
        .collect();
    let comps = super::segment::components(
        &excess,
        &patch.mask,
        patch.width,
        patch.height,
        RED_LESION_HB_EXCESS,
    );
    let px_mm2 = 1.0 / (patch.px_per_mm * patch.px_per_mm);
    let lesions: Vec<&Component> = comps
        .iter()
        .filter(|c| {
            (RED_LESION_AREA_MM2.0..=RED_LESION_AREA_MM2.1)
                .contains(&(f64::from(c.area_px) * px_mm2))
        })
        .collect();
    Redness {
        lesion_count: lesions.len() as u64,
        lesion_area_mm2: lesions.iter().map(|c| f64::from(c.area_px) * px_mm2).sum(),
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
}

/// Per-pixel colour values of a patch.
pub struct PixelColour {
    pub l: Vec<f32>,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub melanin: Vec<f32>,
    pub haemoglobin: Vec<f32>,
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
    };
    for i in 0..n {
        if !patch.mask[i] {
            continue;
        }
        let p = patch.pixel_u8(i);
        let [l, a, b] = colour::lab_from_linear_f32(
            lin32[p[0] as usize],
            lin32[p[1] as usize],
            lin32[p[2] as usize],
        );
        let (m, h) = sep.indices(p);
        out.l[i] = l;
        out.a[i] = a;
        out.b[i] = b;
        out.melanin[i] = m as f32;
        out.haemoglobin[i] = h as f32;
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

/// Baseline colour from the zone's pixels outside any spot.
pub fn baseline(patch: &CanonicalPatch, px: &PixelColour, in_spot: &[bool]) -> Option<SkinColour> {
    let idx: Vec<usize> = (0..in_spot.len())
        .filter(|&i| patch.mask[i] && !in_spot[i])
        .collect();
    if idx.len() < 16 {
        return None;
    }
    let pick = |v: &Vec<f32>| median(idx.iter().map(|&i| v[i]).collect());
    let lab = Lab {
        l: pick(&px.l),
        a: pick(&px.a),
        b: pick(&px.b),
    };
    let ita = colour::ita_degrees(lab);
    Some(SkinColour {
        lab,
        ita_deg: ita,
        ita_category: ItaCategory::from_ita(ita),
        melanin_index: pick(&px.melanin),
        haemoglobin_index: pick(&px.haemoglobin),
    })
}

impl PigmentSample {
    pub fn from_components(
        patch: &CanonicalPatch,
        comps: &[Component],
        px: &PixelColour,
        base: &SkinColour,
    ) -> Self {
        let px_mm = 1.0 / patch.px_per_mm;
        let w = patch.width as i64;
        let spots = comps
            .iter()
            .filter(|c| f64::from(c.area_px) * px_mm * px_mm >= MIN_SPOT_AREA_MM2)
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
                    area_mm2: n * px_mm * px_mm,
                    perimeter_mm: boundary as f64 * px_mm,
                    delta_l: base.lab.l - mean(&px.l),
                    delta_melanin: mean(&px.melanin) - base.melanin_index,
                }
            })
            .collect();
        Self {
            spots,
            skin_area_mm2: patch.area_mm2(),
        }
    }

    pub fn merge(samples: &[&PigmentSample]) -> Self {
        Self {
            spots: samples
                .iter()
                .flat_map(|s| s.spots.iter().copied())
                .collect(),
            skin_area_mm2: samples.iter().map(|s| s.skin_area_mm2).sum(),
        }
    }

    pub fn metrics(&self) -> PigmentMetrics {
        let area: f64 = self.spots.iter().map(|s| s.area_mm2).sum();
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
        // Boundary uncertain by about one canonical pixel all round.
        let px_mm = 1.0 / CANONICAL_PX_PER_MM;
        let rel = if area > 0.0 {
            self.spots
                .iter()
                .map(|s| s.perimeter_mm * px_mm)
                .sum::<f64>()
                / area
        } else {
            0.0
        };
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
            severity: score::pigmentation(pct, mean_dl.unwrap_or(0.0), rel),
        }
    }
}
