//! The sRGB transfer function, one place for every stage that works in
//! linear light (exposure and white balance are gains there).

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
    (v * 4.0).round().clamp(0.0, 1020.0) as usize
}

/// Linear light of a 0–255 sample, by the quarter-step table.
pub fn linear_of_sample(v: f32) -> f32 {
    linear_lut_quarter_steps()[quarter_step(v)]
}

#[cfg(test)]
mod tests {
    use super::*;

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
