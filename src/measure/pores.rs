//! Pores: components of the pore model's output at 16 px/mm, measured in mm.

use super::segment::{CanonicalPatch, Component};
use crate::score::{self, Score};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pores smaller than this are not counted (Flament 2015's detection threshold).
pub const DETECTION_THRESHOLD_MM: f64 = 0.25;
/// The pore model's input scale.
pub const CANONICAL_PX_PER_MM: f64 = 16.0;
/// What the pore model's input is divided by (as in its training).
pub const REFERENCE: super::segment::Reference = super::segment::Reference::Median;
/// The pore model's input: 2×2 blocks, so even sides.
pub const INPUT: super::segment::InputSpec = super::segment::InputSpec {
    reference: REFERENCE,
    multiple: 2,
};
/// Model probability above which a pixel is pore.
pub const PROBABILITY_THRESHOLD: f32 = 0.5;
/// The pore model over a zone: bands of 256 rows, tiles up to 512 pixels
/// wide, each with a 16-pixel halo. The network works on 2×2 blocks (tile
/// origins are even, so the blocks fall as in the whole zone) through four
/// 3×3 layers dilated 1, 1, 2, 2: it sees at most 13 pixels to each side,
/// so a 16-pixel halo gives the whole-zone output exactly. 256×512 took
/// 4–7 % less time than 160×320 on the clinic face and the close-up (the
/// halo's share is smaller; docs/performance.md).
pub const TILING: super::segment::Tiling = match super::segment::Tiling::new(256, 512, 16) {
    Some(t) => t,
    None => panic!("tile sizes must be even"),
};

/// Why a zone gets no pore reading whatever the photo's resolution, or
/// `None`. Under the eyes the zone's upper edge runs along the lashes,
/// whose tips read as pores (seen on both BioSkin faces), and pores there
/// are no treatment concern. A zone mostly under a beard or stubble
/// (`hair::HAIRY_ZONE_PCT`) shows follicles and stubble the hair mask
/// misses, which read as pores (bioskin/2.jpg's chin read 73 pores/cm²,
/// severity 99, on its stubble).
pub fn zone_refusal(zone: crate::zones::ZoneName, hair_pct: Option<f64>) -> Option<String> {
    if zone.is_under_eye() {
        return Some(
            "pores are not measured under the eyes: the lashes along the zone's edge read as pores"
                .into(),
        );
    }
    match hair_pct {
        Some(h) if super::hair::is_hairy(h) => Some(format!(
            "hair covers {h:.0} % of the zone (beard or stubble; at least {:.0} %): its follicles and the stubble the hair mask misses read as pores",
            super::hair::HAIRY_ZONE_PCT
        )),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PoreMetrics {
    /// Pores of at least the detection threshold.
    pub count: u64,
    /// Pores per cm² of measured skin.
    pub density_per_cm2: f64,
    /// Equivalent-circle diameters; null when no pore was found.
    pub median_diameter_mm: Option<f64>,
    /// 90th percentile of the equivalent-circle diameters, mm.
    pub p90_diameter_mm: Option<f64>,
    /// Mean pore area, mm²; null when no pore was found.
    pub mean_area_mm2: Option<f64>,
    /// Share of the measured skin covered by pores, percent.
    pub coverage_pct: f64,
    /// Skin area the figures refer to.
    pub measured_area_cm2: f64,
    /// 0–100 from the pore coverage (`score::pores`).
    pub severity: Score,
}

/// The smallest pore counted: a disc `DETECTION_THRESHOLD_MM` across, on
/// the skin's surface.
pub const MIN_AREA_MM2: f64 =
    std::f64::consts::PI * (DETECTION_THRESHOLD_MM / 2.0) * (DETECTION_THRESHOLD_MM / 2.0);

/// Pore sizes in one zone, kept for pooling over the face.
#[derive(Debug, Clone, Default)]
pub struct PoreSample {
    pub areas_mm2: Vec<f64>,
    pub skin_area_mm2: f64,
}

impl PoreSample {
    pub fn from_components(patch: &CanonicalPatch, comps: &[Component]) -> Self {
        let areas_mm2 = comps
            .iter()
            .map(|c| patch.pixels_mm2(&c.pixels))
            .filter(|&a| a >= MIN_AREA_MM2)
            .collect();
        Self {
            areas_mm2,
            skin_area_mm2: patch.area_mm2(),
        }
    }

    pub fn merge(samples: &[&PoreSample]) -> Self {
        Self {
            areas_mm2: samples
                .iter()
                .flat_map(|s| s.areas_mm2.iter().copied())
                .collect(),
            skin_area_mm2: samples.iter().map(|s| s.skin_area_mm2).sum(),
        }
    }

    pub fn metrics(&self) -> PoreMetrics {
        let n = self.areas_mm2.len();
        let mut d: Vec<f64> = self
            .areas_mm2
            .iter()
            .map(|a| 2.0 * (a / std::f64::consts::PI).sqrt())
            .collect();
        d.sort_by(f64::total_cmp);
        let quantile =
            |q: f64| (n > 0).then(|| d[((q * (n - 1) as f64).round() as usize).min(n - 1)]);
        let total = crate::units::total(self.areas_mm2.iter().copied());
        let coverage_pct = if self.skin_area_mm2 > 0.0 {
            100.0 * total / self.skin_area_mm2
        } else {
            0.0
        };
        PoreMetrics {
            count: n as u64,
            density_per_cm2: if self.skin_area_mm2 > 0.0 {
                n as f64 / (self.skin_area_mm2 / 100.0)
            } else {
                0.0
            },
            median_diameter_mm: quantile(0.5),
            p90_diameter_mm: quantile(0.9),
            mean_area_mm2: (n > 0).then(|| total / n as f64),
            coverage_pct,
            measured_area_cm2: self.skin_area_mm2 / 100.0,
            severity: score::pores(coverage_pct, n as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_in_physical_units() {
        // Four pores of 0.3 mm diameter and one too small to count, on 1 cm².
        let a = std::f64::consts::PI * 0.15 * 0.15;
        let s = PoreSample {
            areas_mm2: vec![a, a, a, a],
            skin_area_mm2: 100.0,
        };
        let m = s.metrics();
        assert_eq!(m.count, 4);
        assert!((m.density_per_cm2 - 4.0).abs() < 1e-9);
        assert!((m.median_diameter_mm.unwrap() - 0.3).abs() < 1e-9);
        assert!((m.coverage_pct - 100.0 * 4.0 * a / 100.0).abs() < 1e-9);
        let empty = PoreSample {
            areas_mm2: vec![],
            skin_area_mm2: 50.0,
        }
        .metrics();
        assert_eq!(empty.count, 0);
        assert!(empty.median_diameter_mm.is_none());
    }
}
