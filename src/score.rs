//! Severity scores, 0–100, higher is worse, from the physical measurements
//! by fixed monotone mappings (documented here and in the README). They are
//! raw: no flattering curve, no normalisation to a population. Each carries
//! an uncertainty in score points, propagated from the measurement's own.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Score {
    /// 0–100, higher is more severe.
    #[schemars(range(min = 0.0, max = 100.0))]
    pub value: f64,
    /// ± one standard deviation, in score points.
    #[schemars(range(min = 0.0))]
    pub uncertainty: f64,
}

/// Half the change of `f` between `lo` and `hi`.
fn half_change(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    (f(hi) - f(lo)).abs() / 2.0
}

/// Half the change of `f` when `x` moves by `rel` of itself either way.
fn spread(f: impl Fn(f64) -> f64, x: f64, rel: f64) -> f64 {
    half_change(f, (x * (1.0 - rel)).max(0.0), x * (1.0 + rel))
}

fn propagate(f: impl Fn(f64) -> f64, x: f64, rel: f64) -> Score {
    Score {
        value: round1(f(x)),
        uncertainty: round1(spread(f, x, rel)),
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Pores: `100 · (1 − exp(−coverage % / 5))`; 2 % coverage → 33, 5 % → 63,
/// 10 % → 86. Coverage combines how many pores and how large.
/// Uncertainty: Poisson sampling of the pore count (1/√N).
pub fn pores(coverage_pct: f64, count: u64) -> Score {
    let rel = 1.0 / (count.max(1) as f64).sqrt();
    propagate(|c| 100.0 * (1.0 - (-c / 5.0).exp()), coverage_pct, rel)
}

/// Acne scars: `100 · (1 − exp(−I / 4))` with the index I = scarred area %
/// × (mean depth / 0.5 mm): 2 % of the area in 0.5 mm deep scars → 39,
/// 4 % → 63, 8 % → 86; shallower scars count proportionally less.
/// Uncertainty: Poisson sampling of the scar count (1/√N) combined with
/// the relative depth uncertainty.
pub fn scars(area_pct: f64, mean_depth_mm: f64, count: u64, depth_uncertainty_mm: f64) -> Score {
    let depth_rel = if mean_depth_mm > 0.0 {
        depth_uncertainty_mm / mean_depth_mm
    } else {
        0.0
    };
    let rel = (1.0 / count.max(1) as f64 + depth_rel * depth_rel).sqrt();
    let index = area_pct * mean_depth_mm / 0.5;
    propagate(|i| 100.0 * (1.0 - (-i / 4.0).exp()), index, rel)
}

/// MASI area grade, continuous: 0 % → 0, 10 % → 1, 30 → 2, 50 → 3, 70 → 4,
/// 90 → 5, 100 → 6 (the MASI band edges), linear between.
pub fn masi_area_continuous(pct: f64) -> f64 {
    const EDGES: [(f64, f64); 7] = [
        (0.0, 0.0),
        (10.0, 1.0),
        (30.0, 2.0),
        (50.0, 3.0),
        (70.0, 4.0),
        (90.0, 5.0),
        (100.0, 6.0),
    ];
    let p = pct.clamp(0.0, 100.0);
    for w in EDGES.windows(2) {
        let ((p0, g0), (p1, g1)) = (w[0], w[1]);
        if p <= p1 {
            return g0 + (p - p0) / (p1 - p0) * (g1 - g0);
        }
    }
    6.0
}

/// MASI area grade as clinicians score it: 0 none, 1 < 10 %, 2 10–29 %,
/// 3 30–49 %, 4 50–69 %, 5 70–89 %, 6 90–100 %.
pub fn masi_area_grade(pct: f64) -> u8 {
    match pct {
        p if p <= 0.0 => 0,
        p if p < 10.0 => 1,
        p if p < 30.0 => 2,
        p if p < 50.0 => 3,
        p if p < 70.0 => 4,
        p if p < 90.0 => 5,
        _ => 6,
    }
}

/// Darkness, continuous: ΔL* / 3, capped at 4 (this project's mapping of
/// lightness contrast to the MASI darkness scale: 3 L* units per grade).
pub fn darkness_continuous(delta_l: f64) -> f64 {
    (delta_l / 3.0).clamp(0.0, 4.0)
}

/// Darkness grade 0–4 (absent, slight, mild, marked, severe).
pub fn darkness_grade(delta_l: f64) -> u8 {
    darkness_continuous(delta_l).round() as u8
}

/// Pigmentation of one zone: `100 · (area grade / 6) · (darkness / 4)`,
/// both continuous, so the score is the zone's mMASI term scaled to 100.
/// Uncertainty: from the pigmented area's relative uncertainty (spot
/// boundaries ±1 pixel, and half the skin the model is unsure of) and from
/// the darkness's (`delta_l_uncertainty`, in L* units), added in quadrature.
pub fn pigmentation(
    pigmented_pct: f64,
    delta_l: f64,
    area_rel_uncertainty: f64,
    delta_l_uncertainty: f64,
) -> Score {
    let score =
        |p: f64, dl: f64| 100.0 * masi_area_continuous(p) / 6.0 * darkness_continuous(dl) / 4.0;
    let from_area = spread(|p| score(p, delta_l), pigmented_pct, area_rel_uncertainty);
    let from_darkness = half_change(
        |dl| score(pigmented_pct, dl),
        delta_l - delta_l_uncertainty,
        delta_l + delta_l_uncertainty,
    );
    Score {
        value: round1(score(pigmented_pct, delta_l)),
        uncertainty: round1(from_area.hypot(from_darkness)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_monotone_and_bounded() {
        let mut last = -1.0;
        for c in 0..=40 {
            let s = pores(c as f64 * 0.5, 100).value;
            assert!(s >= last && (0.0..=100.0).contains(&s));
            last = s;
        }
        let mut last = -1.0;
        for p in 0..=100 {
            let s = pigmentation(p as f64, 8.0, 0.1, 0.5).value;
            assert!(s >= last && (0.0..=100.0).contains(&s));
            last = s;
        }
        assert_eq!(pigmentation(100.0, 30.0, 0.0, 0.0).value, 100.0);
        assert_eq!(pores(0.0, 0).value, 0.0);
    }

    #[test]
    fn masi_grades_follow_the_bands() {
        assert_eq!(masi_area_grade(0.0), 0);
        assert_eq!(masi_area_grade(5.0), 1);
        assert_eq!(masi_area_grade(29.9), 2);
        assert_eq!(masi_area_grade(95.0), 6);
        assert!((masi_area_continuous(20.0) - 1.5).abs() < 1e-9);
        assert_eq!(darkness_grade(0.5), 0);
        assert_eq!(darkness_grade(6.2), 2);
        assert_eq!(darkness_grade(40.0), 4);
    }

    #[test]
    fn an_uncertain_darkness_widens_the_pigmentation_uncertainty() {
        let sure = pigmentation(20.0, 6.0, 0.1, 0.0);
        let unsure = pigmentation(20.0, 6.0, 0.1, 1.0);
        assert_eq!(sure.value, unsure.value);
        assert!(unsure.uncertainty > sure.uncertainty);
        // Faint spots (darkness 0) still carry the darkness's uncertainty.
        assert!(pigmentation(20.0, 0.0, 0.1, 1.0).uncertainty > 0.0);
    }

    #[test]
    fn fewer_pores_mean_wider_uncertainty() {
        assert!(pores(3.0, 4).uncertainty > pores(3.0, 400).uncertainty);
    }
}
