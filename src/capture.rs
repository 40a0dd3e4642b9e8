//! Multi-light capture sets: several photos of one pose, each under a known
//! light direction, as 3-D skin cameras take them. The manifest names them
//! (`capture_set` and `light_dir` columns); ingest groups them so that the
//! batch analyses one set as one visit photo, and this module aligns the
//! photos to the first before the relief is measured.

use rustfft::num_complex::Complex;
use rustfft::FftPlanner;
use std::path::PathBuf;

/// A unit direction towards a distant light: x right, y down (image axes),
/// z towards the camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LightDir([f32; 3]);

impl LightDir {
    pub fn get(self) -> [f32; 3] {
        self.0
    }
}

impl std::str::FromStr for LightDir {
    type Err = String;
    /// Three numbers separated by spaces, commas or semicolons; normalised.
    fn from_str(s: &str) -> Result<Self, String> {
        let v: Vec<f32> = s
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .filter(|t| !t.is_empty())
            .map(|t| t.parse::<f32>().map_err(|_| format!("`{t}` is not a number")))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("light_dir `{s}`: {e}"))?;
        let [x, y, z] = v[..] else {
            return Err(format!(
                "light_dir `{s}` must be three numbers, x y z (x right, y down, z towards the camera)"
            ));
        };
        let n = (x * x + y * y + z * z).sqrt();
        if !n.is_finite() || n == 0.0 || z / n < 0.05 {
            return Err(format!(
                "light_dir `{s}` must point towards the camera side (z > 0)"
            ));
        }
        Ok(LightDir([x / n, y / n, z / n]))
    }
}

/// One photo of a capture set.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturePhoto {
    pub path: PathBuf,
    pub light: LightDir,
}

/// A capture set: its name and its photos, the first being the one the
/// rest of the analysis (face, pores, pigmentation) uses.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureSet {
    pub name: String,
    pub photos: Vec<CapturePhoto>,
}

/// Photometric stereo needs three independent lights.
pub const MIN_LIGHTS: usize = 3;

/// Largest shift between the photos of a set that alignment looks for, as a
/// share of the smaller side: a set is one pose, so anything larger is a
/// different photo.
const MAX_SHIFT_FRACTION: f32 = 0.2;
/// The side alignment works at (photos are reduced to it).
const ALIGN_SIDE: u32 = 512;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlignError {
    #[error("photo is {0}x{1} but the set's first photo is {2}x{3}")]
    SizeMismatch(u32, u32, u32, u32),
    #[error("could not align to the set's first photo (no clear match; moved by more than {}% of the frame, or a different scene)", (MAX_SHIFT_FRACTION * 100.0) as u32)]
    NoMatch,
}

/// Log luminance, reduced by block averaging so its longer side is at most
/// `ALIGN_SIDE`, high-passed and turned into gradient magnitude: relief
/// shading changes sign with the light, but where the texture's edges lie
/// does not.
fn align_features(img: &image::RgbImage, factor: u32) -> (Vec<f32>, usize, usize) {
    let (w, h) = (
        (img.width() / factor) as usize,
        (img.height() / factor) as usize,
    );
    let mut lum = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0f32;
            for dy in 0..factor {
                for dx in 0..factor {
                    let p = img.get_pixel(x as u32 * factor + dx, y as u32 * factor + dy).0;
                    s += 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
                }
            }
            lum[y * w + x] = (s / (factor * factor) as f32 + 1.0).ln();
        }
    }
    let mut g = vec![0.0f32; w * h];
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let gx = lum[y * w + x + 1] - lum[y * w + x - 1];
            let gy = lum[(y + 1) * w + x] - lum[(y - 1) * w + x];
            g[y * w + x] = (gx * gx + gy * gy).sqrt();
        }
    }
    // Zero mean and a raised-cosine window against edge effects.
    let mean = g.iter().sum::<f32>() / g.len().max(1) as f32;
    for y in 0..h {
        let wy = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * (y as f32 + 0.5) / h as f32).cos();
        for x in 0..w {
            let wx = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * (x as f32 + 0.5) / w as f32).cos();
            g[y * w + x] = (g[y * w + x] - mean) * wx * wy;
        }
    }
    (g, w, h)
}

fn fft2(data: &mut [Complex<f32>], w: usize, h: usize, inverse: bool) {
    let mut planner = FftPlanner::<f32>::new();
    let (row, col) = if inverse {
        (planner.plan_fft_inverse(w), planner.plan_fft_inverse(h))
    } else {
        (planner.plan_fft_forward(w), planner.plan_fft_forward(h))
    };
    for r in data.chunks_exact_mut(w) {
        row.process(r);
    }
    let mut column = vec![Complex::new(0.0, 0.0); h];
    for x in 0..w {
        for y in 0..h {
            column[y] = data[y * w + x];
        }
        col.process(&mut column);
        for y in 0..h {
            data[y * w + x] = column[y];
        }
    }
}

/// Where `other`'s content sits relative to `reference`'s (pixels, x and y):
/// a point at (x, y) in the reference is at (x + dx, y + dy) in `other`.
/// Phase correlation of gradient-magnitude images with a sub-pixel peak.
pub fn align(reference: &image::RgbImage, other: &image::RgbImage) -> Result<(f32, f32), AlignError> {
    if reference.dimensions() != other.dimensions() {
        return Err(AlignError::SizeMismatch(
            other.width(),
            other.height(),
            reference.width(),
            reference.height(),
        ));
    }
    let factor = (reference.width().max(reference.height())).div_ceil(ALIGN_SIDE).max(1);
    let (a, w, h) = align_features(reference, factor);
    let (b, _, _) = align_features(other, factor);
    if w < 8 || h < 8 {
        return Ok((0.0, 0.0));
    }
    let mut fa: Vec<Complex<f32>> = a.iter().map(|&v| Complex::new(v, 0.0)).collect();
    let mut fb: Vec<Complex<f32>> = b.iter().map(|&v| Complex::new(v, 0.0)).collect();
    fft2(&mut fa, w, h, false);
    fft2(&mut fb, w, h, false);
    let mut cross: Vec<Complex<f32>> = fa
        .iter()
        .zip(&fb)
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
    fft2(&mut cross, w, h, true);
    let r: Vec<f32> = cross.iter().map(|c| c.re).collect();
    let limit_x = (w as f32 * MAX_SHIFT_FRACTION) as i64;
    let limit_y = (h as f32 * MAX_SHIFT_FRACTION) as i64;
    let wrap = |i: usize, n: usize| if i > n / 2 { i as i64 - n as i64 } else { i as i64 };
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
    if best.1 < mean + 8.0 * sd {
        return Err(AlignError::NoMatch);
    }
    let (bx, by) = (best.0 % w, best.0 / w);
    let at = |x: i64, y: i64| {
        r[(y.rem_euclid(h as i64) as usize) * w + x.rem_euclid(w as i64) as usize]
    };
    let sub = |m: f32, c: f32, p: f32| {
        let d = m - 2.0 * c + p;
        if d.abs() > 1e-12 {
            (0.5 * (m - p) / d).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    };
    let (ix, iy) = (bx as i64, by as i64);
    let fx = sub(at(ix - 1, iy), at(ix, iy), at(ix + 1, iy));
    let fy = sub(at(ix, iy - 1), at(ix, iy), at(ix, iy + 1));
    let f = factor as f32;
    Ok((
        (wrap(bx, w) as f32 + fx) * f,
        (wrap(by, h) as f32 + fy) * f,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_directions_parse_and_normalise() {
        let l: LightDir = "1 0 1".parse().unwrap();
        let v = l.get();
        assert!((v[0] - 0.7071).abs() < 1e-3 && v[1] == 0.0 && (v[2] - 0.7071).abs() < 1e-3);
        assert!("0.5,0.5;0.7".parse::<LightDir>().is_ok());
        assert!("1 0 -1".parse::<LightDir>().is_err(), "behind the skin");
        assert!("1 0".parse::<LightDir>().is_err());
        assert!("a b c".parse::<LightDir>().is_err());
    }

    /// A textured scene, shaded from a side, shifted by a known amount.
    fn scene(shift: (f64, f64), light: f64) -> image::RgbImage {
        image::RgbImage::from_fn(300, 240, |x, y| {
            let (u, v) = (x as f64 - shift.0, y as f64 - shift.1);
            let t = (u * 0.21).sin() * (v * 0.17).cos() + (u * 0.05 + v * 0.09).sin();
            let bumps = ((u * 0.33).sin() + (v * 0.29).cos()) * light;
            let g = (128.0 + 40.0 * t + 15.0 * bumps).clamp(0.0, 255.0) as u8;
            image::Rgb([g, g, g])
        })
    }

    #[test]
    fn finds_a_known_shift_under_another_light() {
        let a = scene((0.0, 0.0), 1.0);
        let b = scene((7.0, -4.0), -1.0);
        let (dx, dy) = align(&a, &b).unwrap();
        assert!((dx - 7.0).abs() < 0.6 && (dy + 4.0).abs() < 0.6, "{dx} {dy}");
    }

    #[test]
    fn refuses_photos_of_another_size_or_scene() {
        let a = scene((0.0, 0.0), 1.0);
        let b = image::RgbImage::new(100, 100);
        assert!(matches!(align(&a, &b), Err(AlignError::SizeMismatch(..))));
        let noise = image::RgbImage::from_fn(300, 240, |x, y| {
            let v = ((x * 7919 + y * 104729) % 251) as u8;
            image::Rgb([v, v, v])
        });
        assert_eq!(align(&a, &noise), Err(AlignError::NoMatch));
    }
}
