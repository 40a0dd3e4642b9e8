//! Hair on the skin: scalp hair at the hairline, brows, lashes, beard,
//! stubble and moustache. Each pixel is divided, per channel in linear
//! light, by bare skin's colour (the median over the nose and cheeks), so
//! that exposure and white balance cancel exactly, as in the models' input.
//! Against bare skin, shading is grey (all channels scaled alike), melanin
//! darkens blue more than red (a brown macule), and hair, dark brown to
//! black, takes away skin's red: a pixel much darker than bare skin whose
//! red fell further than its blue, and that is textured (strands, not a
//! smooth shadow), is hair. Hair pixels are left out of
//! every measurement (a beard read as "dark skin", stubble as pigment or
//! scars) and their share of each zone is reported as `hair_pct`.

use super::segment::CanonicalPatch;
use crate::face::warp::Affine;

/// Bare skin's colour: the median of each linear channel over the nose and
/// cheeks (zones where hair rarely covers more than a part).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkinReference {
    pub linear: [f64; 3],
}

/// A pixel whose luminance relative to bare skin is at most this can be
/// hair (about 12 L* darker than skin of L* 65) …
pub const MAX_RELATIVE_LUMINANCE: f64 = 0.55;
/// … when its red, relative to bare skin's, is at most this share of its
/// blue relative to bare skin's (shading keeps the two equal; melanin
/// raises red over blue).
pub const MAX_RED_OVER_BLUE: f64 = 0.85;
/// Brown and auburn strands keep skin's balance of red and blue, as a brown
/// macule does, so the red-over-blue test misses them: a textured pixel at
/// most this dark against bare skin (about 30 L* darker than skin of L* 65)
/// is hair when it joins hair found by both tests (`grow_through`).
pub const MAX_STRAND_LUMINANCE: f64 = 0.3;
/// Area (mm²) of plain hair, found by both tests and connected, from which
/// strands are followed.
pub const MIN_STRAND_SEED_MM2: f64 = 2.0;
/// Side of the box (mm) over which a pixel's texture is measured.
pub const TEXTURE_MM: f64 = 1.0;
/// Hair is textured (strands, stubble): the luminance's coefficient of
/// variation over that box is at least this. A shadow on the side of a
/// face is smooth: on dark skin lit from one side it is as dark and as
/// bluish against bare skin as a beard (0.05 against 0.13–0.20 in the
/// skin-tone set), and without this it read as hair. Below about 3 px/mm
/// strands are not resolved and hair is not found.
pub const MIN_TEXTURE: f64 = 0.09;
/// Hair pixels grow by this much (mm) to take in the strands' soft edges.
pub const DILATE_MM: f64 = 0.25;

/// A zone with at least this share of hair found (a beard, stubble) holds
/// more hair than the mask finds: stubble's short, sparse strands at
/// clinical resolution are dots the mask misses. Such a zone is no
/// reference for the face's redness (the hair left in it reads less red),
/// gets no pores (its follicles and stubble read as pores) and no pigmented
/// spots (stubble and the shade between the hairs read as spots; its colour
/// is still read). On the real photos: the stubble of `bioskin/2.jpg` (chin
/// 32 %, perioral 53 %).
pub const HAIRY_ZONE_PCT: f64 = 20.0;

/// Whether a zone with this share of hair (%) is hairy (`HAIRY_ZONE_PCT`).
pub fn is_hairy(hair_pct: f64) -> bool {
    hair_pct >= HAIRY_ZONE_PCT
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    Some(*v.select_nth_unstable_by(mid, f64::total_cmp).1)
}

/// Relative luminance (Rec. 709) of linear RGB.
fn luminance([r, g, b]: [f64; 3]) -> f64 {
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

pub(super) fn linear_of(patch: &CanonicalPatch, i: usize) -> [f64; 3] {
    [0, 1, 2].map(|c| f64::from(patch.linear(patch.rgb[i * 3 + c])))
}

impl SkinReference {
    /// From the bare-skin zones' patches.
    pub fn of(zones: &[&CanonicalPatch]) -> Option<Self> {
        let mut channels = [Vec::new(), Vec::new(), Vec::new()];
        for patch in zones {
            for i in (0..patch.mask.len()).filter(|&i| patch.mask[i]) {
                for (c, v) in linear_of(patch, i).into_iter().enumerate() {
                    channels[c].push(v);
                }
            }
        }
        let [r, g, b] = channels;
        let linear = [median(r)?, median(g)?, median(b)?].map(|v| v.max(1e-4));
        Some(Self { linear })
    }

    /// A pixel of linear RGB `rgb`, channel by channel, relative to bare skin.
    pub fn relative(&self, rgb: [f64; 3]) -> [f64; 3] {
        [0, 1, 2].map(|c| rgb[c] / self.linear[c])
    }

    /// Whether a pixel of linear RGB `rgb` reads as hair.
    pub fn is_hair(&self, rgb: [f64; 3]) -> bool {
        let [r, g, b] = self.relative(rgb);
        luminance([r, g, b]) <= MAX_RELATIVE_LUMINANCE && r <= MAX_RED_OVER_BLUE * b
    }

    /// Whether a pixel is far darker than bare skin, whatever its hue
    /// (`MAX_STRAND_LUMINANCE`).
    pub fn is_dark_as_hair(&self, rgb: [f64; 3]) -> bool {
        luminance(self.relative(rgb)) <= MAX_STRAND_LUMINANCE
    }
}

/// A zone's hair (and the objects over it, `objects`) found at one
/// resolution, looked up at another (the pores' 16 px/mm patches read what
/// was found at 4 px/mm, rather than finding it again at 16 times the
/// pixels).
pub struct HairMap {
    /// Canonical pixel → image coordinates of its centre (an axis-aligned
    /// scale and offset).
    map: Affine,
    width: u32,
    height: u32,
    hair: Vec<bool>,
}

impl HairMap {
    pub fn new(patch: &CanonicalPatch, hair: Vec<bool>) -> Self {
        Self {
            map: patch.map,
            width: patch.width,
            height: patch.height,
            hair,
        }
    }

    /// The map's column nearest image x, `None` off the map.
    fn column(&self, x: f32) -> Option<u32> {
        nearest(x, self.map.tx, self.map.a, self.width)
    }

    /// The map's row nearest image y, `None` off the map.
    fn row(&self, y: f32) -> Option<u32> {
        nearest(y, self.map.ty, self.map.d, self.height)
    }

    /// Whether the image point (x, y) lies on hair.
    pub fn at(&self, x: f32, y: f32) -> bool {
        match (self.column(x), self.row(y)) {
            (Some(u), Some(v)) => self.hair[(v * self.width + u) as usize],
            _ => false,
        }
    }

    /// `patch`'s pixels that lie on hair.
    pub fn on(&self, patch: &CanonicalPatch) -> Vec<bool> {
        let w = patch.width;
        let m = patch.map;
        if m.b != 0.0 || m.c != 0.0 {
            return (0..patch.mask.len() as u32)
                .map(|i| {
                    let (x, y) = m.apply((i % w) as f32, (i / w) as f32);
                    self.at(x, y)
                })
                .collect();
        }
        // Axis-aligned (every zone patch): a pixel's hair column depends on
        // its column only and its hair row on its row only, so each is
        // looked up once.
        let columns: Vec<Option<u32>> = (0..w)
            .map(|u| self.column(m.apply(u as f32, 0.0).0))
            .collect();
        let mut out = vec![false; patch.mask.len()];
        for (v, row) in out.chunks_exact_mut(w as usize).enumerate() {
            let Some(hv) = self.row(m.apply(0.0, v as f32).1) else {
                continue;
            };
            let hair = &self.hair[(hv * self.width) as usize..][..self.width as usize];
            for (o, c) in row.iter_mut().zip(&columns) {
                *o = c.is_some_and(|c| hair[c as usize]);
            }
        }
        out
    }
}

/// The index of the grid point (origin + k × step) nearest `c`, `None`
/// before the first or past `len`.
fn nearest(c: f32, origin: f32, step: f32, len: u32) -> Option<u32> {
    let k = ((c - origin) / step).round();
    (k >= 0.0 && (k as u32) < len).then_some(k as u32)
}

/// The patch's hair pixels (inside its mask). `strands`: also take in the
/// brown and auburn strands that join plainly dark hair
/// (`MAX_STRAND_LUMINANCE`); not under the eyes, where the lower lid's
/// shadow joins the lashes and dark circles are skin to be measured.
pub fn mask(patch: &CanonicalPatch, skin: &SkinReference, strands: bool) -> Vec<bool> {
    let (w, h) = (patch.width as usize, patch.height as usize);
    // Each pixel's linear RGB and luminance, once.
    let rgb: Vec<[f64; 3]> = (0..w * h)
        .map(|i| {
            if patch.mask[i] {
                linear_of(patch, i)
            } else {
                [0.0; 3]
            }
        })
        .collect();
    // Hair grows only from pixels of hair's colour: a zone without any (most
    // cheeks and noses) has none, and its texture need not be measured.
    if !(0..w * h).any(|i| patch.mask[i] && skin.is_hair(rgb[i])) {
        return vec![false; w * h];
    }
    let lum: Vec<f64> = rgb.iter().map(|&c| luminance(c)).collect();
    // Texture: the luminance's coefficient of variation over a box of side
    // `TEXTURE_MM` (masked).
    let sq: Vec<f64> = lum.iter().map(|v| v * v).collect();
    let box_r = (TEXTURE_MM / 2.0 * patch.px_per_mm).round().max(1.0) as usize;
    let (n, [mean, mean_sq]) =
        super::segment::masked_box_means([&lum, &sq], &patch.mask, w, h, box_r);
    let textured = |i: usize| {
        if n[i] < 2.0 {
            return false;
        }
        let var = (mean_sq[i] - mean[i] * mean[i]).max(0.0);
        var.sqrt() >= MIN_TEXTURE * mean[i].max(1e-6)
    };
    let strong: Vec<bool> = (0..w * h)
        .map(|i| patch.mask[i] && skin.is_hair(rgb[i]) && textured(i))
        .collect();
    let seed = if strands {
        // Only a stretch of plain hair leads into strands: a scar's cast
        // shadow can pass the full test in a few pixels, and grown from
        // there the whole pit would be taken for hair.
        let min_px = (MIN_STRAND_SEED_MM2 * patch.px_per_mm * patch.px_per_mm).ceil() as u32;
        let leads = super::segment::pieces_where(&strong, &patch.mask, w as u32, h as u32, |c| {
            c.area_px >= min_px
        });
        let grown = grow_through(leads, w, h, |i| {
            patch.mask[i] && skin.is_dark_as_hair(rgb[i]) && textured(i)
        });
        grown.iter().zip(&strong).map(|(&g, &s)| g || s).collect()
    } else {
        strong
    };
    grown_within(&seed, patch, DILATE_MM)
}

/// Hair within this distance (mm) of the lips or the nostrils, and nowhere
/// else, is their dark border, not hair: the mesh's lip outline lies inside
/// full lips, and the hair mask took a ring around them on women's and
/// clean-shaven faces (`tones/025_03`: a fifth of the perioral zone).
pub const RIM_MM: f64 = 2.0;

/// The patch's measured pixels within `RIM_MM` of a hole in its mask (what
/// the zone encloses but does not measure: the lips, the nostrils).
pub fn hole_rim(patch: &CanonicalPatch) -> Vec<bool> {
    let (w, h) = (patch.width as usize, patch.height as usize);
    // Unmeasured pixels joined to the patch's edge are outside the zone;
    // the others are its holes.
    let mut outside = vec![false; w * h];
    let mut stack: Vec<usize> = (0..w)
        .flat_map(|x| [x, (h - 1) * w + x])
        .chain((0..h).flat_map(|y| [y * w, y * w + w - 1]))
        .filter(|&i| !patch.mask[i])
        .collect();
    for &i in &stack {
        outside[i] = true;
    }
    while let Some(i) = stack.pop() {
        let (x, y) = (i % w, i / w);
        let near = [
            (x > 0).then(|| i - 1),
            (x + 1 < w).then(|| i + 1),
            (y > 0).then(|| i - w),
            (y + 1 < h).then(|| i + w),
        ];
        for j in near.into_iter().flatten() {
            if !patch.mask[j] && !outside[j] {
                outside[j] = true;
                stack.push(j);
            }
        }
    }
    let hole: Vec<bool> = (0..w * h).map(|i| !patch.mask[i] && !outside[i]).collect();
    grown_within(&hole, patch, RIM_MM)
}

/// `hair` without its pieces that lie mostly in `band` (a lip's rim, a
/// crease's shadow): a moustache or a beard lies mostly beyond it and stays.
pub fn mostly_beyond(hair: &[bool], band: &[bool], patch: &CanonicalPatch) -> Vec<bool> {
    if !band.contains(&true) {
        return hair.to_vec();
    }
    super::segment::pieces_where(hair, &patch.mask, patch.width, patch.height, |c| {
        2 * c.pixels.iter().filter(|&&p| !band[p as usize]).count() > c.pixels.len()
    })
}

/// `seed` grown by `mm` (square neighbourhoods), kept inside the patch's mask.
pub(super) fn grown_within(seed: &[bool], patch: &CanonicalPatch, mm: f64) -> Vec<bool> {
    let (w, h) = (patch.width as usize, patch.height as usize);
    let r = (mm * patch.px_per_mm).round() as usize;
    let seed01: Vec<f64> = seed.iter().map(|&s| f64::from(u8::from(s))).collect();
    super::segment::box_sum(&seed01, w, h, r)
        .iter()
        .zip(&patch.mask)
        .map(|(&v, &m)| m && v > 0.0)
        .collect()
}

/// `strong` and the pixels joined to it (8-neighbours) through pixels that
/// pass `weak`: hysteresis, as Canny's edges. A brown or auburn strand is as
/// dark as hair but keeps skin's balance of red and blue, as a brown
/// macule does; it is hair only when it runs into hair that is plainly hair
/// (a fringe's darker strands), so a macule on its own stays skin.
fn grow_through(
    mut strong: Vec<bool>,
    w: usize,
    h: usize,
    weak: impl Fn(usize) -> bool,
) -> Vec<bool> {
    let mut stack: Vec<usize> = (0..w * h).filter(|&i| strong[i]).collect();
    while let Some(i) = stack.pop() {
        let (x, y) = (i % w, i / w);
        for ny in y.saturating_sub(1)..(y + 2).min(h) {
            for nx in x.saturating_sub(1)..(x + 2).min(w) {
                let j = ny * w + nx;
                if !strong[j] && weak(j) {
                    strong[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    strong
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dark_hair_is_hair_brown_macules_and_shading_are_not() {
        let skin = SkinReference {
            linear: [0.40, 0.25, 0.18],
        };
        // Dark brown hair: a third of skin's blue, a fifth of its red.
        assert!(skin.is_hair([0.08, 0.06, 0.06]));
        // A brown macule: darker, blue absorbed more than red.
        assert!(!skin.is_hair([0.24, 0.12, 0.07]));
        // A deep shadow: every channel at 40 %.
        assert!(!skin.is_hair([0.16, 0.10, 0.072]));
        // Slightly darker, greyer skin is not dark enough to be hair.
        assert!(!skin.is_hair([0.30, 0.22, 0.17]));
        // Exposure cancels: the same hair at twice the light, against skin
        // at twice the light.
        let brighter = SkinReference {
            linear: [0.80, 0.50, 0.36],
        };
        assert!(brighter.is_hair([0.16, 0.12, 0.12]));
    }

    #[test]
    fn a_lips_dark_border_is_not_hair_a_moustache_is() {
        // A 40 mm patch at 4 px/mm with a "mouth": a hole 10 px across in
        // the middle of its mask.
        let img = image::RgbImage::from_pixel(160, 160, image::Rgb([180, 140, 120]));
        let pyramid = crate::face::warp::Pyramid::new(&img, 16);
        let zone = crate::zones::patch(160, 160, None);
        let scale = crate::units::PxPerMm::new(4.0).unwrap();
        let mut patch = CanonicalPatch::from_zone(&pyramid, &zone, scale, 4.0).unwrap();
        let w = patch.width as usize;
        let (cx, cy) = (w / 2, patch.height as usize / 2);
        let inside = |x: usize, y: usize, r: usize| x.abs_diff(cx).max(y.abs_diff(cy)) <= r;
        let hole: Vec<bool> = (0..patch.mask.len())
            .map(|i| inside(i % w, i / w, 5))
            .collect();
        patch.exclude(&hole);
        // A one-pixel ring hugging the hole, and a separate moustache: a
        // 31 × 15 px band from the rim out to 17 px above the hole.
        let ring: Vec<bool> = (0..patch.mask.len())
            .map(|i| inside(i % w, i / w, 6) && !inside(i % w, i / w, 5))
            .collect();
        let moustache: Vec<bool> = (0..patch.mask.len())
            .map(|i| {
                let (x, y) = (i % w, i / w);
                x.abs_diff(cx) <= 15 && (cy - 22..cy - 7).contains(&y)
            })
            .collect();
        let rim = hole_rim(&patch);
        assert!(mostly_beyond(&ring, &rim, &patch).iter().all(|&h| !h));
        assert_eq!(mostly_beyond(&moustache, &rim, &patch), moustache);
    }

    #[test]
    fn brown_strands_are_hair_only_where_they_join_plain_hair() {
        let skin = SkinReference {
            linear: [0.40, 0.25, 0.18],
        };
        // A brown strand: a fifth of skin's luminance, skin's red-to-blue
        // balance (the red-over-blue test alone misses it).
        let brown = [0.08, 0.05, 0.036];
        assert!(!skin.is_hair(brown));
        assert!(skin.is_dark_as_hair(brown));
        // Row 0: dark hair at x = 0, then a brown strand to x = 4, skin,
        // and a lone brown spot at x = 7.
        let (w, h) = (9, 1);
        let strong: Vec<bool> = (0..w).map(|x| x == 0).collect();
        let dark = |x: usize| (1..=4).contains(&x) || x == 7;
        let grown = grow_through(strong, w, h, dark);
        assert_eq!(
            grown,
            (0..w).map(|x| x <= 4).collect::<Vec<_>>(),
            "the strand joins the hair; the lone spot stays skin"
        );
    }
}
