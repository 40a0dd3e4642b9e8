//! The sRGB transfer function and CIELAB: one place for every stage that
//! works in linear light (exposure and white balance are gains there) or
//! judges colour (quality checks before measuring, the measurements).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// sRGB-encoded value (0–1) to linear light (0–1).
pub fn to_linear(c: f64) -> f64 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light to an sRGB-encoded value, both 0–1 (clipped).
pub fn from_linear(c: f64) -> f64 {
    let c = c.clamp(0.0, 1.0);
    if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

/// sRGB values 0–255 on 0.25 steps (index = 4 × value) to linear light:
/// bilinear samples of 8-bit pixels fall between the levels.
pub fn linear_lut_quarter_steps() -> &'static [f32; 1021] {
    static LUT: std::sync::OnceLock<[f32; 1021]> = std::sync::OnceLock::new();
    LUT.get_or_init(|| {
        let mut t = [0.0f32; 1021];
        for (i, v) in t.iter_mut().enumerate() {
            *v = to_linear(i as f64 / 4.0 / 255.0) as f32;
        }
        t
    })
}

/// Index of a 0–255 sample on 0.25 steps (0–1020), into
/// [`linear_lut_quarter_steps`] or any table or histogram on those steps.
pub fn quarter_step(v: f32) -> usize {
    // `round_non_negative`'s rounding, in single precision as benchmarked
    // (this runs for every sample of every patch). NaN clamps to NaN, which
    // `as` takes to 0.
    let x = (v * 4.0).clamp(0.0, 1020.0);
    let whole = x as u32;
    (whole + u32::from(x - whole as f32 >= 0.5)) as usize
}

/// ITU-R BT.601 luma weights of R, G and B: the encoded pixels' luma that
/// exposure, clipping, sharpness and alignment read.
pub const LUMA_601: [f64; 3] = [0.299, 0.587, 0.114];

/// Luma (BT.601) of encoded R, G, B in their own units (0–255 or 0–1).
pub fn luma_601(r: f64, g: f64, b: f64) -> f64 {
    LUMA_601[0] * r + LUMA_601[1] * g + LUMA_601[2] * b
}

/// `luma_601` in single precision (the weights written as `f32` literals,
/// not rounded from the `f64` ones).
pub fn luma_601_f32(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// `x.round()` for 0 ≤ x < 2⁵² (halves up), as a count. `f64::round` is a
/// libm call that stays out of line in per-pixel loops; this is a
/// truncation and one comparison (`x − trunc(x)` is exact). NaN gives 0.
pub fn round_non_negative(x: f64) -> usize {
    let whole = x as u64;
    (whole + u64::from(x - whole as f64 >= 0.5)) as usize
}

/// Linear light of a 0–255 sample, by the quarter-step table.
pub fn linear_of_sample(v: f32) -> f32 {
    linear_lut_quarter_steps()[quarter_step(v)]
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Lab {
    /// L*: lightness, 0 (black) to 100 (white).
    pub l: f64,
    /// a*: green (−) to red (+).
    pub a: f64,
    /// b*: blue (−) to yellow (+).
    pub b: f64,
}

/// Linear RGB (0–1) to CIELAB, D65 white.
pub fn lab_from_linear(r: f64, g: f64, b: f64) -> Lab {
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f64| {
        if t > 216.0 / 24389.0 {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    Lab {
        l: 116.0 * fy - 16.0,
        a: 500.0 * (fx - fy),
        b: 200.0 * (fy - fz),
    }
}

/// CIELAB in single precision, for per-pixel maps (f32 cube roots are several
/// times faster; the error, ~1e-5 L*, is far below any reported digit).
pub fn lab_from_linear_f32(r: f32, g: f32, b: f32) -> [f32; 3] {
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f32| {
        if t > 216.0 / 24389.0 {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_rounding_rounds_as_the_standard_library_does() {
        let reference = |v: f32| (v * 4.0).round().clamp(0.0, 1020.0) as usize;
        // Every eighth of a level (the halves between quarter steps are
        // ties), their neighbours, and values off the scale.
        let mut values: Vec<f32> = (-80..=2200).map(|k| k as f32 / 8.0).collect();
        values.extend(
            values
                .clone()
                .iter()
                .flat_map(|&v| [v.next_up(), v.next_down()]),
        );
        values.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30]);
        let mut state = 1u32;
        for _ in 0..100_000 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            values.push(state as f32 / u32::MAX as f32 * 300.0 - 20.0);
        }
        for v in values {
            assert_eq!(quarter_step(v), reference(v), "{v}");
        }
        let mut values: Vec<f64> = (0..=2600).map(|k| f64::from(k) / 10.0).collect();
        values.extend((0..=520).map(|k| f64::from(k) / 2.0));
        values.extend(
            values
                .clone()
                .iter()
                .flat_map(|&v| [v.next_up(), v.next_down().max(0.0)]),
        );
        for v in values {
            assert_eq!(round_non_negative(v), v.round() as usize, "{v}");
        }
    }

    #[test]
    fn transfer_function_round_trips() {
        for i in 0..=255 {
            let c = f64::from(i) / 255.0;
            assert!((from_linear(to_linear(c)) - c).abs() < 1e-9, "{i}");
        }
        assert!((linear_of_sample(255.0) - 1.0).abs() < 1e-6);
        assert_eq!(linear_of_sample(0.0), 0.0);
    }
}
