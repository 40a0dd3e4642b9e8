//! Aligning the photos of a multi-light capture set to its first photo
//! before the relief is measured: a set is one pose, so only a small
//! translation is looked for, and only one that clearly stands out.

use crate::fft::fft2;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// Largest shift between the photos of a set that alignment looks for, as a
/// share of the smaller side: a set is one pose, so anything larger is a
/// different photo.
const MAX_SHIFT_FRACTION: f32 = 0.2;
/// The side alignment works at (photos are reduced to it). At 512 a
/// 30 mm patch at 20 px/mm was aligned at half its resolution and moved
/// photos landed about a pixel off (near-field renders: 152 of 252 within
/// 0.5 px of the known motion; 220 at 1024, and still sets unshifted).
const ALIGN_SIDE: u32 = 1024;
/// Shifts smaller than this (pixels at the alignment resolution, both
/// axes) are taken as no motion.
const MIN_SHIFT_PX: f32 = 1.0;
/// A correlation peak this many SDs above the mean is a match.
const PEAK_SDS: f32 = 8.0;
/// Shifts are applied only when they leave at most this share of the
/// set's unshifted inconsistency.
const MAX_RESIDUAL_RATIO: f64 = 0.8;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlignError {
    #[error("photo is {0}x{1} but the set's first photo is {2}x{3}")]
    SizeMismatch(u32, u32, u32, u32),
    #[error("could not align to the set's first photo (no clear match; moved by more than {}% of the frame, or a different scene)", (MAX_SHIFT_FRACTION * 100.0) as u32)]
    NoMatch,
}

/// `value` of each pixel, averaged over blocks of `factor`² pixels.
fn reduced(img: &image::RgbImage, factor: u32, value: impl Fn([u8; 3]) -> f32) -> Vec<f32> {
    let (w, h) = (
        (img.width() / factor) as usize,
        (img.height() / factor) as usize,
    );
    let mut data = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0f32;
            for dy in 0..factor {
                for dx in 0..factor {
                    s += value(
                        img.get_pixel(x as u32 * factor + dx, y as u32 * factor + dy)
                            .0,
                    );
                }
            }
            data[y * w + x] = s / (factor * factor) as f32;
        }
    }
    data
}

/// Log of the encoded pixels' luma, reduced: the edge image the first
/// alignment step correlates.
fn reduced_log_luma(img: &image::RgbImage, factor: u32) -> Vec<f32> {
    reduced(img, factor, |p| {
        crate::srgb::luma_601_f32(f32::from(p[0]), f32::from(p[1]), f32::from(p[2]))
    })
    .into_iter()
    .map(|v| (v + 1.0).ln())
    .collect()
}

/// Linear-light luminance, reduced.
fn reduced_luminance(img: &image::RgbImage, factor: u32) -> Plane {
    let lut = crate::measure::colour::linear_lut();
    Plane {
        w: (img.width() / factor) as usize,
        h: (img.height() / factor) as usize,
        data: reduced(img, factor, |p| {
            (0.2126 * lut[p[0] as usize]
                + 0.7152 * lut[p[1] as usize]
                + 0.0722 * lut[p[2] as usize]) as f32
        }),
    }
}

struct Plane {
    w: usize,
    h: usize,
    data: Vec<f32>,
}

impl Plane {
    /// Mean over the (2r+1)² box around each pixel (edges clamped).
    fn box_smoothed(&self, r: usize) -> Plane {
        let data: Vec<f64> = self.data.iter().map(|&v| f64::from(v)).collect();
        let ones = vec![1.0f64; data.len()];
        let sum = crate::measure::segment::box_sum(&data, self.w, self.h, r);
        let n = crate::measure::segment::box_sum(&ones, self.w, self.h, r);
        Plane {
            w: self.w,
            h: self.h,
            data: sum.iter().zip(&n).map(|(s, n)| (s / n) as f32).collect(),
        }
    }

    /// The plane with its content moved back by (dx, dy) pixels (bilinear,
    /// edges clamped): undoes a shift found by `correlate`.
    fn unshifted(&self, dx: f32, dy: f32) -> Vec<f32> {
        let (w, h) = (self.w as i64, self.h as i64);
        let at = |x: i64, y: i64| self.data[(y.clamp(0, h - 1) * w + x.clamp(0, w - 1)) as usize];
        let (ix, iy) = (dx.floor() as i64, dy.floor() as i64);
        let (fx, fy) = (dx - dx.floor(), dy - dy.floor());
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| {
                let (sx, sy) = (x + ix, y + iy);
                let top = at(sx, sy) * (1.0 - fx) + at(sx + 1, sy) * fx;
                let bottom = at(sx, sy + 1) * (1.0 - fx) + at(sx + 1, sy + 1) * fx;
                top * (1.0 - fy) + bottom * fy
            })
            .collect()
    }
}

/// What phase correlation compares.
#[derive(Clone, Copy)]
enum Feature {
    /// Gradient magnitude of log luminance: where edges lie, which shading
    /// from another light moves little.
    Edges,
    /// Luminance minus its local mean: for images with matching shading.
    Detail,
}

/// Zero-mean feature image under a raised-cosine window.
fn feature(data: &[f32], w: usize, h: usize, kind: Feature) -> Vec<f32> {
    let mut g = vec![0.0f32; w * h];
    match kind {
        Feature::Edges => {
            // `data` holds log luma of the encoded pixels (`reduced_log_luma`).
            let lum = data;
            for y in 1..h.saturating_sub(1) {
                for x in 1..w.saturating_sub(1) {
                    let gx = lum[y * w + x + 1] - lum[y * w + x - 1];
                    let gy = lum[(y + 1) * w + x] - lum[(y - 1) * w + x];
                    g[y * w + x] = (gx * gx + gy * gy).sqrt();
                }
            }
        }
        Feature::Detail => {
            // Less the mean over a 15×15 box (as much of it as lies in the
            // image), by prefix sums.
            let r = 7usize;
            let wide: Vec<f64> = data.iter().map(|&v| f64::from(v)).collect();
            let sums = crate::measure::segment::box_sum(&wide, w, h, r);
            let span = |i: usize, n: usize| ((i + r + 1).min(n) - i.saturating_sub(r)) as f64;
            for y in 0..h {
                for x in 0..w {
                    let mean = sums[y * w + x] / (span(x, w) * span(y, h));
                    g[y * w + x] = data[y * w + x] - mean as f32;
                }
            }
        }
    }
    let mean = g.iter().sum::<f32>() / g.len().max(1) as f32;
    for y in 0..h {
        let wy = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * (y as f32 + 0.5) / h as f32).cos();
        for x in 0..w {
            let wx = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * (x as f32 + 0.5) / w as f32).cos();
            g[y * w + x] = (g[y * w + x] - mean) * wx * wy;
        }
    }
    g
}

/// Phase correlation: where `b`'s content sits relative to `a`'s (pixels,
/// sub-pixel by a parabola through the peak), or `None` when no peak stands
/// clear of the correlation's noise floor.
fn correlate(a: &[f32], b: &[f32], w: usize, h: usize, kind: Feature) -> Option<(f32, f32)> {
    let fa = feature(a, w, h, kind);
    let fb = feature(b, w, h, kind);
    let mut ca: Vec<Complex<f32>> = fa.iter().map(|&v| Complex::new(v, 0.0)).collect();
    let mut cb: Vec<Complex<f32>> = fb.iter().map(|&v| Complex::new(v, 0.0)).collect();
    let mut planner = FftPlanner::<f32>::new();
    fft2(&mut planner, &mut ca, w, h, false);
    fft2(&mut planner, &mut cb, w, h, false);
    let mut cross: Vec<Complex<f32>> = ca
        .iter()
        .zip(&cb)
        .map(|(x, y)| {
            let c = y * x.conj();
            let n = c.norm();
            if n > 1e-12 {
                c / n
            } else {
                Complex::new(0.0, 0.0)
            }
        })
        .collect();
    fft2(&mut planner, &mut cross, w, h, true);
    let r: Vec<f32> = cross.iter().map(|c| c.re).collect();
    let limit_x = (w as f32 * MAX_SHIFT_FRACTION) as i64;
    let limit_y = (h as f32 * MAX_SHIFT_FRACTION) as i64;
    let wrap = |i: usize, n: usize| {
        if i > n / 2 {
            i as i64 - n as i64
        } else {
            i as i64
        }
    };
    let mut best = (0usize, f32::MIN);
    for (i, &v) in r.iter().enumerate() {
        let (dx, dy) = (wrap(i % w, w), wrap(i / w, h));
        if dx.abs() <= limit_x && dy.abs() <= limit_y && v > best.1 {
            best = (i, v);
        }
    }
    // A true match stands far above the correlation's noise floor.
    let mean = r.iter().sum::<f32>() / r.len() as f32;
    let sd = (r.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / r.len() as f32).sqrt();
    if best.1 < mean + PEAK_SDS * sd {
        return None;
    }
    let (bx, by) = (best.0 % w, best.0 / w);
    let at =
        |x: i64, y: i64| r[(y.rem_euclid(h as i64) as usize) * w + x.rem_euclid(w as i64) as usize];
    let sub = |m: f32, c: f32, p: f32| {
        let d = m - 2.0 * c + p;
        if d.abs() > 1e-12 {
            (0.5 * (m - p) / d).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    };
    let (ix, iy) = (bx as i64, by as i64);
    Some((
        wrap(bx, w) as f32 + sub(at(ix - 1, iy), at(ix, iy), at(ix + 1, iy)),
        wrap(by, h) as f32 + sub(at(ix, iy - 1), at(ix, iy), at(ix, iy + 1)),
    ))
}

/// Coefficients expressing light `k` through three of the others
/// (`lights[k] = Σ a_j lights[j]`), the best-conditioned choice: a
/// Lambertian photo under light k is then the same sum of those photos.
fn predictors(lights: &[[f32; 3]], k: usize) -> Option<([usize; 3], [f32; 3])> {
    let n = lights.len();
    let mut best: Option<(f32, [usize; 3], [f32; 3])> = None;
    for a in 0..n {
        for b in a + 1..n {
            for c in b + 1..n {
                if [a, b, c].contains(&k) {
                    continue;
                }
                let m = [lights[a], lights[b], lights[c]];
                // Solve m^T x = l_k by Cramer's rule.
                let det = |c0: [f32; 3], c1: [f32; 3], c2: [f32; 3]| {
                    c0[0] * (c1[1] * c2[2] - c1[2] * c2[1])
                        - c1[0] * (c0[1] * c2[2] - c0[2] * c2[1])
                        + c2[0] * (c0[1] * c1[2] - c0[2] * c1[1])
                };
                let d = det(m[0], m[1], m[2]);
                if d.abs() < 1e-3 {
                    continue;
                }
                let l = lights[k];
                let x = [
                    det(l, m[1], m[2]) / d,
                    det(m[0], l, m[2]) / d,
                    det(m[0], m[1], l) / d,
                ];
                let cost = x.iter().map(|v| v.abs()).sum::<f32>();
                if best.as_ref().is_none_or(|b| cost < b.0) {
                    best = Some((cost, [a, b, c], x));
                }
            }
        }
    }
    best.map(|(_, idx, x)| (idx, x))
}

/// Shifts of every photo of a set relative to the first (pixels; the
/// first's is zero): a point at (x, y) in the first photo is at
/// (x + dx, y + dy) in photo k.
///
/// Edges are phase-correlated first; but shading moves with the light, so
/// with four or more lights each photo is then re-aligned, in three sweeps,
/// to its prediction from three others under the current shifts (a
/// Lambertian photo under light k is a fixed sum of photos under three
/// other lights), which shades like it.
pub fn align_set(
    images: &[&image::RgbImage],
    lights: &[[f32; 3]],
) -> Result<Vec<(f32, f32)>, (usize, AlignError)> {
    let Some(first) = images.first() else {
        return Ok(Vec::new());
    };
    for (k, img) in images.iter().enumerate() {
        if img.dimensions() != first.dimensions() {
            return Err((
                k,
                AlignError::SizeMismatch(img.width(), img.height(), first.width(), first.height()),
            ));
        }
    }
    let factor = first
        .width()
        .max(first.height())
        .div_ceil(ALIGN_SIDE)
        .max(1);
    let planes: Vec<Plane> = images
        .iter()
        .map(|i| reduced_luminance(i, factor))
        .collect();
    let (w, h) = (planes[0].w, planes[0].h);
    let mut shifts = vec![(0.0f32, 0.0f32); images.len()];
    if w < 16 || h < 16 {
        return Ok(shifts);
    }
    let refine = images.len() >= 4 && lights.len() == images.len();
    let edges: Vec<Vec<f32>> = images.iter().map(|i| reduced_log_luma(i, factor)).collect();
    for k in 1..images.len() {
        match correlate(&edges[0], &edges[k], w, h, Feature::Edges) {
            Some(s) => shifts[k] = s,
            // The refinement below may still find it.
            None if refine => {}
            None => return Err((k, AlignError::NoMatch)),
        }
    }
    // Residuals are compared on planes smoothed at a 5x5 box: resampling a
    // photo at a sub-pixel shift averages its noise, which alone lowers a
    // still set's residual by up to 40 %; after the smoothing it cannot.
    let smooth: Vec<Plane> = planes.iter().map(|p| p.box_smoothed(2)).collect();
    // How well each photo is predicted from three others under the given
    // shifts (mean squared residual over the set; Lambertian skin has none).
    let residual = |shifts: &[(f32, f32)]| -> f64 {
        let planes = &smooth;
        let mut total = 0.0f64;
        for k in 1..images.len() {
            let Some((idx, coef)) = predictors(lights, k) else {
                continue;
            };
            let own = planes[k].unshifted(shifts[k].0, shifts[k].1);
            let mut predicted = vec![0.0f32; w * h];
            for (&j, &a) in idx.iter().zip(&coef) {
                for (p, v) in predicted
                    .iter_mut()
                    .zip(planes[j].unshifted(shifts[j].0, shifts[j].1))
                {
                    *p += a * v;
                }
            }
            // Leave out a border that shifting fills by clamping.
            let m = (w.min(h) / 10).max(1);
            for y in m..h - m {
                for x in m..w - m {
                    let d = f64::from(own[y * w + x] - predicted[y * w + x]);
                    total += d * d;
                }
            }
        }
        total
    };
    if refine {
        for sweep in 0..3 {
            for k in 1..images.len() {
                let Some((idx, coef)) = predictors(lights, k) else {
                    continue;
                };
                let mut predicted = vec![0.0f32; w * h];
                for (&j, &a) in idx.iter().zip(&coef) {
                    let back = planes[j].unshifted(shifts[j].0, shifts[j].1);
                    for (p, v) in predicted.iter_mut().zip(back) {
                        *p += a * v;
                    }
                }
                match correlate(&predicted, &planes[k].data, w, h, Feature::Detail) {
                    Some(s) => shifts[k] = s,
                    None if sweep == 2 => return Err((k, AlignError::NoMatch)),
                    None => {}
                }
            }
        }
    }
    // A set taken on a rest has no motion to find: keep the shifts only if
    // they clearly make the photos more consistent. On the smoothed planes,
    // still sets of every tone read 1.00-1.58 of their unshifted residual
    // under the shifts found, sets moved by 1-3 px 0.03-0.62
    // (`still_sets_get_no_shift_on_any_skin_tone`, `moved_sets_are_still_aligned`).
    if refine && residual(&shifts) > MAX_RESIDUAL_RATIO * residual(&vec![(0.0, 0.0); images.len()])
    {
        return Ok(vec![(0.0, 0.0); images.len()]);
    }
    let f = factor as f32;
    // Below a pixel the estimate is dominated by shading, not motion (cast
    // shadows move with the light): such shifts are not applied.
    Ok(shifts
        .into_iter()
        .map(|(x, y)| {
            if x.abs() < MIN_SHIFT_PX && y.abs() < MIN_SHIFT_PX {
                (0.0, 0.0)
            } else {
                (x * f, y * f)
            }
        })
        .collect())
}

/// The average of a set's aligned photos in linear light, each divided by
/// its light's brightness: the skin as under all the lights at once, nearly
/// even light, without any one side-lit photo's shading gradient (which
/// would read as pigment). `shifts[k]`: where photo k's content sits
/// relative to the first's. Kept at 16 bits, and as 8 bits for the checks
/// that read those.
pub fn all_lights_average(
    images: &[&image::RgbImage],
    shifts: &[(f32, f32)],
    intensities: &[f32],
) -> crate::ingest::Photo {
    let lut: Vec<f32> = (0..256)
        .map(|v| crate::srgb::to_linear(f64::from(v) / 255.0) as f32)
        .collect();
    let Some(first) = images.first() else {
        return crate::ingest::Photo::from(image::RgbImage::new(0, 0));
    };
    let (w, h) = first.dimensions();
    let mut sum = vec![[0.0f32; 3]; (w * h) as usize];
    let mut count = vec![0u16; (w * h) as usize];
    for ((img, &(dx, dy)), &e) in images.iter().zip(shifts).zip(intensities) {
        let gain = 1.0 / e.max(1e-6);
        let raw = img.as_raw();
        let at =
            |px: u32, py: u32, c: usize| lut[usize::from(raw[((py * w + px) * 3) as usize + c])];
        // A set on a rest mostly has whole-pixel (zero) shifts: read directly.
        let whole = dx.fract() == 0.0 && dy.fract() == 0.0;
        for y in 0..h {
            for x in 0..w {
                let (sx, sy) = (x as f32 + dx, y as f32 + dy);
                if sx < 0.0 || sy < 0.0 || sx > (w - 1) as f32 || sy > (h - 1) as f32 {
                    continue;
                }
                let i = (y * w + x) as usize;
                let (x0, y0) = (sx as u32, sy as u32);
                for (c, acc) in sum[i].iter_mut().enumerate() {
                    let v = if whole {
                        at(x0, y0, c)
                    } else {
                        // Bilinear read of photo k where the first's pixel lies.
                        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                        let top = at(x0, y0, c) * (1.0 - fx) + at(x1, y0, c) * fx;
                        let bottom = at(x0, y1, c) * (1.0 - fx) + at(x1, y1, c) * fx;
                        top * (1.0 - fy) + bottom * fy
                    };
                    *acc += gain * v;
                }
                count[i] += 1;
            }
        }
    }
    // Back to the brightness of a photo under a light of the set's mean
    // intensity.
    let mean = intensities.iter().sum::<f32>() / intensities.len().max(1) as f32;
    let deep = image::ImageBuffer::from_fn(w, h, |x, y| {
        let i = (y * w + x) as usize;
        let k = mean / f32::from(count[i].max(1));
        image::Rgb(
            sum[i].map(|v| (crate::srgb::from_linear(f64::from(v * k)) * 65535.0).round() as u16),
        )
    });
    let rgb = image::RgbImage::from_fn(w, h, |x, y| {
        let p = deep.get_pixel(x, y).0;
        image::Rgb(p.map(|v| (f32::from(v) / 257.0).round() as u8))
    });
    crate::ingest::Photo {
        rgb,
        deep: Some(deep),
        transparent: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Smooth value noise (smoothstep over a hashed lattice of `cell` px).
    fn noise(u: f64, v: f64, cell: f64, seed: u64) -> f64 {
        let hash = |i: i64, j: i64| {
            let mut h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (j as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
                ^ seed;
            h ^= h >> 29;
            h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h ^= h >> 32;
            (h % 10_000) as f64 / 10_000.0 - 0.5
        };
        let (x, y) = (u / cell, v / cell);
        let (i, j) = (x.floor() as i64, y.floor() as i64);
        let (fx, fy) = (x - x.floor(), y - y.floor());
        let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
        let top = hash(i, j) * (1.0 - sx) + hash(i + 1, j) * sx;
        let bottom = hash(i, j + 1) * (1.0 - sx) + hash(i + 1, j + 1) * sx;
        top * (1.0 - sy) + bottom * sy
    }

    fn ring(k: usize) -> Vec<[f32; 3]> {
        (0..k)
            .map(|i| {
                let a = i as f32 * std::f32::consts::TAU / k as f32;
                let h = std::f32::consts::FRAC_1_SQRT_2;
                [h * a.cos(), h * a.sin(), h]
            })
            .collect()
    }

    /// Skin-like relief (random bumps) with albedo blotches, Lambertian
    /// under light `l`, its content moved by `shift`.
    fn lit(l: [f32; 3], shift: (f64, f64)) -> image::RgbImage {
        let height = |u: f64, v: f64| 3.0 * noise(u, v, 6.0, 1) + 6.0 * noise(u, v, 17.0, 2);
        image::RgbImage::from_fn(256, 224, |x, y| {
            let (u, v) = (x as f64 - shift.0, y as f64 - shift.1);
            let zx = height(u + 0.5, v) - height(u - 0.5, v);
            let zy = height(u, v + 0.5) - height(u, v - 0.5);
            let n = (zx * zx + zy * zy + 1.0).sqrt();
            let shade =
                ((-zx * f64::from(l[0]) - zy * f64::from(l[1]) + f64::from(l[2])) / n).max(0.0);
            let albedo = 0.55 + 0.5 * noise(u, v, 9.0, 3);
            let g = (230.0 * albedo * shade).clamp(0.0, 255.0) as u8;
            image::Rgb([g, g, g])
        })
    }

    #[test]
    fn finds_a_known_shift_under_another_light() {
        let lights = ring(4);
        let a = lit(lights[0], (0.0, 0.0));
        let b = lit(lights[1], (7.0, -4.0));
        let (dx, dy) = align_set(&[&a, &b], &[]).unwrap()[1];
        assert!(
            (dx - 7.0).abs() < 0.75 && (dy + 4.0).abs() < 0.75,
            "{dx} {dy}"
        );
    }

    #[test]
    fn aligns_a_multi_light_set_with_known_shifts() {
        let lights = ring(6);
        let truth = [
            (0.0, 0.0),
            (3.0, -2.0),
            (-4.0, 1.0),
            (0.0, 5.0),
            (2.0, 2.0),
            (-3.0, -3.0),
        ];
        let imgs: Vec<image::RgbImage> =
            lights.iter().zip(truth).map(|(&l, s)| lit(l, s)).collect();
        let refs: Vec<&image::RgbImage> = imgs.iter().collect();
        let found = align_set(&refs, &lights).unwrap();
        for (f, t) in found.iter().zip(truth) {
            assert!(
                (f64::from(f.0) - t.0).abs() < 0.75 && (f64::from(f.1) - t.1).abs() < 0.75,
                "{found:?}"
            );
        }
    }

    /// `lit`, as a colour photo of skin of the given tone (RGB reflectance
    /// at full albedo), with ambient light, sensor noise of ±`noise_levels`
    /// and 8-bit rounding.
    fn lit_skin(
        l: [f32; 3],
        shift: (f64, f64),
        tone: [f64; 3],
        noise_levels: u32,
        seed: u64,
    ) -> image::RgbImage {
        let grey = lit(l, shift);
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        image::RgbImage::from_fn(grey.width(), grey.height(), |x, y| {
            let g = f64::from(grey.get_pixel(x, y).0[0]) / 230.0;
            image::Rgb(tone.map(|t| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let n = (state % u64::from(2 * noise_levels + 1)) as f64 - f64::from(noise_levels);
                (255.0 * t * (0.08 + 0.92 * g) + n)
                    .round()
                    .clamp(0.0, 255.0) as u8
            }))
        })
    }

    /// Sets taken on a rest have no motion: none is invented, on any skin
    /// tone, with 4 or 6 lights, whatever the sensor noise.
    #[test]
    fn still_sets_get_no_shift_on_any_skin_tone() {
        let tones = [
            ("very light", [0.92, 0.78, 0.70]),
            ("intermediate", [0.72, 0.52, 0.40]),
            ("tan", [0.55, 0.36, 0.25]),
            ("brown", [0.38, 0.23, 0.15]),
            ("dark", [0.22, 0.13, 0.08]),
            ("very dark", [0.12, 0.07, 0.045]),
        ];
        for k in [4, 6] {
            let lights = ring(k);
            for (name, tone) in tones {
                for (noise, seed) in [(2, 1), (6, 2)] {
                    let imgs: Vec<image::RgbImage> = lights
                        .iter()
                        .enumerate()
                        .map(|(i, &l)| lit_skin(l, (0.0, 0.0), tone, noise, seed * 31 + i as u64))
                        .collect();
                    let refs: Vec<&image::RgbImage> = imgs.iter().collect();
                    let found = align_set(&refs, &lights).unwrap();
                    assert!(
                        found.iter().all(|&s| s == (0.0, 0.0)),
                        "{name} skin, {k} lights, noise ±{noise}: {found:?}"
                    );
                }
            }
        }
    }

    /// The rule that keeps still sets still does not throw away real
    /// motion of a pixel or two, on light or dark skin.
    #[test]
    fn moved_sets_are_still_aligned() {
        let lights = ring(6);
        let truth: Vec<(f64, f64)> = vec![
            (0.0, 0.0),
            (0.0, -2.0),
            (2.0, 1.0),
            (-2.0, -1.0),
            (1.0, 2.0),
            (2.0, -2.0),
        ];
        for (name, tone) in [
            ("very light", [0.92, 0.78, 0.70]),
            ("dark", [0.22, 0.13, 0.08]),
        ] {
            let imgs: Vec<image::RgbImage> = lights
                .iter()
                .zip(&truth)
                .enumerate()
                .map(|(i, (&l, &t))| lit_skin(l, t, tone, 2, 7 + i as u64))
                .collect();
            let refs: Vec<&image::RgbImage> = imgs.iter().collect();
            let found = align_set(&refs, &lights).unwrap();
            let moved = found
                .iter()
                .filter(|s| s.0.abs() + s.1.abs() >= 1.0)
                .count();
            assert!(moved >= 4, "{name} skin: {found:?}");
        }
    }

    #[test]
    fn refuses_photos_of_another_size_or_scene() {
        let a = lit([0.0, 0.0, 1.0], (0.0, 0.0));
        let b = image::RgbImage::new(100, 100);
        assert!(matches!(
            align_set(&[&a, &b], &[]),
            Err((1, AlignError::SizeMismatch(..)))
        ));
        let noise = image::RgbImage::from_fn(256, 224, |x, y| {
            let v = ((x * 7919 + y * 104729) % 251) as u8;
            image::Rgb([v, v, v])
        });
        assert_eq!(align_set(&[&a, &noise], &[]), Err((1, AlignError::NoMatch)));
    }
}
