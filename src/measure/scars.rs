//! Atrophic scars from a height map (mm): depressions below the local skin
//! surface, measured and typed by Jacob et al. (2001) — ice-pick narrower
//! than 2 mm and deep; box-car 1.5–4 mm with sharp walls, shallow (≤ 0.5 mm)
//! or deep; rolling wider than 4 mm with sloped walls.

use crate::score::{self, Score};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The single-photo model's resolution: a 1 mm scar spans 4 pixels. The
/// same as pigmentation's, so both read one resampled patch per zone.
pub const CANONICAL_PX_PER_MM: f64 = 4.0;
/// The single-photo model's input: divided by the zone's median, even sides.
pub const INPUT: super::segment::InputSpec = super::segment::InputSpec {
    reference: super::segment::Reference::Median,
    multiple: 2,
};
/// Multi-light captures are measured at their own resolution up to this.
pub const MEASURED_MAX_PX_PER_MM: f64 = 10.0;
/// A measured scar's depth is the mean of its deepest 2 % of pixels (at
/// least one): the single deepest pixel of a broad scar is partly the
/// height map's own noise (rolling scars read 0.08 mm deep on the
/// near-field renders with it; 1-3 % read alike, docs/relief-near-field.md).
const DEEPEST_SHARE: f64 = 0.02;
/// A box-car's or rolling scar's depth is its floor's: read from the depth
/// map averaged over a box this share of the scar's width, so that the
/// skin texture on the floor (whose deepest 2 % is deeper than the floor)
/// does not deepen it. An ice-pick's depth is its tip, read unaveraged.
/// Chosen on the distant-light renders (at least 1 mm wide: 0.062 mm
/// unaveraged, 0.060 at 0.1 and 0.2, 0.061 at 0.3); on the near-field
/// renders 0.053 -> 0.050, on the independent generator 0.049 -> 0.046
/// (docs/relief-near-field.md).
const FLOOR_BOX_SHARE: f64 = 0.1;
pub const PROBABILITY_THRESHOLD: f32 = 0.5;
/// One scar's depth error (RMS, mm) from one photo: 0.245 mm on the
/// held-out renders (`bash models/train/evaluate.sh`, README).
pub const ESTIMATED_DEPTH_UNCERTAINTY_MM: f64 = 0.25;
/// The same for a multi-light capture: 0.091 mm on the held-out renders
/// (2026-12-07; 0.099 when it was set), rounded up.
pub const MEASURED_DEPTH_UNCERTAINTY_MM: f64 = 0.10;
/// From one photo, shallower estimates are dropped. The model was trained
/// on scars from 0.1 mm deep, but on real scar-free skin most of its false
/// scars are estimated 0.1–0.2 mm deep (median 0.15 mm, within its own
/// 0.25 mm RMS error), so only deeper ones are reported.
pub const ESTIMATED_MIN_DEPTH_MM: f64 = 0.2;
/// From one photo, an estimate must also be at least this deep for its
/// width. A depression much wider than deep is barely shaded under a broad
/// light, so one photo cannot tell it from a small pigmented spot whose
/// colour JPEG compression has taken (a mole on `distance/15cm.jpg` read
/// 0.20-0.29 mm deep and 1.3-4.8 mm wide, depth/width 0.05-0.21, a false
/// scar in 24 of 64 re-encoded copies, `capture_variants.py make --grid`;
/// docs/harm-on-real-skin.md). The
/// largest round limit under every one-photo scar the held-out renders
/// accept (their shallowest 0.186).
pub const ESTIMATED_MIN_DEPTH_TO_WIDTH: f64 = 0.18;
/// Depressions shallower than this (mm) are skin texture, not scars.
pub const MIN_DEPTH_MM: f64 = 0.05;
/// Scale of the local skin surface the depth is measured from (mm): the
/// side of the box a quadratic is fitted over, wider than the widest
/// rolling scar.
pub const SURFACE_SCALE_MM: f64 = 8.0;
/// Scars centred nearer than this to the edge of what is measured are not
/// counted.
pub const EDGE_MARGIN_MM: f64 = 1.0;
/// A depression counts where it is this many noise SDs deep (and at least
/// `MIN_DEPTH_MM`).
const NOISE_SDS: f64 = 4.0;
/// Narrowest core (the part deeper than the detection threshold) of a scar:
/// pores and noise speckles are narrower.
pub const MIN_CORE_WIDTH_MM: f64 = 0.4;
/// Pixels this far below the fitted surface are left out of the next fit.
const SURFACE_EXCLUDE_MM: f64 = 0.03;
/// Refits of the surface after the first.
const SURFACE_ITERATIONS: usize = 3;
/// Wall steepness (depth over wall width) separating sharp box-car walls
/// from the sloped walls of rolling scars.
pub const SHARP_WALL_SLOPE: f64 = 0.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScarType {
    IcePick,
    BoxcarShallow,
    BoxcarDeep,
    Rolling,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Scar {
    /// The scar's type (Jacob 2001 classes), by width, depth and wall slope.
    pub kind: ScarType,
    /// Equivalent-circle diameter of the depressed area (mm).
    pub width_mm: f64,
    /// The depressed area on the face's surface, mm².
    pub area_mm2: f64,
    /// Depth below the local surface (mm): measured relief gives the mean
    /// of the scar's deepest 2 % of pixels (its single deepest pixel is
    /// partly noise), one photo the model's deepest pixel.
    pub depth_mm: f64,
    /// Depth over the width of the wall (the ring between 10 % and 90 % of
    /// the depth); high for sharp walls.
    pub wall_slope: f64,
    /// Centre: height-map pixels while measuring, image pixels in a record.
    pub centre_px: (f64, f64),
}

/// How many scars of each type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScarCounts {
    /// Narrower than 2 mm and deeper than 0.3 mm.
    pub ice_pick: u64,
    /// Box-car (sharp walls, not ice-pick or rolling), up to 0.5 mm deep.
    pub boxcar_shallow: u64,
    /// Box-car, deeper than 0.5 mm.
    pub boxcar_deep: u64,
    /// Wider than 4 mm with sloped walls.
    pub rolling: u64,
}

/// Scars of a zone or of the face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScarMetrics {
    /// Atrophic scars found.
    pub count: u64,
    /// Scars per type (Jacob et al. 2001, from width, depth and wall slope).
    pub by_type: ScarCounts,
    /// Scars per cm² of measured skin.
    pub density_per_cm2: f64,
    /// Total scar area, mm².
    pub scarred_area_mm2: f64,
    /// Scarred share of the measured area, %.
    pub scarred_area_pct: f64,
    /// Null when there are no scars.
    pub mean_depth_mm: Option<f64>,
    /// Deepest scar below the surrounding skin, mm; null when there are no scars.
    pub max_depth_mm: Option<f64>,
    /// Goodman & Baron qualitative grade, estimated from the relief: 0 no
    /// atrophic scar found, 2 mild, 3 moderate, 4 severe (rules in
    /// `goodman_baron_estimate`). Grade 1 (macular: flat marks) has no
    /// relief and is never given here.
    pub goodman_baron_grade: u8,
    /// 0–100 from scarred area and depth (`score::scars`).
    pub severity: Score,
    /// Each scar: type, width (mm), area (mm²), depth (mm), wall slope and
    /// centre (image pixels).
    pub scars: Vec<Scar>,
}

/// Goodman & Baron (2006) qualitative grade from the scars found, an
/// estimate: severe (4) when scars that stretching cannot flatten — ice-pick
/// or deep box-car — number three or more, or scars cover ≥ 10 % of the
/// area; moderate (3) when any scar is obvious at social distance (≥ 0.3 mm
/// deep and ≥ 1.5 mm wide) or scars cover ≥ 2 %; mild (2) otherwise.
pub fn goodman_baron_estimate(scars: &[Scar], scarred_area_pct: f64) -> u8 {
    if scars.is_empty() {
        return 0;
    }
    let tethered = scars
        .iter()
        .filter(|s| matches!(s.kind, ScarType::IcePick | ScarType::BoxcarDeep))
        .count();
    if tethered >= 3 || scarred_area_pct >= 10.0 {
        4
    } else if scarred_area_pct >= 2.0
        || scars.iter().any(|s| s.depth_mm >= 0.3 && s.width_mm >= 1.5)
    {
        3
    } else {
        2
    }
}

/// Scars found over a measured area (mm²), poolable across zones.
#[derive(Debug, Clone, Default)]
pub struct ScarSample {
    pub scars: Vec<Scar>,
    pub area_mm2: f64,
}

impl ScarSample {
    pub fn merge(parts: &[&ScarSample]) -> ScarSample {
        ScarSample {
            scars: parts.iter().flat_map(|p| p.scars.iter().cloned()).collect(),
            area_mm2: parts.iter().map(|p| p.area_mm2).sum(),
        }
    }

    /// `depth_uncertainty_mm`: one scar's depth error (one SD), carried into
    /// the severity's uncertainty.
    pub fn metrics(&self, depth_uncertainty_mm: f64) -> ScarMetrics {
        let mut by_type = ScarCounts::default();
        for s in &self.scars {
            *match s.kind {
                ScarType::IcePick => &mut by_type.ice_pick,
                ScarType::BoxcarShallow => &mut by_type.boxcar_shallow,
                ScarType::BoxcarDeep => &mut by_type.boxcar_deep,
                ScarType::Rolling => &mut by_type.rolling,
            } += 1;
        }
        let n = self.scars.len();
        let scarred = crate::units::total(self.scars.iter().map(|s| s.area_mm2));
        let pct = if self.area_mm2 > 0.0 {
            (100.0 * scarred / self.area_mm2).min(100.0)
        } else {
            0.0
        };
        let mean = (n > 0).then(|| self.scars.iter().map(|s| s.depth_mm).sum::<f64>() / n as f64);
        let max = self.scars.iter().map(|s| s.depth_mm).reduce(f64::max);
        let round = |v: f64, k: f64| (v * k).round() / k;
        ScarMetrics {
            count: n as u64,
            by_type,
            density_per_cm2: if self.area_mm2 > 0.0 {
                round(n as f64 / (self.area_mm2 / 100.0), 1000.0)
            } else {
                0.0
            },
            scarred_area_mm2: round(scarred, 100.0),
            scarred_area_pct: round(pct, 1000.0),
            mean_depth_mm: mean.map(|v| round(v, 1000.0)),
            max_depth_mm: max.map(|v| round(v, 1000.0)),
            goodman_baron_grade: goodman_baron_estimate(&self.scars, pct),
            severity: score::scars(pct, mean.unwrap_or(0.0), n as u64, depth_uncertainty_mm),
            scars: self
                .scars
                .iter()
                .map(|s| Scar {
                    width_mm: round(s.width_mm, 1000.0),
                    area_mm2: round(s.area_mm2, 1000.0),
                    depth_mm: round(s.depth_mm, 1000.0),
                    wall_slope: round(s.wall_slope, 1000.0),
                    centre_px: (round(s.centre_px.0, 10.0), round(s.centre_px.1, 10.0)),
                    ..s.clone()
                })
                .collect(),
        }
    }
}

/// Solves the symmetric 6×6 system `a x = b` (Gaussian elimination with
/// partial pivoting); `None` when it is singular.
fn solve6(mut a: [[f64; 6]; 6], mut b: [f64; 6]) -> Option<[f64; 6]> {
    for col in 0..6 {
        let piv = (col..6).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for row in col + 1..6 {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (v, p) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *v -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 6];
    for row in (0..6).rev() {
        let s: f64 = (row + 1..6).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// The skin surface around each pixel: a quadratic (so facial curvature is
/// followed, not mistaken for depth) fitted by least squares over the box
/// of radius `r`, refitted without the pixels lying more than
/// `SURFACE_EXCLUDE_MM` below the previous fit, so that scars do not pull
/// the surface down.
fn local_surface(z: &[f32], w: usize, h: usize, r: usize) -> Vec<f64> {
    let n = w * h;
    let (cx, cy, s) = (w as f64 / 2.0, h as f64 / 2.0, r.max(1) as f64);
    let coords = |i: usize| (((i % w) as f64 - cx) / s, ((i / w) as f64 - cy) / s);
    // Monomials x^a y^b, a + b <= 4, for the normal equations.
    const POWERS: [(i32, i32); 15] = [
        (0, 0),
        (1, 0),
        (0, 1),
        (2, 0),
        (1, 1),
        (0, 2),
        (3, 0),
        (2, 1),
        (1, 2),
        (0, 3),
        (4, 0),
        (3, 1),
        (2, 2),
        (1, 3),
        (0, 4),
    ];
    // The basis 1, x, y, x², xy, y² as powers.
    const BASIS: [(i32, i32); 6] = [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)];
    let index_of = |p: (i32, i32)| POWERS.iter().position(|&q| q == p).unwrap_or(0);
    let mut weight = vec![1.0f64; n];
    let mut surface = vec![0.0f64; n];
    for _ in 0..=SURFACE_ITERATIONS {
        let moments: Vec<Vec<f64>> = POWERS
            .iter()
            .map(|&(a, b)| {
                let v: Vec<f64> = (0..n)
                    .map(|i| {
                        let (x, y) = coords(i);
                        weight[i] * x.powi(a) * y.powi(b)
                    })
                    .collect();
                super::segment::box_sum(&v, w, h, r)
            })
            .collect();
        let rhs: Vec<Vec<f64>> = BASIS
            .iter()
            .map(|&(a, b)| {
                let v: Vec<f64> = (0..n)
                    .map(|i| {
                        let (x, y) = coords(i);
                        weight[i] * x.powi(a) * y.powi(b) * f64::from(z[i])
                    })
                    .collect();
                super::segment::box_sum(&v, w, h, r)
            })
            .collect();
        for i in 0..n {
            let mut a = [[0.0f64; 6]; 6];
            for (r_, &(a1, b1)) in BASIS.iter().enumerate() {
                for (c_, &(a2, b2)) in BASIS.iter().enumerate() {
                    a[r_][c_] = moments[index_of((a1 + a2, b1 + b2))][i];
                }
            }
            let b = [0, 1, 2, 3, 4, 5].map(|k| rhs[k][i]);
            let (x, y) = coords(i);
            surface[i] = match solve6(a, b) {
                Some(c) => c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y,
                // Too few usable pixels around: fall back to the height itself.
                None => f64::from(z[i]),
            };
        }
        for i in 0..n {
            weight[i] = if surface[i] - f64::from(z[i]) < SURFACE_EXCLUDE_MM {
                1.0
            } else {
                0.0
            };
        }
    }
    surface
}

/// Pixels connected to `seed` whose depth is at least `floor`, not taken
/// by an earlier scar.
fn grow(
    seed: &[u32],
    depth: &[f64],
    w: usize,
    h: usize,
    floor: f64,
    claimed: &mut [bool],
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut stack: Vec<usize> = seed
        .iter()
        .map(|&i| i as usize)
        .filter(|&i| !claimed[i])
        .collect();
    for &i in &stack {
        claimed[i] = true;
    }
    while let Some(i) = stack.pop() {
        out.push(i);
        let (x, y) = (i % w, i / w);
        let neighbours = [
            (x.wrapping_sub(1), y),
            (x + 1, y),
            (x, y.wrapping_sub(1)),
            (x, y + 1),
        ];
        for (nx, ny) in neighbours {
            if nx < w && ny < h {
                let j = ny * w + nx;
                if !claimed[j] && depth[j] >= floor {
                    claimed[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    out
}

/// Depth below the local skin surface (mm, positive where depressed) of a
/// `w`×`h` height map sampled at `px_per_mm`: what scars are found in.
pub fn depth_below_surface(z: &[f32], w: usize, h: usize, px_per_mm: f64) -> Vec<f64> {
    let r = ((SURFACE_SCALE_MM / 2.0) * px_per_mm).round().max(1.0) as usize;
    let surface = local_surface(z, w, h, r);
    z.iter()
        .zip(&surface)
        .map(|(&a, s)| s - f64::from(a))
        .collect()
}

/// Finds and types the scars in a `w`×`h` height map sampled at `px_per_mm`
/// (the measured mode: a height map from photometric stereo).
pub fn find(z: &[f32], w: usize, h: usize, px_per_mm: f64) -> Vec<Scar> {
    let depth = depth_below_surface(z, w, h, px_per_mm);
    // The height map's own noise sets how deep a depression must be to
    // count: integration turns image noise into wandering height.
    let threshold = MIN_DEPTH_MM.max(NOISE_SDS * super::segment::robust_sd(&depth));
    let inside: Vec<f32> = depth
        .iter()
        .map(|&d| if d >= threshold { 1.0 } else { 0.0 })
        .collect();
    let mask = vec![true; w * h];
    let comps = super::segment::components(&inside, &mask, w as u32, h as u32, 0.5);
    let min_core_px = std::f64::consts::PI * (MIN_CORE_WIDTH_MM / 2.0 * px_per_mm).powi(2);
    let mut claimed = vec![false; w * h];
    // Averaged depth maps by box radius (scars of similar width share one).
    let mut floors: std::collections::BTreeMap<usize, Vec<f64>> = Default::default();
    comps
        .iter()
        .filter(|c| f64::from(c.area_px) >= min_core_px)
        .filter_map(|c| {
            let deepest = c
                .pixels
                .iter()
                .map(|&i| depth[i as usize])
                .fold(0.0, f64::max);
            // A sloped scar's edge lies below the detection threshold: its
            // extent is where it is at least 10 % of its own depth deep
            // (but not down into the noise).
            let floor = (0.1 * deepest).max(0.5 * threshold);
            let region = grow(&c.pixels, &depth, w, h, floor, &mut claimed);
            let depth_mm = deepest_share(&region, &depth, DEEPEST_SHARE);
            let scar = describe(&region, &depth, depth_mm, w, px_per_mm)?;
            if scar.kind == ScarType::IcePick {
                return Some(scar);
            }
            // A floor's depth, read through its texture.
            let r = ((scar.width_mm * px_per_mm * FLOOR_BOX_SHARE / 2.0).round() as usize).max(1);
            let floor = floors.entry(r).or_insert_with(|| {
                let [mean] =
                    super::segment::masked_box_means([&depth], &vec![true; w * h], w, h, r).1;
                mean
            });
            let depth_mm = deepest_share(&region, floor, DEEPEST_SHARE);
            describe(&region, &depth, depth_mm, w, px_per_mm)
        })
        .collect()
}

/// The deepest point of `depth` (mm below the local surface) within the
/// scar's radius of its centre (at least a pixel), over the pixels another
/// reading of the same skin could solve (`valid`): how deep that reading
/// finds it. `None` when it solved under half of them (it cannot say).
pub fn deepest_near(
    s: &Scar,
    depth: &[f64],
    valid: &[bool],
    w: usize,
    h: usize,
    px_per_mm: f64,
) -> Option<f64> {
    let r = (s.width_mm / 2.0 * px_per_mm).max(1.0);
    let (cx, cy) = s.centre_px;
    let last = |n: usize, c: f64| ((c + r).ceil().max(0.0) as usize).min(n.saturating_sub(1));
    let first = |c: f64| (c - r).floor().max(0.0) as usize;
    let (mut deepest, mut inside, mut solved) = (f64::NEG_INFINITY, 0usize, 0usize);
    for y in first(cy)..=last(h, cy) {
        for x in first(cx)..=last(w, cx) {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            if dx * dx + dy * dy > r * r {
                continue;
            }
            inside += 1;
            if valid[y * w + x] {
                solved += 1;
                deepest = deepest.max(depth[y * w + x]);
            }
        }
    }
    (2 * solved >= inside.max(1)).then_some(deepest)
}

/// The part of `mask` at least `EDGE_MARGIN_MM` from its edge (and from
/// the frame's): near an edge, integration and the model see a cut-off
/// surface, and the shading of whatever lies beyond (a nostril, an eyelid)
/// reads as a depression.
pub fn inner(mask: &[bool], w: usize, h: usize, px_per_mm: f64) -> Vec<bool> {
    let r = (EDGE_MARGIN_MM * px_per_mm).round() as usize;
    // Square erosion, separable: a pixel stays if the whole row span, then
    // the whole column span, around it is inside.
    let erode = |src: &[bool], horizontal: bool| -> Vec<bool> {
        let mut out = vec![false; src.len()];
        let (n, m) = if horizontal { (h, w) } else { (w, h) };
        let mut run = vec![0usize; m + 1];
        for a in 0..n {
            let at = |b: usize| if horizontal { a * w + b } else { b * w + a };
            for b in 0..m {
                run[b + 1] = run[b] + usize::from(src[at(b)]);
            }
            for b in 0..m {
                if b >= r && b + r < m {
                    out[at(b)] = run[b + r + 1] - run[b - r] == 2 * r + 1;
                }
            }
        }
        out
    };
    erode(&erode(mask, true), false)
}

/// Whether the scar's centre lies in `region`.
pub fn centred_in(s: &Scar, region: &[bool], w: usize, h: usize) -> bool {
    let (x, y) = (s.centre_px.0.floor(), s.centre_px.1.floor());
    x >= 0.0
        && y >= 0.0
        && (x as usize) < w
        && (y as usize) < h
        && region[y as usize * w + x as usize]
}

/// Scars from a model's scar mask (components of its probability map inside
/// `mask`) and its depth map (mm below the surrounding skin): the estimated,
/// single-photo mode, each with its pixels. Components shallower than
/// `ESTIMATED_MIN_DEPTH_MM`, or than `ESTIMATED_MIN_DEPTH_TO_WIDTH` of their
/// width, are dropped.
pub fn from_mask(
    prob: &[f32],
    depth_mm: &[f32],
    mask: &[bool],
    w: usize,
    h: usize,
    px_per_mm: f64,
    threshold: f32,
) -> Vec<(Scar, Vec<usize>)> {
    let depth: Vec<f64> = depth_mm.iter().map(|&d| f64::from(d)).collect();
    super::segment::components(prob, mask, w as u32, h as u32, threshold)
        .iter()
        .filter_map(|c| {
            let region: Vec<usize> = c.pixels.iter().map(|&i| i as usize).collect();
            let deepest = region.iter().map(|&i| depth[i]).fold(0.0, f64::max);
            Some((describe(&region, &depth, deepest, w, px_per_mm)?, region))
        })
        .filter(|(s, _)| {
            s.depth_mm >= ESTIMATED_MIN_DEPTH_MM
                && s.depth_mm >= ESTIMATED_MIN_DEPTH_TO_WIDTH * s.width_mm
        })
        .collect()
}

/// What the photo's colour shows at a one-photo scar candidate, against
/// the skin around it. A depression changes only shading; look-alikes bring
/// colour of their own: a pigmented spot, a nevus or a hair adds melanin, a
/// red papule or vessel adds haemoglobin, and a fold or an edge is long and
/// thin.
#[derive(Debug, Clone, Copy)]
pub struct Evidence {
    /// Mean melanin index inside minus around (the ring out to
    /// `EVIDENCE_RING_MM`).
    pub delta_melanin: f64,
    pub delta_haemoglobin: f64,
    /// Grey optical density (shading) inside minus around: positive where
    /// the candidate is shaded.
    pub delta_shading: f64,
    /// Share of the ring inside the measured mask: the surrounding skin
    /// must be there to compare with.
    pub ring_inside: f64,
    /// Mean L* inside minus around.
    pub delta_l: f64,
    /// Standard deviation of L* over the surrounding ring: the skin's own
    /// texture, which a visible depression must stand out from.
    pub ring_sd_l: f64,
    /// Longer over shorter axis (second moments).
    pub elongation: f64,
    pub mean_probability: f64,
}

/// Width of the ring of surrounding skin a candidate is compared with (mm).
pub const EVIDENCE_RING_MM: f64 = 1.5;
/// A depression's floor is shaded under any broad light: it must be darker
/// than the ring by this many SDs of the ring's own L* texture. On real
/// scar-free skin the model's candidates are not (median 0.75 SD); on the
/// renders' scars they are (median 2.0 SD). 1.2, not 1.0: a patch of
/// stubble on `bioskin/2.jpg`'s cheek, measured once the turned face was
/// accepted, passed every other rule at 1.005 SD; at 1.2 the renders keep
/// 45 of their 46 one-photo scars (docs/harm-on-real-skin.md).
pub const MIN_DARKENING_SDS: f64 = 1.2;
/// Floor of the ring's texture SD (L* units), so that very smooth skin does
/// not make any slight darkening count.
pub const MIN_RING_SD_L: f64 = 0.3;
/// Shading is grey optical density, which the chromophore separation keeps
/// apart from melanin and haemoglobin. A depression darkens by shading; a
/// pigmented spot, a nevus or a hair by melanin, a red papule or a vessel by
/// haemoglobin. The candidate's haemoglobin excess may be at most this
/// share of its shading excess (an absolute allowance for the few
/// hundredths that specular light shifts them by let a brown macule
/// through).
pub const MAX_HAEMOGLOBIN_SHARE: f64 = 0.5;
/// The same for melanin, tighter: a 1.5 mm grey-brown dot on a real
/// scar-free cheek (`distance/15cm.jpg`) passed at 0.5 when the photo was
/// mirrored (0.44) or given sensor noise (0.48), with Goodman & Baron
/// grade 2; at 0.4 the renders keep 40 of their 42 matched one-photo scars
/// (docs/harm-on-real-skin.md). Haemoglobin stays at 0.5: scars are often
/// red, and the demo's box-car reads 0.48.
pub const MAX_MELANIN_SHARE: f64 = 0.4;
/// Skin chroma (C*ab, median over a zone) below which the photo carries no
/// colour (greyscale, a specular-only or UV image): there melanin and
/// shading cannot be told apart, so one photo cannot estimate scars. The
/// same limit as the photo's own colour check.
pub use crate::quality::MIN_SKIN_CHROMA;
/// Elongation above which it is a fold, a wrinkle or an edge.
pub const MAX_ELONGATION: f64 = 2.5;
/// Share of the surrounding ring that must lie inside the measured skin: a
/// candidate beside a lip, a nostril, an eyelid or the face's edge cannot be
/// told from the shading of what lies beyond.
pub const MIN_RING_INSIDE: f64 = 0.9;

impl Evidence {
    pub fn of(
        region: &[usize],
        px: &super::pigment::PixelColour,
        prob: &[f32],
        mask: &[bool],
        w: usize,
        h: usize,
        px_per_mm: f64,
    ) -> Evidence {
        let steps = (EVIDENCE_RING_MM * px_per_mm).round().max(1.0) as usize;
        let mut seen = vec![false; w * h];
        for &i in region {
            seen[i] = true;
        }
        let mut ring = Vec::new();
        let mut ring_total = 0usize;
        let mut frontier: Vec<usize> = region.to_vec();
        for _ in 0..steps {
            let mut next = Vec::new();
            for &i in &frontier {
                let (x, y) = (i % w, i / w);
                for (nx, ny) in [
                    (x.wrapping_sub(1), y),
                    (x + 1, y),
                    (x, y.wrapping_sub(1)),
                    (x, y + 1),
                ] {
                    if nx < w && ny < h && !seen[ny * w + nx] {
                        seen[ny * w + nx] = true;
                        next.push(ny * w + nx);
                    }
                }
            }
            ring_total += next.len();
            ring.extend(next.iter().copied().filter(|&j| mask[j]));
            frontier = next;
        }
        let mean = |idx: &[usize], v: &[f32]| {
            if idx.is_empty() {
                0.0
            } else {
                idx.iter().map(|&i| f64::from(v[i])).sum::<f64>() / idx.len() as f64
            }
        };
        let inside: Vec<usize> = region.iter().copied().filter(|&i| mask[i]).collect();
        let delta = |v: &[f32]| {
            if ring.is_empty() || inside.is_empty() {
                0.0
            } else {
                mean(&inside, v) - mean(&ring, v)
            }
        };
        let pixels: Vec<u32> = region.iter().map(|&i| i as u32).collect();
        let ring_l = mean(&ring, &px.l);
        let ring_sd_l = if ring.len() > 1 {
            (ring
                .iter()
                .map(|&i| (f64::from(px.l[i]) - ring_l).powi(2))
                .sum::<f64>()
                / (ring.len() - 1) as f64)
                .sqrt()
        } else {
            0.0
        };
        Evidence {
            ring_sd_l,
            delta_melanin: delta(&px.melanin),
            delta_haemoglobin: delta(&px.haemoglobin),
            delta_shading: delta(&px.shading),
            ring_inside: ring.len() as f64 / ring_total.max(1) as f64,
            delta_l: delta(&px.l),
            elongation: super::segment::elongation(&pixels, w as u32),
            mean_probability: mean(region, prob),
        }
    }

    /// Whether only a depression explains what the photo shows.
    pub fn accepts(&self) -> bool {
        let melanin_limit = MAX_MELANIN_SHARE * self.delta_shading;
        let haemoglobin_limit = MAX_HAEMOGLOBIN_SHARE * self.delta_shading;
        -self.delta_l >= MIN_DARKENING_SDS * self.ring_sd_l.max(MIN_RING_SD_L)
            && self.delta_shading > 0.0
            && self.delta_melanin <= melanin_limit
            && self.delta_haemoglobin <= haemoglobin_limit
            && self.elongation <= MAX_ELONGATION
            && self.ring_inside >= MIN_RING_INSIDE
    }
}

/// Whether a patch's skin has too little colour for `Evidence` (median C*ab
/// below `MIN_SKIN_CHROMA`).
pub fn colourless(px: &super::pigment::PixelColour, mask: &[bool]) -> bool {
    let mut chroma: Vec<f64> = (0..mask.len())
        .filter(|&i| mask[i])
        .map(|i| f64::from(px.a[i]).hypot(f64::from(px.b[i])))
        .collect();
    if chroma.is_empty() {
        return true;
    }
    let mid = chroma.len() / 2;
    *chroma.select_nth_unstable_by(mid, f64::total_cmp).1 < MIN_SKIN_CHROMA
}

/// The mean depth of the deepest `share` of `region`'s pixels (at least
/// one); 0 for an empty region.
fn deepest_share(region: &[usize], depth: &[f64], share: f64) -> f64 {
    let mut d: Vec<f64> = region.iter().map(|&i| depth[i]).collect();
    if d.is_empty() {
        return 0.0;
    }
    let k = ((d.len() as f64 * share) as usize).clamp(1, d.len());
    d.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    d[..k].iter().sum::<f64>() / k as f64
}

/// Measures and types one scar of depth `deepest` (mm) from its pixels and
/// the depth map.
fn describe(
    region: &[usize],
    depth: &[f64],
    deepest: f64,
    w: usize,
    px_per_mm: f64,
) -> Option<Scar> {
    let px_mm = 1.0 / px_per_mm;
    let area_mm2 = region.len() as f64 * px_mm * px_mm;
    let width_mm = 2.0 * (area_mm2 / std::f64::consts::PI).sqrt();
    if width_mm < 2.0 * px_mm || deepest <= 0.0 {
        return None; // one or two pixels: noise
    }
    // Wall: pixels between 10 % and 90 % of the depth; its width is the
    // ring's area over the scar's perimeter.
    let ring = region
        .iter()
        .filter(|&&i| (0.1 * deepest..0.9 * deepest).contains(&depth[i]))
        .count() as f64;
    let perimeter_mm = std::f64::consts::PI * width_mm;
    let wall_mm = (ring * px_mm * px_mm / perimeter_mm).max(px_mm);
    let wall_slope = 0.8 * deepest / wall_mm;
    let kind = if width_mm < 2.0 && deepest > 0.3 {
        ScarType::IcePick
    } else if width_mm > 4.0 && wall_slope < SHARP_WALL_SLOPE {
        ScarType::Rolling
    } else if deepest > 0.5 {
        ScarType::BoxcarDeep
    } else {
        ScarType::BoxcarShallow
    };
    let n = region.len() as f64;
    let (sx, sy) = region.iter().fold((0.0, 0.0), |(sx, sy), &i| {
        (sx + (i % w) as f64, sy + (i / w) as f64)
    });
    Some(Scar {
        kind,
        width_mm,
        area_mm2,
        depth_mm: deepest,
        wall_slope,
        centre_px: (sx / n + 0.5, sy / n + 0.5),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scar's depth (mm) at a distance (mm) from its centre.
    type Profile<'a> = &'a dyn Fn(f64) -> f64;

    /// Ice-pick: 1.2 mm wide cone, 0.6 mm deep.
    fn ice_pick(r: f64) -> f64 {
        if r < 0.6 {
            0.6 * (1.0 - r / 0.6)
        } else {
            0.0
        }
    }

    /// Box-car of `width` mm and `depth` mm with 0.15 mm walls.
    fn boxcar(r: f64, width: f64, depth: f64) -> f64 {
        let edge = width / 2.0;
        if r < edge - 0.15 {
            depth
        } else if r < edge {
            depth * (edge - r) / 0.15
        } else {
            0.0
        }
    }

    /// Rolling: 6 mm wide, 0.3 mm deep, smooth.
    fn rolling(r: f64) -> f64 {
        if r < 3.0 {
            0.3 * 0.5 * (1.0 + (std::f64::consts::PI * r / 3.0).cos())
        } else {
            0.0
        }
    }

    /// A height map (mm) with scars planted at known places, at `px` px/mm.
    fn skin(size: usize, px: f64, scars: &[(f64, f64, Profile)]) -> Vec<f32> {
        (0..size * size)
            .map(|i| {
                let (x, y) = ((i % size) as f64 + 0.5, (i / size) as f64 + 0.5);
                let mut z = 0.0;
                for (cx, cy, profile) in scars {
                    let r = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() / px;
                    z -= profile(r);
                }
                z as f32
            })
            .collect()
    }

    #[test]
    fn types_and_measures_planted_scars() {
        let (size, px) = (400, 20.0);
        let shallow = |r: f64| boxcar(r, 3.0, 0.3);
        let deep = |r: f64| boxcar(r, 3.5, 0.7);
        let z = skin(
            size,
            px,
            &[
                (100.0, 100.0, &ice_pick),
                (300.0, 100.0, &shallow),
                (100.0, 300.0, &deep),
                (300.0, 300.0, &rolling),
            ],
        );
        let scars = find(&z, size, size, px);
        assert_eq!(scars.len(), 4, "{scars:#?}");
        let at = |x: f64, y: f64| {
            scars
                .iter()
                .min_by(|a, b| {
                    let d = |s: &Scar| (s.centre_px.0 - x).powi(2) + (s.centre_px.1 - y).powi(2);
                    d(a).total_cmp(&d(b))
                })
                .unwrap()
        };
        let (i, b, d, r) = (
            at(100.0, 100.0),
            at(300.0, 100.0),
            at(100.0, 300.0),
            at(300.0, 300.0),
        );
        assert_eq!(i.kind, ScarType::IcePick, "{i:?}");
        assert_eq!(b.kind, ScarType::BoxcarShallow, "{b:?}");
        assert_eq!(d.kind, ScarType::BoxcarDeep, "{d:?}");
        assert_eq!(r.kind, ScarType::Rolling, "{r:?}");
        // Depth below the local surface within 0.1 mm, box-car width within 0.5 mm.
        for (s, depth) in [(i, 0.6), (b, 0.3), (d, 0.7), (r, 0.3)] {
            assert!((s.depth_mm - depth).abs() < 0.1, "{s:?} vs {depth}");
        }
        assert!((b.width_mm - 3.0).abs() < 0.5, "{b:?}");
    }

    /// Skin texture on a box-car's floor (a 0.3 mm floor with 0.04 mm
    /// ripples, 0.5 mm apart) does not deepen it: the floor's deepest 2 %
    /// read 0.34 mm, the floor averaged over a tenth of the scar's width
    /// reads its own depth. An ice-pick's tip is still read unaveraged.
    #[test]
    fn a_textured_floor_reads_at_the_floor_s_depth() {
        let (size, px) = (200, 20.0);
        let shallow = |r: f64| boxcar(r, 3.0, 0.3);
        let mut z = skin(size, px, &[(100.0, 100.0, &shallow)]);
        let floor = 1.35 * px;
        for (i, v) in z.iter_mut().enumerate() {
            let (x, y) = ((i % size) as f64 - 100.0, (i / size) as f64 - 100.0);
            if (x * x + y * y).sqrt() < floor {
                let wave = (2.0 * std::f64::consts::PI * x / (0.5 * px)).sin();
                *v -= (0.04 * wave) as f32;
            }
        }
        let scars = find(&z, size, size, px);
        assert_eq!(scars.len(), 1, "{scars:#?}");
        assert!((scars[0].depth_mm - 0.3).abs() < 0.015, "{:?}", scars[0]);
        let pit = find(
            &skin(size, px, &[(100.0, 100.0, &ice_pick)]),
            size,
            size,
            px,
        );
        assert_eq!(pit[0].kind, ScarType::IcePick, "{pit:?}");
        assert!((pit[0].depth_mm - 0.6).abs() < 0.1, "{pit:?}");
    }

    #[test]
    fn measured_mode_end_to_end_six_lights() {
        use crate::measure::relief::{integrate, photometric_stereo, render};
        let (size, px) = (400, 20.0);
        let shallow = |r: f64| boxcar(r, 3.0, 0.3);
        let z: Vec<f64> = skin(
            size,
            px,
            &[
                (100.0, 100.0, &ice_pick),
                (300.0, 100.0, &shallow),
                (200.0, 290.0, &rolling),
            ],
        )
        .iter()
        .map(|&v| f64::from(v))
        .collect();
        let lights = render::ring(6, 45.0);
        let normals = photometric_stereo(
            &render::lambertian(&z, size, px, &lights),
            &crate::measure::relief::LightField::distant(&render::distant(&lights)),
            &crate::measure::relief::Reflectance::default(),
        )
        .unwrap();
        let height = integrate(&normals, px);
        let scars = find(&height, size, size, px);
        let mut kinds: Vec<ScarType> = scars.iter().map(|s| s.kind).collect();
        kinds.sort_by_key(|k| *k as u8);
        assert_eq!(
            kinds,
            vec![
                ScarType::IcePick,
                ScarType::BoxcarShallow,
                ScarType::Rolling
            ],
            "{scars:#?}"
        );
        for s in &scars {
            let truth = match s.kind {
                ScarType::IcePick => 0.6,
                _ => 0.3,
            };
            println!(
                "{:?}: depth {:.3} mm (planted {truth}), width {:.2} mm",
                s.kind, s.depth_mm, s.width_mm
            );
            assert!((s.depth_mm - truth).abs() < 0.1, "{s:?}");
        }
    }

    #[test]
    fn smooth_skin_has_no_scars() {
        let z: Vec<f32> = (0..200 * 200)
            .map(|i| (0.02 * ((i % 200) as f64 / 15.0).sin()) as f32)
            .collect();
        assert!(find(&z, 200, 200, 20.0).is_empty());
    }
}
