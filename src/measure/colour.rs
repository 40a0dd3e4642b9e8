//! Colour of skin: CIELAB (D65), the Individual Typology Angle (ITA°) and
//! its categories (Chardon 1991), and melanin / haemoglobin indices from
//! optical density (Tsumura et al., JOSA A 1999).
//!
//! ITA is a colour measurement, not a Fitzpatrick type. The indices depend on
//! camera and light, so they are for comparing a patient with themselves
//! under the same capture, never across devices.

use crate::ingest::Photo;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Optical-density directions (R, G, B) used in public skin-separation code.
pub const MELANIN_OD: [f64; 3] = [0.4143, 0.3570, 0.8372];
pub const HAEMOGLOBIN_OD: [f64; 3] = [0.2988, 0.6838, 0.6657];

/// 8-bit sRGB to linear light, by lookup.
pub fn linear_lut() -> [f64; 256] {
    std::array::from_fn(|i| crate::srgb::to_linear(i as f64 / 255.0))
}

/// The same scene under different light: each channel multiplied by its
/// gain in linear light (exposure: equal gains; colour cast: unequal), then
/// back to 8-bit sRGB with clipping, as a camera would record it.
pub fn relight(img: &image::RgbImage, gains: [f64; 3]) -> image::RgbImage {
    transform(img, diagonal(gains))
}

/// [`relight`] at the photo's own depth: a 16-bit photo is re-encoded at
/// 16 bits (and its 8-bit rendering made from that).
pub fn relight_photo(photo: &Photo, gains: [f64; 3]) -> Photo {
    transform_photo(photo, diagonal(gains))
}

fn diagonal(g: [f64; 3]) -> [[f64; 3]; 3] {
    [[g[0], 0.0, 0.0], [0.0, g[1], 0.0], [0.0, 0.0, g[2]]]
}

fn apply(m: &[[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    m.map(|row| row[0] * v[0] + row[1] * v[1] + row[2] * v[2])
}

/// Each pixel's linear RGB multiplied by `m` (a colour correction measured
/// from a chart, or a cast), then back to 8-bit sRGB with clipping.
pub fn transform(img: &image::RgbImage, m: [[f64; 3]; 3]) -> image::RgbImage {
    let lin = linear_lut();
    let encode = |c: f64| (crate::srgb::from_linear(c) * 255.0).round() as u8;
    let mut out = img.clone();
    for p in out.pixels_mut() {
        let v = apply(&m, p.0.map(|c| lin[usize::from(c)]));
        *p = image::Rgb(v.map(encode));
    }
    out
}

/// [`transform`] at the photo's own depth.
pub fn transform_photo(photo: &Photo, m: [[f64; 3]; 3]) -> Photo {
    let corrected = match &photo.deep {
        None => transform(&photo.rgb, m).into(),
        Some(deep) => {
            let encode = |c: f64| (crate::srgb::from_linear(c) * 65535.0).round() as u16;
            let mut out = deep.clone();
            for p in out.pixels_mut() {
                let v = apply(
                    &m,
                    p.0.map(|c| crate::srgb::to_linear(f64::from(c) / 65535.0)),
                );
                *p = image::Rgb(v.map(encode));
            }
            Photo::from_decoded(image::DynamicImage::ImageRgb16(out))
        }
    };
    // Transparent pixels stay mid-grey, whatever the matrix makes of grey.
    match &photo.transparent {
        Some(mask) => corrected.with_transparent(mask.clone()),
        None => corrected,
    }
}

pub use crate::srgb::{lab_from_linear, lab_from_linear_f32, Lab};

/// ITA° = atan((L* − 50) / b*) · 180/π, defined for skin under visible
/// light, where b* > 0. At b* ≤ 0 (a UV or Wood's photo, a blue cast) the
/// angle flips sign and very light skin would read "dark": `None`.
pub fn ita_degrees(lab: Lab) -> Option<f64> {
    (lab.b > 0.0).then(|| ((lab.l - 50.0) / lab.b).atan().to_degrees())
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ItaCategory {
    VeryLight,
    Light,
    Intermediate,
    Tan,
    Brown,
    Dark,
}

impl ItaCategory {
    /// Chardon 1991: > 55 very light, 41–55 light, 28–41 intermediate,
    /// 10–28 tan, −30–10 brown, < −30 dark.
    pub fn from_ita(ita: f64) -> Self {
        match ita {
            x if x > 55.0 => Self::VeryLight,
            x if x > 41.0 => Self::Light,
            x if x > 28.0 => Self::Intermediate,
            x if x > 10.0 => Self::Tan,
            x if x > -30.0 => Self::Brown,
            _ => Self::Dark,
        }
    }
}

/// Inverse of the 3×3 matrix whose columns are the melanin, haemoglobin and
/// shading (grey) directions: OD = m·M + h·H + s·(1,1,1).
fn separation_matrix() -> [[f64; 3]; 3] {
    let m = [
        [MELANIN_OD[0], HAEMOGLOBIN_OD[0], 1.0],
        [MELANIN_OD[1], HAEMOGLOBIN_OD[1], 1.0],
        [MELANIN_OD[2], HAEMOGLOBIN_OD[2], 1.0],
    ];
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let mut inv = [[0.0; 3]; 3];
    for (i, row) in inv.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            let (a, b) = ((j + 1) % 3, (j + 2) % 3);
            let (c, d) = ((i + 1) % 3, (i + 2) % 3);
            *v = (m[a][c] * m[b][d] - m[a][d] * m[b][c]) / det;
        }
    }
    inv
}

/// Per-pixel chromophore indices. Exposure only adds grey optical density,
/// which the shading term absorbs, so the indices do not move with exposure.
pub struct Separator {
    inv: [[f64; 3]; 3],
    od: [f64; 256],
}

impl Default for Separator {
    fn default() -> Self {
        let lin = linear_lut();
        let mut od = [0.0; 256];
        for (o, l) in od.iter_mut().zip(lin) {
            *o = -(l.max(1e-4)).ln();
        }
        Self {
            inv: separation_matrix(),
            od,
        }
    }
}

impl Separator {
    /// (melanin index, haemoglobin index) of one 8-bit sRGB pixel.
    pub fn indices(&self, rgb: [u8; 3]) -> (f64, f64) {
        self.of_od(rgb.map(|c| self.od[c as usize]))
    }

    /// (melanin index, haemoglobin index) of one pixel in linear light.
    pub fn indices_linear(&self, linear: [f64; 3]) -> (f64, f64) {
        self.of_od(linear.map(|l| -(l.max(1e-4)).ln()))
    }

    fn of_od(&self, od: [f64; 3]) -> (f64, f64) {
        let [m, h, _] = self.components_of_od(od);
        (m, h)
    }

    /// (melanin, haemoglobin, shading) of one 8-bit sRGB pixel: shading is
    /// the grey optical density that exposure and surface relief add.
    pub fn components(&self, rgb: [u8; 3]) -> [f64; 3] {
        self.components_of_od(rgb.map(|c| self.od[c as usize]))
    }

    /// The same for a pixel in linear light.
    pub fn components_linear(&self, linear: [f64; 3]) -> [f64; 3] {
        self.components_of_od(linear.map(|l| -(l.max(1e-4)).ln()))
    }

    fn components_of_od(&self, od: [f64; 3]) -> [f64; 3] {
        self.inv
            .map(|row| row[0] * od[0] + row[1] * od[1] + row[2] * od[2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_of_white_and_mid_grey() {
        let w = lab_from_linear(1.0, 1.0, 1.0);
        assert!((w.l - 100.0).abs() < 0.1 && w.a.abs() < 0.5 && w.b.abs() < 0.5);
        let g = lab_from_linear(0.18, 0.18, 0.18);
        assert!((g.l - 49.5).abs() < 0.5);
    }

    #[test]
    fn single_precision_lab_agrees() {
        for rgb in [(0.2, 0.1, 0.05), (0.9, 0.7, 0.6), (0.004, 0.003, 0.002)] {
            let d = lab_from_linear(rgb.0, rgb.1, rgb.2);
            let f = lab_from_linear_f32(rgb.0 as f32, rgb.1 as f32, rgb.2 as f32);
            assert!(
                (d.l - f64::from(f[0])).abs() < 1e-3
                    && (d.a - f64::from(f[1])).abs() < 1e-3
                    && (d.b - f64::from(f[2])).abs() < 1e-3
            );
        }
    }

    #[test]
    fn ita_categories_follow_chardon() {
        assert_eq!(ItaCategory::from_ita(60.0), ItaCategory::VeryLight);
        assert_eq!(ItaCategory::from_ita(45.0), ItaCategory::Light);
        assert_eq!(ItaCategory::from_ita(30.0), ItaCategory::Intermediate);
        assert_eq!(ItaCategory::from_ita(20.0), ItaCategory::Tan);
        assert_eq!(ItaCategory::from_ita(0.0), ItaCategory::Brown);
        assert_eq!(ItaCategory::from_ita(-40.0), ItaCategory::Dark);
        let light_skin = Lab {
            l: 70.0,
            a: 10.0,
            b: 15.0,
        };
        assert!((ita_degrees(light_skin).unwrap() - 53.13).abs() < 0.01);
        let blue = Lab {
            l: 80.0,
            a: 2.0,
            b: -1.0,
        };
        assert_eq!(ita_degrees(blue), None, "no ITA when b* <= 0");
    }

    #[test]
    fn separation_recovers_planted_melanin_and_ignores_exposure() {
        let s = separation_matrix();
        // OD built from known components; the inverse recovers them.
        let (m, h, sh) = (0.7, 0.3, 0.2);
        let od: Vec<f64> = (0..3)
            .map(|i| m * MELANIN_OD[i] + h * HAEMOGLOBIN_OD[i] + sh)
            .collect();
        let got_m = s[0][0] * od[0] + s[0][1] * od[1] + s[0][2] * od[2];
        let got_h = s[1][0] * od[0] + s[1][1] * od[1] + s[1][2] * od[2];
        assert!((got_m - m).abs() < 1e-9 && (got_h - h).abs() < 1e-9);
        let sep = Separator::default();
        let (m1, _) = sep.indices([180, 140, 120]);
        let (m2, _) = sep.indices([200, 150, 128]);
        assert!(m2 < m1 + 0.2);
    }
}
