//! How much detail the skin's pixels carry: an enlarged (upscaled) photo
//! claims more pixels per millimetre than it holds.
//!
//! A phone's or a web page's 3× enlargement of a 3 px/mm face reads
//! 9–10 px/mm from the iris, passes the scar and red-lesion limits, and its
//! interpolated, sharpened pixels gave false scars and a false "inflamed
//! acne" deferral on normal faces. Enlarging leaves no power above the
//! original pixel grid's limit: the skin's spectrum, whitened by f², falls
//! to a floor at 0.5/k cycles per pixel for a k× enlargement, where a photo
//! at its own resolution keeps a quarter of its mid-band power to 0.23 c/px
//! or beyond (0.23 on the soft 20 px/mm BioSkin rig, 0.26–0.5 on the other
//! shared real photos; `docs/harm-on-real-skin.md`, fifteenth session).

use image::RgbImage;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

use crate::fft::fft2;
use crate::zones::ZoneMask;

/// Sides of the square windows of skin whose spectra are averaged, pixels:
/// the larger where the zones hold enough of them (finer frequency bins),
/// else the smaller (a face of 1–3 px/mm).
const WINDOWS: [usize; 2] = [64, 32];
/// At most this many windows are read (spread over the zones).
const MAX_WINDOWS: usize = 96;
/// Fewer windows than this say too little.
const MIN_WINDOWS: usize = 4;
/// A window is skin when at least this share of it lies in a zone.
const MIN_COVER: f64 = 0.9;
/// The mid band (cycles per pixel) every photo of a face resolves, against
/// which the higher frequencies are compared.
const MID_BAND: (f64, f64) = (0.05, 0.15);
/// The cut-off is where the whitened power falls below this share of the
/// mid band's (two bins running).
const CUTOFF_SHARE: f64 = 0.25;
/// Below this cut-off (cycles per pixel) the photo is enlarged or very soft.
pub const ENLARGED_BELOW: f64 = 0.2;

/// Rec. 709 weights on an 8-bit pixel's encoded values. (The quality
/// check's BT.601 luma, `srgb::luma_601_f32`, moves one 3× enlargement of
/// the 350 `capture_variants.py make --passed-on` copies across the limit:
/// the limit was set with these.)
fn luma(p: &image::Rgb<u8>) -> f32 {
    0.2126 * f32::from(p.0[0]) + 0.7152 * f32::from(p.0[1]) + 0.0722 * f32::from(p.0[2])
}

/// Top-left corners of the windows that lie (nearly) wholly in a zone.
fn windows(zones: &[ZoneMask], side: usize) -> Vec<(u32, u32)> {
    let w = side as u32;
    let mut out = Vec::new();
    for z in zones {
        let (zw, zh) = z.mask.dimensions();
        for wy in (0..zh.saturating_sub(w - 1)).step_by(side) {
            for wx in (0..zw.saturating_sub(w - 1)).step_by(side) {
                let (mut inside, mut n) = (0u32, 0u32);
                for y in (wy..wy + w).step_by(4) {
                    for x in (wx..wx + w).step_by(4) {
                        n += 1;
                        inside += u32::from(z.mask.get_pixel(x, y).0[0] > 0);
                    }
                }
                if f64::from(inside) >= MIN_COVER * f64::from(n) {
                    out.push((z.x0 + wx, z.y0 + wy));
                }
            }
        }
    }
    if out.len() > MAX_WINDOWS {
        let step = out.len() as f64 / MAX_WINDOWS as f64;
        out = (0..MAX_WINDOWS)
            .filter_map(|k| out.get((k as f64 * step) as usize).copied())
            .collect();
    }
    out
}

/// The highest frequency (cycles per pixel, 0.5 the pixel grid's own limit)
/// at which the zones' skin keeps `CUTOFF_SHARE` of its mid-band whitened
/// power; `None` when too little skin lies in whole windows.
pub fn cutoff(image: &RgbImage, zones: &[ZoneMask]) -> Option<f64> {
    WINDOWS.iter().find_map(|&side| {
        let corners = windows(zones, side);
        (corners.len() >= MIN_WINDOWS)
            .then(|| cutoff_in(image, &corners, side))
            .flatten()
    })
}

/// `cutoff` over the windows of side `n` at `corners`.
fn cutoff_in(image: &RgbImage, corners: &[(u32, u32)], n: usize) -> Option<f64> {
    let (iw, ih) = image.dimensions();
    let hann: Vec<f32> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / (n - 1) as f32).cos())
        .collect();
    let mut planner = FftPlanner::<f32>::new();
    let mut power = vec![0f64; n * n];
    let mut buf = vec![Complex::new(0f32, 0f32); n * n];
    let mut used = 0usize;
    for &(x0, y0) in corners {
        if x0 + n as u32 > iw || y0 + n as u32 > ih {
            continue;
        }
        for (k, c) in buf.iter_mut().enumerate() {
            let v = luma(image.get_pixel(x0 + (k % n) as u32, y0 + (k / n) as u32));
            *c = Complex::new(v, 0.0);
        }
        let mean = buf.iter().map(|c| c.re).sum::<f32>() / (n * n) as f32;
        if mean < 20.0 {
            continue; // too dark to show texture
        }
        for (k, c) in buf.iter_mut().enumerate() {
            c.re = (c.re - mean) / mean * hann[k % n] * hann[k / n];
        }
        fft2(&mut planner, &mut buf, n, n, false);
        for (p, c) in power.iter_mut().zip(&buf) {
            *p += f64::from(c.norm_sqr());
        }
        used += 1;
    }
    if used < MIN_WINDOWS {
        return None;
    }
    // Radial bins of width 1/n; each bin's mean power whitened by f².
    let bins = n / 2;
    let (mut sum, mut count) = (vec![0f64; bins], vec![0u32; bins]);
    let freq = |k: usize| {
        if k < n / 2 {
            k as f64 / n as f64
        } else {
            k as f64 / n as f64 - 1.0
        }
    };
    for y in 0..n {
        for x in 0..n {
            let r = freq(x).hypot(freq(y));
            let b = (r * n as f64) as usize;
            if b < bins {
                sum[b] += power[y * n + x];
                count[b] += 1;
            }
        }
    }
    let centre = |b: usize| (b as f64 + 0.5) / n as f64;
    let whitened: Vec<f64> = (0..bins)
        .map(|b| sum[b] / f64::from(count[b].max(1)) * centre(b).powi(2))
        .collect();
    let mid: Vec<f64> = (0..bins)
        .filter(|&b| centre(b) > MID_BAND.0 && centre(b) < MID_BAND.1)
        .map(|b| whitened[b])
        .collect();
    let reference = mid.iter().sum::<f64>() / mid.len().max(1) as f64;
    if reference <= 0.0 {
        return None;
    }
    let low = |b: usize| {
        whitened
            .get(b)
            .is_none_or(|&w| w < CUTOFF_SHARE * reference)
    };
    // The last bin that keeps the share, before two that do not: a bin's
    // width (1/64–1/32 c/px) errs on the side of less detail.
    Some(
        (0..bins)
            .find(|&b| centre(b) > MID_BAND.1 && low(b) && low(b + 1))
            .map_or(0.5, |b| centre(b - 1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skin-like texture: power falling as 1/f² (as skin's does, so the
    /// whitened spectrum is flat) with random phases, sharp to the pixel
    /// grid: an inverse FFT of `n`×`n`.
    fn texture(n: u32) -> RgbImage {
        let n = n as usize;
        let mut s = 12345u32;
        let mut uniform = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            f32::from((s % 10_000) as u16) / 10_000.0
        };
        let freq = |k: usize| {
            let k = if k < n / 2 {
                k as f32
            } else {
                k as f32 - n as f32
            };
            k / n as f32
        };
        let mut spectrum: Vec<Complex<f32>> = (0..n * n)
            .map(|i| {
                let f = freq(i % n).hypot(freq(i / n)).max(1.0 / n as f32);
                Complex::from_polar(1.0 / f, std::f32::consts::TAU * uniform())
            })
            .collect();
        fft2(&mut FftPlanner::new(), &mut spectrum, n, n, true);
        let field: Vec<f32> = spectrum.iter().map(|c| c.re).collect();
        let sd = (field.iter().map(|v| v * v).sum::<f32>() / field.len() as f32).sqrt();
        RgbImage::from_fn(n as u32, n as u32, |x, y| {
            let v = (150.0 + 12.0 * field[y as usize * n + x as usize] / sd).clamp(60.0, 240.0);
            image::Rgb([v as u8, (v - 30.0) as u8, (v - 50.0) as u8])
        })
    }

    fn whole(w: u32, h: u32) -> Vec<ZoneMask> {
        vec![crate::zones::patch(w, h, None)]
    }

    #[test]
    fn an_enlarged_photo_is_told_from_one_at_its_own_resolution() {
        let small = texture(160);
        let sharp = cutoff(&small, &whole(160, 160)).expect("enough skin");
        assert!(sharp >= ENLARGED_BELOW, "native {sharp}");
        let big =
            image::imageops::resize(&small, 480, 480, image::imageops::FilterType::CatmullRom);
        let enlarged = cutoff(&big, &whole(480, 480)).expect("enough skin");
        assert!(enlarged < ENLARGED_BELOW, "3x enlarged {enlarged}");
        assert!(
            (enlarged - 0.5 / 3.0).abs() < 0.05,
            "3x enlarged {enlarged}"
        );
    }

    #[test]
    fn too_little_skin_says_nothing() {
        assert_eq!(cutoff(&texture(60), &whole(60, 60)), None);
    }
}
