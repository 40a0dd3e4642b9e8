//! Lighting normalisation of the face-geometry models' inputs.
//!
//! The detector, mesh and iris models saw each photo's own exposure and
//! white balance, so a copy of a photo at +15 % exposure moved the landmarks
//! by a pixel or two, and with them the zones and the iris scale (up to 1.5 %
//! on whole faces, 3 % on a face cut by the frame, through the detector's
//! box). Each input is instead brought to one mean colour in linear light
//! (over its central square), where exposure and white balance are
//! per-channel gains, so such a copy gives the models the same input up to
//! clipping and rounding.

use crate::srgb;

/// Mean linear RGB that the middle of a face crop is brought to: a
/// mid-tone skin (sRGB ≈ 137, 111, 97), so the models see a well-exposed face.
const TARGET: [f32; 3] = [0.25, 0.16, 0.12];
/// Gains stay within this factor of 1: beyond it the photo is too dark or
/// too bright for its noise or clipping to be undone anyway.
const MAX_GAIN: f32 = 8.0;

/// Per-channel gains in linear light.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gains([f32; 3]);

impl Gains {
    /// Gains that bring the mean of the crop's central square (half its
    /// side, where a face crop holds skin) to [`TARGET`]. `crop` is NHWC,
    /// `size`×`size`, sRGB values 0–255.
    pub fn from_crop(crop: &[f32], size: usize) -> Self {
        let (lo, hi) = (size / 4, size - size / 4);
        let mut sum = [0.0f64; 3];
        let mut n = 0usize;
        for y in lo..hi {
            for px in crop[(y * size + lo) * 3..(y * size + hi) * 3].chunks_exact(3) {
                for (s, &v) in sum.iter_mut().zip(px) {
                    *s += f64::from(srgb::linear_of_sample(v));
                }
                n += 1;
            }
        }
        Gains(std::array::from_fn(|k| {
            let mean = (sum[k] / n.max(1) as f64) as f32;
            (TARGET[k] / mean.max(1e-6)).clamp(1.0 / MAX_GAIN, MAX_GAIN)
        }))
    }

    /// Applies the gains in linear light to an NHWC crop of sRGB values
    /// 0–255, in place, and maps the result to the model's range:
    /// `encoded (0–1) · scale + offset`. Samples are read on 0.25 steps, one
    /// table per channel (a power per value would cost ~5 ms per face).
    pub fn apply(&self, crop: &mut [f32], scale: f32, offset: f32) {
        let linear = srgb::linear_lut_quarter_steps();
        let tables = self.0.map(|g| {
            linear
                .iter()
                .map(|&l| srgb::from_linear(f64::from(l * g)) as f32 * scale + offset)
                .collect::<Vec<f32>>()
        });
        for px in crop.chunks_exact_mut(3) {
            for (c, table) in px.iter_mut().zip(&tables) {
                *c = table[srgb::quarter_step(*c)];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crop and the same crop under other light, re-encoded on 0.25 steps.
    fn crop_and_relit(gains: [f64; 3]) -> (Vec<f32>, Vec<f32>) {
        let size = 16;
        let mut crop = Vec::new();
        for i in 0..size * size {
            let t = (i % 7) as f64 / 7.0;
            crop.extend([0.30 + 0.1 * t, 0.20 + 0.05 * t, 0.15 + 0.03 * t]);
        }
        let encode = |l: f64| (srgb::from_linear(l) * 255.0 * 4.0).round() as f32 / 4.0;
        let a = crop.iter().map(|&l| encode(l)).collect();
        let b = crop
            .iter()
            .enumerate()
            .map(|(i, &l)| encode(l * gains[i % 3]))
            .collect();
        (a, b)
    }

    #[test]
    fn exposure_and_colour_cast_give_the_same_model_input() {
        for gains in [[0.85; 3], [1.15; 3], [1.06, 1.0, 0.94]] {
            let (mut a, mut b) = crop_and_relit(gains);
            Gains::from_crop(&a, 16).apply(&mut a, 1.0, 0.0);
            Gains::from_crop(&b, 16).apply(&mut b, 1.0, 0.0);
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            // Within the rounding of the re-encoded values (≈ 1/1000).
            assert!(worst < 2e-3, "{gains:?}: inputs differ by {worst}");
        }
    }

    #[test]
    fn gains_stay_bounded_on_black_crops() {
        let black = vec![0.0f32; 16 * 16 * 3];
        assert_eq!(Gains::from_crop(&black, 16), Gains([MAX_GAIN; 3]));
    }
}
