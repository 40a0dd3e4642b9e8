//! Hair on the skin: scalp hair at the hairline, brows, lashes, beard,
//! stubble and moustache. Hair is darker than the person's own bare skin
//! and less saturated for its darkness (hair is dark brown to black, skin
//! is orange-brown), so each zone's pixels are compared with a reference of
//! bare skin taken from the nose and cheeks. Hair pixels are left out of
//! every measurement (a beard read as "dark skin", stubble as pigment or
//! scars) and their share of each zone is reported as `hair_pct`.

use super::pigment::PixelColour;
use super::segment::CanonicalPatch;

/// Bare skin's colour: the median L* and chroma C*ab over the nose and
/// cheeks (zones where hair rarely covers more than a part).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkinReference {
    pub l: f64,
    pub chroma: f64,
}

/// A pixel this much darker (L*) than bare skin can be hair …
pub const MIN_DARKENING_L: f64 = 12.0;
/// … when its chroma, relative to bare skin's, is below its lightness
/// relative to bare skin's times this: skin darkened by melanin or shading
/// keeps its chroma as it darkens (brown macules gain chroma), hair loses it.
pub const MAX_RELATIVE_CHROMA: f64 = 0.9;
/// Hair pixels grow by this much (mm) to take in the strands' soft edges.
pub const DILATE_MM: f64 = 0.25;

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    Some(*v.select_nth_unstable_by(mid, f64::total_cmp).1)
}

impl SkinReference {
    /// From the bare-skin zones' patches and pixel colours.
    pub fn of(zones: &[(&CanonicalPatch, &PixelColour)]) -> Option<Self> {
        let mut l = Vec::new();
        let mut c = Vec::new();
        for (patch, px) in zones {
            for i in (0..patch.mask.len()).filter(|&i| patch.mask[i]) {
                l.push(f64::from(px.l[i]));
                c.push(f64::from(px.a[i]).hypot(f64::from(px.b[i])));
            }
        }
        Some(Self {
            l: median(l)?,
            chroma: median(c)?.max(1.0),
        })
    }

    /// Whether a pixel of lightness `l` and chroma `c` reads as hair.
    pub fn is_hair(&self, l: f64, c: f64) -> bool {
        self.l - l >= MIN_DARKENING_L && c / self.chroma < MAX_RELATIVE_CHROMA * (l / self.l)
    }
}

/// The patch's hair pixels (inside its mask).
pub fn mask(patch: &CanonicalPatch, px: &PixelColour, skin: &SkinReference) -> Vec<bool> {
    let (w, h) = (patch.width as usize, patch.height as usize);
    let seed: Vec<bool> = (0..w * h)
        .map(|i| {
            patch.mask[i]
                && skin.is_hair(
                    f64::from(px.l[i]),
                    f64::from(px.a[i]).hypot(f64::from(px.b[i])),
                )
        })
        .collect();
    let r = (DILATE_MM * patch.px_per_mm).round() as usize;
    let mut out = seed.clone();
    if r > 0 {
        for y in 0..h {
            for x in 0..w {
                if !seed[y * w + x] {
                    continue;
                }
                for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                    for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                        out[yy * w + xx] = true;
                    }
                }
            }
        }
    }
    for (o, &m) in out.iter_mut().zip(&patch.mask) {
        *o &= m;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dark_grey_is_hair_dark_brown_is_not() {
        let skin = SkinReference {
            l: 65.0,
            chroma: 25.0,
        };
        // A beard: L* 35, chroma 8.
        assert!(skin.is_hair(35.0, 8.0));
        // A brown macule: L* 50, chroma 28 (darker, as saturated).
        assert!(!skin.is_hair(50.0, 28.0));
        // Shading in a fold: L* 55, chroma 21 (darker by 10: too little).
        assert!(!skin.is_hair(55.0, 21.0));
        // Deep shadow keeps its chroma in proportion: L* 45, chroma 17.5.
        assert!(!skin.is_hair(45.0, 17.5));
    }
}
