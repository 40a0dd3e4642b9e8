//! Spectacle frames: a rim is a ring around the eye, darker than the skin
//! just inside and just outside it at most angles (below and beside the eye,
//! not only at the brow). Found, a rim's band is left out of every zone (as
//! the eyes themselves are): brown frames drawn on real faces read as 25–58 %
//! periorbital pigment and got a pigmentation plan.
//!
//! Checked on the 56 normal face photos of `../shared/photos` (best ring per
//! eye: at most 0.38 of the angles) against frames drawn on four of them
//! (0.74–1.00), `datasets/spectacle_rings.py`; no photo here shows real
//! glasses.

use super::Point;
use image::RgbImage;

/// Eye corners in the 468-point mesh (outer, inner): the subject's right eye,
/// then the left.
const EYE_CORNERS: [(usize, usize); 2] = [(33, 133), (263, 362)];
/// An adult eye's width, corner to corner (mm): the ruler for the search,
/// which is broad enough not to need the photo's measured scale.
const EYE_WIDTH_MM: f32 = 29.0;
/// Angles sampled around each candidate ellipse.
const ANGLES: usize = 120;
/// The skin a rim is compared with lies this far inside and outside it (mm);
/// the rim's band left out of the zones is this wide on each side.
const REFERENCE_OFFSET_MM: f32 = 3.5;
/// A rim is darker than both references by more than this (log luma, about
/// 10 %) at an angle.
const MIN_LOG_DARKER: f32 = 0.1;
/// Share of the angles at which a ring must be darker to be a rim: normal
/// faces here reach 0.38, drawn frames 0.74 and more.
pub const MIN_RING_SHARE: f32 = 0.6;

/// One lens rim: an ellipse in image pixels (axis-aligned) and the band
/// around it that is left out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rim {
    pub centre: Point,
    pub half_axes: (f32, f32),
    /// Half the width of the band left out, pixels.
    pub half_width: f32,
    /// Share of the angles at which the ring is darker than the skin on
    /// both sides of it.
    pub ring_share: f32,
}

impl Rim {
    /// Whether the pixel centre `(x, y)` lies in the rim's band.
    pub fn covers(&self, x: f32, y: f32) -> bool {
        let (dx, dy) = (x - self.centre.0, y - self.centre.1);
        let within =
            |a: f32, b: f32| a > 0.0 && b > 0.0 && (dx / a).powi(2) + (dy / b).powi(2) <= 1.0;
        let (a, b) = self.half_axes;
        within(a + self.half_width, b + self.half_width)
            && !within(a - self.half_width, b - self.half_width)
    }
}

/// Log luma of a region of the photo, once per pixel, for sampling.
struct LogLuma {
    x0: f32,
    y0: f32,
    w: usize,
    h: usize,
    data: Vec<f32>,
}

impl LogLuma {
    /// The region `(x0, y0)`–`(x1, y1)` (image pixels, clipped to the photo).
    fn of(img: &RgbImage, (x0, y0): Point, (x1, y1): Point) -> Option<Self> {
        let clip = |v: f32, n: u32| (v.max(0.0) as u32).min(n);
        let (xa, ya) = (
            clip(x0.floor(), img.width()),
            clip(y0.floor(), img.height()),
        );
        let (xb, yb) = (clip(x1.ceil(), img.width()), clip(y1.ceil(), img.height()));
        let (w, h) = ((xb - xa) as usize, (yb - ya) as usize);
        if w < 2 || h < 2 {
            return None;
        }
        let mut data = Vec::with_capacity(w * h);
        for y in ya..yb {
            for x in xa..xb {
                let p = img.get_pixel(x, y).0;
                let luma =
                    crate::srgb::luma_601_f32(f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
                data.push((luma + 1.0).ln());
            }
        }
        Some(Self {
            x0: xa as f32,
            y0: ya as f32,
            w,
            h,
            data,
        })
    }

    /// Bilinear at a continuous image coordinate (pixel `i` spans
    /// `[i, i+1)`), clamped to the region.
    fn at(&self, x: f32, y: f32) -> f32 {
        let x = (x - self.x0 - 0.5).clamp(0.0, self.w as f32 - 1.001);
        let y = (y - self.y0 - 0.5).clamp(0.0, self.h as f32 - 1.001);
        let (xi, yi) = (x as usize, y as usize);
        let (fx, fy) = (x - xi as f32, y - yi as f32);
        let row = |r: usize| {
            let i = r * self.w + xi;
            self.data[i] * (1.0 - fx) + self.data[i + 1] * fx
        };
        row(yi) * (1.0 - fy) + row(yi + 1) * fy
    }
}

/// The rims found around the eyes of a face (`landmarks` in image pixels):
/// for each eye, the lens-shaped ellipse (centre 0–6 mm below the middle of
/// its corners and up to 2 mm aside, half-axes 20–30 × 13–21 mm) whose ring
/// is darker than the skin on both sides at the largest share of angles,
/// kept when that share is at least `MIN_RING_SHARE`.
pub fn find(img: &RgbImage, landmarks: &[[f32; 3]]) -> Vec<Rim> {
    let (cos, sin): (Vec<f32>, Vec<f32>) = (0..ANGLES)
        .map(|k| {
            let t = k as f32 / ANGLES as f32 * std::f32::consts::TAU;
            (t.cos(), t.sin())
        })
        .unzip();
    // Rings darker at fewer angles than this are not rims.
    let min_count = (MIN_RING_SHARE * ANGLES as f32).ceil() as usize;
    let mut rims = Vec::new();
    for (outer, inner) in EYE_CORNERS {
        let (Some(o), Some(i)) = (landmarks.get(outer), landmarks.get(inner)) else {
            continue;
        };
        let px_per_mm = (o[0] - i[0]).hypot(o[1] - i[1]) / EYE_WIDTH_MM;
        if px_per_mm <= 0.0 {
            continue;
        }
        let mm = |v: f32| v * px_per_mm;
        let (cx0, cy0) = ((o[0] + i[0]) / 2.0, (o[1] + i[1]) / 2.0);
        // Everything the search samples: the largest ellipse, its outer
        // reference and the ring's width, around every centre tried.
        let (reach_x, reach_y) = (
            mm(30.0 + REFERENCE_OFFSET_MM + 1.0),
            mm(21.0 + REFERENCE_OFFSET_MM + 1.0),
        );
        let Some(luma) = LogLuma::of(
            img,
            (cx0 - mm(2.0) - reach_x, cy0 - reach_y),
            (cx0 + mm(2.0) + reach_x, cy0 + mm(6.0) + reach_y),
        ) else {
            continue;
        };
        let mut best: Option<Rim> = None;
        for dy in [0.0, 2.0, 4.0, 6.0] {
            for dx in [-2.0, 0.0, 2.0] {
                for a in [20.0, 22.5, 25.0, 27.5, 30.0] {
                    for b in [13.0, 15.0, 17.0, 19.0, 21.0] {
                        let centre = (cx0 + mm(dx), cy0 + mm(dy));
                        // Mean log luma across the ring (±0.7 mm) at angle k,
                        // `offset` mm out from the ellipse.
                        let ring = |k: usize, offset: f32| {
                            [-0.7f32, 0.0, 0.7]
                                .iter()
                                .map(|r| {
                                    luma.at(
                                        centre.0 + mm(a + offset + r) * cos[k],
                                        centre.1 + mm(b + offset + r) * sin[k],
                                    )
                                })
                                .sum::<f32>()
                                / 3.0
                        };
                        // Counted until the ring can no longer reach the
                        // rim share, nor beat the best ring so far.
                        let needed = best.map_or(min_count, |r: Rim| {
                            ((r.ring_share * ANGLES as f32).round() as usize + 1).max(min_count)
                        });
                        let mut darker = 0usize;
                        for k in 0..ANGLES {
                            if darker + (ANGLES - k) < needed {
                                break;
                            }
                            let on = ring(k, 0.0) + MIN_LOG_DARKER;
                            if ring(k, -REFERENCE_OFFSET_MM) > on
                                && ring(k, REFERENCE_OFFSET_MM) > on
                            {
                                darker += 1;
                            }
                        }
                        if darker >= needed {
                            best = Some(Rim {
                                centre,
                                half_axes: (mm(a), mm(b)),
                                half_width: mm(REFERENCE_OFFSET_MM),
                                ring_share: darker as f32 / ANGLES as f32,
                            });
                        }
                    }
                }
            }
        }
        rims.extend(best);
    }
    rims
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eye corners 29 px apart (1 px/mm) at (50, 60)–(79, 60) and at
    /// (121, 60)–(150, 60), for a 200×130 image.
    fn landmarks() -> Vec<[f32; 3]> {
        let mut l = vec![[0.0f32; 3]; 468];
        l[33] = [50.0, 60.0, 0.0];
        l[133] = [79.0, 60.0, 0.0];
        l[362] = [121.0, 60.0, 0.0];
        l[263] = [150.0, 60.0, 0.0];
        l
    }

    #[test]
    fn a_dark_ring_around_each_eye_is_a_rim_and_bare_skin_is_not() {
        let skin = image::Rgb([200u8, 150, 130]);
        let bare = RgbImage::from_pixel(200, 130, skin);
        assert!(find(&bare, &landmarks()).is_empty());
        // Rims 4 px wide around 50 × 34 px lenses, 3 px below each eye.
        let mut framed = bare.clone();
        let drawn = [(64.5f32, 63.0f32), (135.5, 63.0)].map(|centre| Rim {
            centre,
            half_axes: (25.0, 17.0),
            half_width: 2.0,
            ring_share: 1.0,
        });
        for (x, y, p) in framed.enumerate_pixels_mut() {
            if drawn
                .iter()
                .any(|r| r.covers(x as f32 + 0.5, y as f32 + 0.5))
            {
                *p = image::Rgb([105, 68, 42]);
            }
        }
        let found = find(&framed, &landmarks());
        assert_eq!(found.len(), 2, "{found:?}");
        for (rim, truth) in found.iter().zip(&drawn) {
            assert!(rim.ring_share >= 0.9, "{rim:?}");
            assert!((rim.centre.1 - truth.centre.1).abs() <= 3.0, "{rim:?}");
            // The band left out covers the drawn rim.
            for k in 0..36 {
                let t = k as f32 / 36.0 * std::f32::consts::TAU;
                let (x, y) = (
                    truth.centre.0 + 25.0 * t.cos(),
                    truth.centre.1 + 17.0 * t.sin(),
                );
                assert!(rim.covers(x, y), "{rim:?} misses ({x}, {y})");
            }
        }
    }
}
