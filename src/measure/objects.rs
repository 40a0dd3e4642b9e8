//! Objects over the face: a microphone, a phone, a hand-held card,
//! clothing or a headband reaching into a zone. Against bare skin (each
//! channel divided by the median over the nose and cheeks, as the hair
//! mask does, so that exposure and white balance cancel), every skin
//! colour keeps red at least as high as blue and green: shading scales
//! the channels alike, melanin takes more blue than red, haemoglobin more
//! green. Grey, black, white and blue things, whose blue is as high as
//! their red in absolute terms, stand out by the ratio of skin's own red
//! to blue (2–3). Strong glare, white light added to the skin, reads the
//! same way and is left out with them: its colour is not the skin's. A
//! piece with a core lighter than bare skin in every channel (a quarter of
//! its pixels or more) is that glare, and is told apart (`Cover::sheen`):
//! the overlays then show it as glare, not as an object held over the face.

use super::hair::{self, SkinReference};
use super::segment::CanonicalPatch;

/// A pixel is not skin-coloured when its blue or green, relative to bare
/// skin's, is at least this many times its red relative to bare skin's.
/// Dark circles and veins under the eyes read 1.1–1.5, the bluish side
/// shadow of dark skin in the skin-tone set under 1.6; a black microphone
/// and clothing 2–3.
pub const MIN_BLUE_OVER_RED: f64 = 2.0;
/// Connected non-skin pixels smaller than this (mm²) are left as skin:
/// open comedones and the dark centres of pores are small grey dots.
pub const MIN_OBJECT_MM2: f64 = 4.0;
/// An object's pixels grow by this much (mm) to take in its soft edge
/// (optics, and JPEG's colour at half resolution).
pub const DILATE_MM: f64 = 0.5;

/// Whether a pixel of linear RGB `rgb` has a colour no skin has.
pub fn is_not_skin(skin: &SkinReference, rgb: [f64; 3]) -> bool {
    let [r, g, b] = skin.relative(rgb);
    b.max(g) >= MIN_BLUE_OVER_RED * r
}

/// Whether a pixel is lighter than bare skin in every channel: white light
/// added to the skin (glare), where an object held over the face is darker
/// or has another colour.
pub fn is_sheen(skin: &SkinReference, rgb: [f64; 3]) -> bool {
    skin.relative(rgb).iter().all(|&c| c > 1.0)
}

/// What covers a patch's skin: each a mask over the patch.
pub struct Cover {
    /// Objects over the face (not skin-coloured, not glare).
    pub objects: Vec<bool>,
    /// Strong glare: pieces a quarter or more of which is lighter than bare
    /// skin in every channel (half of `obama-1080p`'s forehead shine stayed
    /// an "object" when most of a piece had to be).
    pub sheen: Vec<bool>,
}

/// The patch's pixels (inside its mask) covered by something that is not
/// skin, in pieces of at least `MIN_OBJECT_MM2`, told apart into objects
/// and glare.
pub fn mask(patch: &CanonicalPatch, skin: &SkinReference) -> Cover {
    let n = patch.mask.len();
    let candidate: Vec<bool> = (0..n)
        .map(|i| patch.mask[i] && is_not_skin(skin, hair::linear_of(patch, i)))
        .collect();
    if !candidate.contains(&true) {
        return Cover {
            objects: vec![false; n],
            sheen: vec![false; n],
        };
    }
    let min_px = (MIN_OBJECT_MM2 * patch.px_per_mm * patch.px_per_mm).ceil() as u32;
    let (mut objects, mut sheen) = (vec![false; n], vec![false; n]);
    for c in super::segment::pieces(&candidate, &patch.mask, patch.width, patch.height)
        .into_iter()
        .filter(|c| c.area_px >= min_px)
    {
        let lighter = c
            .pixels
            .iter()
            .filter(|&&p| is_sheen(skin, hair::linear_of(patch, p as usize)))
            .count();
        let into = if 4 * lighter >= c.pixels.len() {
            &mut sheen
        } else {
            &mut objects
        };
        for p in c.pixels {
            into[p as usize] = true;
        }
    }
    Cover {
        objects: hair::grown_within(&objects, patch, DILATE_MM),
        sheen: hair::grown_within(&sheen, patch, DILATE_MM),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_black_white_and_blue_things_are_not_skin_shading_and_chromophores_are() {
        let skin = SkinReference {
            linear: [0.40, 0.25, 0.18],
        };
        // A black microphone, a white shirt, a mid-grey card, a blue sleeve.
        for thing in [
            [0.02, 0.02, 0.02],
            [0.8, 0.8, 0.8],
            [0.2, 0.2, 0.2],
            [0.05, 0.08, 0.3],
        ] {
            assert!(is_not_skin(&skin, thing), "{thing:?}");
        }
        // Skin in deep shadow, a brown macule, a red papule, a lip.
        for skin_like in [
            [0.08, 0.05, 0.036],
            [0.24, 0.12, 0.07],
            [0.38, 0.15, 0.12],
            [0.45, 0.18, 0.16],
        ] {
            assert!(!is_not_skin(&skin, skin_like), "{skin_like:?}");
        }
        // A dark skin's reference: the same grey is still not skin.
        let dark = SkinReference {
            linear: [0.10, 0.05, 0.033],
        };
        assert!(is_not_skin(&dark, [0.03, 0.03, 0.03]));
        assert!(!is_not_skin(&dark, [0.05, 0.025, 0.02]));
    }

    #[test]
    fn glare_is_lighter_than_skin_in_every_channel_objects_are_not() {
        let skin = SkinReference {
            linear: [0.10, 0.05, 0.033],
        };
        // White light added to dark skin: not skin-coloured, and glare.
        let glare = [0.10 + 0.12, 0.05 + 0.12, 0.033 + 0.12];
        assert!(is_not_skin(&skin, glare) && is_sheen(&skin, glare));
        // A black microphone, a blue sleeve: not skin, not glare.
        for thing in [[0.02, 0.02, 0.02], [0.05, 0.08, 0.3]] {
            assert!(
                is_not_skin(&skin, thing) && !is_sheen(&skin, thing),
                "{thing:?}"
            );
        }
    }
}
