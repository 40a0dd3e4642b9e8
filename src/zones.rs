//! Skin zones: polygons over mesh landmarks for the facial areas a clinic
//! treats, rasterised into masks from which eyes, brows, lips and nostrils
//! (each slightly enlarged) are removed. Areas in cm² need a scale.

use crate::face::surface::SurfaceMap;
use crate::face::{topology as topo, FaceGeometry, Point};
use crate::units::{PxPerMm, SquareCentimetres};
use image::{GrayImage, Luma};
use imageproc::drawing::draw_polygon_mut;
use imageproc::point::Point as IPoint;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The treatment zones. Right and left are the subject's sides.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ZoneName {
    Forehead,
    Nose,
    RightCheek,
    LeftCheek,
    Chin,
    Perioral,
    RightPeriorbital,
    LeftPeriorbital,
    /// A close-up analysed without a face (`--patch`): the frame or a mask.
    Patch,
}

impl ZoneName {
    /// The face zones (everything but `Patch`).
    pub const ALL: [ZoneName; 8] = [
        Self::Forehead,
        Self::Nose,
        Self::RightCheek,
        Self::LeftCheek,
        Self::Chin,
        Self::Perioral,
        Self::RightPeriorbital,
        Self::LeftPeriorbital,
    ];

    /// The outline, as mesh landmark indices in order around the zone.
    /// Neighbouring zones share boundary landmarks, so no skin is counted
    /// twice; chosen on a numbered landmark map of the shared photos.
    pub fn outline(self) -> &'static [usize] {
        match self {
            Self::Forehead => &[
                70, 63, 105, 66, 107, 9, 336, 296, 334, 293, 300, 284, 332, 297, 338, 10, 109, 67,
                103, 54,
            ],
            Self::Nose => &[
                168, 417, 465, 412, 399, 456, 363, 360, 279, 331, 294, 327, 326, 2, 97, 98, 64,
                102, 49, 131, 134, 236, 174, 188, 245, 193,
            ],
            Self::RightCheek => &[
                143, 111, 117, 118, 119, 120, 121, 128, 188, 174, 236, 134, 131, 49, 102, 64, 98,
                165, 92, 186, 57, 212, 214, 192, 213, 147, 123, 116,
            ],
            Self::LeftCheek => &[
                372, 340, 346, 347, 348, 349, 350, 357, 412, 399, 456, 363, 360, 279, 331, 294,
                327, 391, 322, 410, 287, 432, 434, 416, 433, 376, 352, 345,
            ],
            Self::Chin => &[
                43, 106, 182, 83, 18, 313, 406, 335, 273, 422, 430, 394, 395, 369, 400, 377, 152,
                148, 176, 140, 170, 169, 210, 202,
            ],
            Self::Perioral => &[
                98, 97, 2, 326, 327, 391, 322, 410, 287, 273, 335, 406, 313, 18, 83, 182, 106, 43,
                57, 186, 92, 165,
            ],
            Self::RightPeriorbital => &[
                226, 25, 110, 24, 23, 22, 26, 112, 243, 244, 128, 121, 120, 119, 118, 117, 111,
                143, 35,
            ],
            Self::LeftPeriorbital => &[
                446, 255, 339, 254, 253, 252, 256, 341, 463, 464, 357, 350, 349, 348, 347, 346,
                340, 372, 265,
            ],
            Self::Patch => &[],
        }
    }

    /// The periorbital zones, whose upper edge runs along the lower lid's
    /// lashes: no strand seeds the hair mask there (the lid's shadow joins
    /// the lashes), and pores are not read there (lash tips read as pores).
    pub fn is_under_eye(self) -> bool {
        matches!(self, Self::RightPeriorbital | Self::LeftPeriorbital)
    }

    /// As a report or a rationale writes it: "right cheek".
    pub fn label(self) -> &'static str {
        match self {
            Self::Forehead => "forehead",
            Self::Nose => "nose",
            Self::RightCheek => "right cheek",
            Self::LeftCheek => "left cheek",
            Self::Chin => "chin",
            Self::Perioral => "perioral skin",
            Self::RightPeriorbital => "right periorbital skin",
            Self::LeftPeriorbital => "left periorbital skin",
            Self::Patch => "close-up patch",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Forehead => "forehead",
            Self::Nose => "nose",
            Self::RightCheek => "right_cheek",
            Self::LeftCheek => "left_cheek",
            Self::Chin => "chin",
            Self::Perioral => "perioral",
            Self::RightPeriorbital => "right_periorbital",
            Self::LeftPeriorbital => "left_periorbital",
            Self::Patch => "patch",
        }
    }

    /// Every zone a file (protocol, intake) may name: the face zones, then
    /// `patch`.
    pub fn nameable() -> impl Iterator<Item = ZoneName> {
        Self::ALL.into_iter().chain([Self::Patch])
    }

    /// The zone written `name` (`as_str`), `patch` included.
    pub fn named(name: &str) -> Option<Self> {
        Self::nameable().find(|z| z.as_str() == name)
    }

    /// Every name `named` reads, for messages: `forehead, nose, …, patch`.
    pub fn names() -> String {
        Self::nameable()
            .map(Self::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Non-skin features cut out of every zone, with the factor by which each
/// outline is enlarged about its centroid so that lashes, brow hairs and
/// lip borders stay out.
const EXCLUSIONS: [(&[usize], f32); 7] = [
    (&topo::RIGHT_EYE, 1.35),
    (&topo::LEFT_EYE, 1.35),
    (&topo::RIGHT_BROW, 1.25),
    (&topo::LEFT_BROW, 1.25),
    (&topo::LIPS_OUTER, 1.1),
    (&topo::RIGHT_NOSTRIL, 1.1),
    (&topo::LEFT_NOSTRIL, 1.1),
];

/// Skin folds located on the mesh, as landmark polylines along each crease.
/// A fold's shadow reads as pigment: on real negative controls the
/// pigment outlines followed these creases (`docs/harm-on-real-skin.md`),
/// and in one photo shading there cannot be told from pigment, so skin
/// within `FOLD_HALF_WIDTH_MM` of them is left out of the pigmentation
/// measurement. Chosen on a numbered landmark map of `distance/15cm.jpg`
/// and `tones/030_03.jpg`. The sides of the nose are already outside the
/// zones.
pub const FOLDS: [(&str, &[usize]); 10] = [
    ("right nasolabial fold", &[64, 203, 206, 216, 212]),
    ("left nasolabial fold", &[294, 423, 426, 436, 432]),
    ("right marionette line", &[57, 43, 202, 210]),
    ("left marionette line", &[287, 273, 422, 430]),
    ("mentolabial sulcus", &[204, 83, 18, 313, 424]),
    // The lower lip's border, corner to corner: the lip's shade on the skin
    // below it read as pigment (`bioskin/1.jpg`). The upper lip's border
    // is lit (its white roll), and a band there would take most of the
    // perioral zone above the lip, where melasma is measured.
    (
        "lower lip border",
        &[61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291],
    ),
    // Below each eye, the lower lid's crease and the tear trough-lid-cheek
    // junction below it: two lines, whose bands together cover the shadow
    // from the lid's margin down.
    ("right lower lid", &[243, 112, 26, 22, 23, 24, 110, 25, 226]),
    (
        "right infraorbital fold",
        &[244, 233, 232, 231, 230, 229, 228, 31],
    ),
    (
        "left lower lid",
        &[463, 341, 256, 252, 253, 254, 339, 255, 446],
    ),
    (
        "left infraorbital fold",
        &[464, 453, 452, 451, 450, 449, 448, 261],
    ),
];

/// Half the width of a fold's band: the creases' shadows on the sweep's
/// overlays reached 2–3 mm from the mesh's line.
pub const FOLD_HALF_WIDTH_MM: f64 = 3.0;

/// A zone's pixels, stored over its bounding box (clipped to the image).
#[derive(Debug, Clone)]
pub struct ZoneMask {
    pub name: ZoneName,
    pub x0: u32,
    pub y0: u32,
    /// 255 inside the zone, 0 outside; size of the clipped bounding box.
    pub mask: GrayImage,
    pub pixels: u64,
    /// Share of the zone's outline area that lies outside the photo's frame
    /// or on its transparent background (0–1).
    pub outside_frame: f64,
    pub outline: Vec<Point>,
    /// The face's surface per image pixel; `None` for a close-up, taken as
    /// flat and facing the camera.
    pub surface: Option<Arc<SurfaceMap>>,
    /// The zone's pixels weighted by the skin each covers: its area on the
    /// face's surface in pixels facing the camera.
    pub surface_pixels: f64,
    /// Share of the zone's skin (on the surface) left out because it is
    /// turned too far from the camera (0–1).
    pub oblique: f64,
    /// Every fold of `FOLDS` on this face, in image pixels (shared by the
    /// face's zones; none for a close-up).
    pub folds: Arc<Vec<Vec<Point>>>,
}

impl ZoneMask {
    /// Image coordinates of every pixel in the zone.
    pub fn iter_pixels(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.mask
            .enumerate_pixels()
            .filter(|(_, _, p)| p.0[0] > 0)
            .map(|(x, y, _)| (x + self.x0, y + self.y0))
    }

    /// Whether the image pixel (x, y) is in the zone.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x.checked_sub(self.x0)
            .zip(y.checked_sub(self.y0))
            .and_then(|(mx, my)| self.mask.get_pixel_checked(mx, my))
            .is_some_and(|p| p.0[0] > 0)
    }
}

/// The record's view of a zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZoneSummary {
    /// The zone.
    pub name: ZoneName,
    /// Image pixels of measured skin in the zone (eyes, brows, lips, nostrils
    /// and skin turned too far from the camera left out).
    pub pixels: u64,
    /// The zone's skin on the face's surface (the mesh's 3-D shape undoes
    /// the foreshortening of skin turned from the camera), less what is
    /// left out as too oblique. Null without a scale.
    pub area_cm2: Option<SquareCentimetres>,
    /// The zone's area on the face's surface over its area in the image
    /// (≥ 1; 1 for a close-up, taken as flat and facing the camera).
    #[serde(default)]
    pub surface_factor: Option<f64>,
    /// Share of the zone's skin turned further from the camera than the
    /// quality threshold `max_obliquity_deg` (60°), left out of every
    /// measurement, %.
    #[serde(default)]
    pub oblique_pct: Option<f64>,
    /// Share of the zone outside the photo's frame, or on its transparent
    /// background with 1 mm of skin beside it (0–1).
    pub outside_frame: f64,
    /// Share of the zone's measured skin covered by hair (scalp hair,
    /// brows, lashes, beard, stubble), %, left out of every measurement;
    /// null when nothing was measured (no scale).
    #[serde(default)]
    pub hair_pct: Option<f64>,
    /// Share of the zone's measured skin covered by something that is not
    /// skin-coloured (a microphone, a phone, a hand-held card, clothing;
    /// not hair, not glare), %, left out of every measurement; null when
    /// nothing was measured (no scale).
    #[serde(default)]
    pub object_pct: Option<f64>,
    /// Share of the zone's measured skin under strong glare (pieces of at
    /// least 4 mm² not skin-coloured, a quarter or more of each lighter
    /// than bare skin in every channel: the light's colour, not the skin's),
    /// %, left out of every measurement; null when nothing was measured (no
    /// scale).
    #[serde(default)]
    pub sheen_pct: Option<f64>,
}

fn polygon_area(poly: &[Point]) -> f64 {
    let n = poly.len();
    let twice: f64 = (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            f64::from(a.0) * f64::from(b.1) - f64::from(b.0) * f64::from(a.1)
        })
        .sum();
    twice.abs() / 2.0
}

fn enlarge(poly: &[Point], factor: f32) -> Vec<Point> {
    let n = poly.len() as f32;
    let cx = poly.iter().map(|p| p.0).sum::<f32>() / n;
    let cy = poly.iter().map(|p| p.1).sum::<f32>() / n;
    poly.iter()
        .map(|p| (cx + (p.0 - cx) * factor, cy + (p.1 - cy) * factor))
        .collect()
}

fn fill(canvas: &mut GrayImage, poly: &[Point], x0: u32, y0: u32, value: u8) {
    // Pixel centres: pixel i covers [i, i+1), so shift by half a pixel.
    let mut pts: Vec<IPoint<i32>> = poly
        .iter()
        .map(|p| {
            IPoint::new(
                (p.0 - x0 as f32 - 0.5).round() as i32,
                (p.1 - y0 as f32 - 0.5).round() as i32,
            )
        })
        .collect();
    pts.dedup();
    while pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    if pts.len() >= 3 {
        draw_polygon_mut(canvas, &pts, Luma([value]));
    }
}

/// Skin kept clear of a photo's transparent pixels (mm): the models read a
/// cut-out's edge against the mid-grey beyond it as a dark border (on the
/// real cheek close-up cut to an ellipse, pores and a pigment outline lay
/// along it at a 2-pixel margin).
const TRANSPARENT_MARGIN_MM: f64 = 1.0;
/// The margin at least (pixels).
const TRANSPARENT_MARGIN_PX: f64 = 2.0;

/// A photo's transparent pixels (255) grown by `TRANSPARENT_MARGIN_MM`
/// at `px_per_mm` (at least `TRANSPARENT_MARGIN_PX`): what no zone
/// measures.
pub fn beyond_the_photo(transparent: &GrayImage, px_per_mm: f64) -> GrayImage {
    // `dilate` reaches every pixel at a distance of 255 (its u8 distances
    // saturate there): 254 at most.
    let margin = (TRANSPARENT_MARGIN_MM * px_per_mm)
        .max(TRANSPARENT_MARGIN_PX)
        .ceil()
        .min(254.0) as u8;
    imageproc::morphology::dilate(
        transparent,
        imageproc::distance_transform::Norm::LInf,
        margin,
    )
}

/// Clears the pixels of `mask` (placed at `x0`, `y0`) that `beyond` marks;
/// returns the share of its pixels cleared (0–1).
fn leave_out_beyond(mask: &mut GrayImage, x0: u32, y0: u32, beyond: &GrayImage) -> f64 {
    let (mut kept, mut cleared) = (0u64, 0u64);
    for (x, y, p) in mask.enumerate_pixels_mut() {
        if p.0[0] == 0 {
            continue;
        }
        if beyond
            .get_pixel_checked(x0 + x, y0 + y)
            .is_some_and(|b| b.0[0] > 0)
        {
            p.0[0] = 0;
            cleared += 1;
        } else {
            kept += 1;
        }
    }
    if kept + cleared > 0 {
        cleared as f64 / (kept + cleared) as f64
    } else {
        0.0
    }
}

/// Builds every zone's mask for a face in a `width`×`height` photo.
/// Skin turned more than `max_obliquity_deg` from the camera is left out,
/// and so are the pixels `beyond` marks (`beyond_the_photo`): they count
/// as lying outside the frame.
pub fn build(
    face: &FaceGeometry,
    width: u32,
    height: u32,
    max_obliquity_deg: f64,
    beyond: Option<&GrayImage>,
) -> Vec<ZoneMask> {
    let surface = Arc::new(SurfaceMap::from_landmarks(&face.landmarks));
    let folds = Arc::new(
        FOLDS
            .iter()
            .map(|(_, idx)| face.polygon(idx))
            .collect::<Vec<_>>(),
    );
    let exclusions: Vec<Vec<Point>> = EXCLUSIONS
        .iter()
        .map(|(idx, f)| enlarge(&face.polygon(idx), *f))
        .collect();
    ZoneName::ALL
        .iter()
        .map(|&name| {
            let outline = face.polygon(name.outline());
            let (mut xmin, mut ymin, mut xmax, mut ymax) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
            for p in &outline {
                xmin = xmin.min(p.0);
                ymin = ymin.min(p.1);
                xmax = xmax.max(p.0);
                ymax = ymax.max(p.1);
            }
            let x0 = xmin.floor().clamp(0.0, width as f32) as u32;
            let y0 = ymin.floor().clamp(0.0, height as f32) as u32;
            let x1 = xmax.ceil().clamp(0.0, width as f32) as u32;
            let y1 = ymax.ceil().clamp(0.0, height as f32) as u32;
            let mut mask = GrayImage::new(x1.saturating_sub(x0), y1.saturating_sub(y0));
            let mut transparent = 0.0;
            if mask.width() > 0 && mask.height() > 0 {
                fill(&mut mask, &outline, x0, y0, 255);
                for ex in &exclusions {
                    fill(&mut mask, ex, x0, y0, 0);
                }
                leave_out_rims(&mut mask, x0, y0, &face.spectacle_rims);
                if let Some(beyond) = beyond {
                    transparent = leave_out_beyond(&mut mask, x0, y0, beyond);
                }
            }
            let (surface_pixels, oblique) =
                weigh_by_surface(&mut mask, x0, y0, &surface, max_obliquity_deg);
            let pixels = mask.as_raw().iter().filter(|&&v| v > 0).count() as u64;
            let full = polygon_area(&outline);
            let clipped = polygon_area(&clip_to_frame(&outline, width as f32, height as f32));
            // Of the outline's area in the frame, the transparent share
            // lies outside the photo as well.
            let outside_frame = if full > 0.0 {
                (1.0 - clipped / full * (1.0 - transparent)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            ZoneMask {
                name,
                x0,
                y0,
                mask,
                pixels,
                outside_frame,
                outline,
                surface: Some(surface.clone()),
                surface_pixels,
                oblique,
                folds: folds.clone(),
            }
        })
        .collect()
}

/// Clears the pixels of `mask` (placed at `x0`, `y0`) that lie in a
/// spectacle rim's band: a frame is not skin.
fn leave_out_rims(mask: &mut GrayImage, x0: u32, y0: u32, rims: &[crate::face::spectacles::Rim]) {
    if rims.is_empty() {
        return;
    }
    for (x, y, p) in mask.enumerate_pixels_mut() {
        let (cx, cy) = ((x0 + x) as f32 + 0.5, (y0 + y) as f32 + 0.5);
        if p.0[0] > 0 && rims.iter().any(|r| r.covers(cx, cy)) {
            p.0[0] = 0;
        }
    }
}

/// Weighs a zone's pixels by the skin each covers and leaves out those
/// turned more than `max_obliquity_deg`: returns the kept pixels' weight and
/// the left-out share of the zone's surface. A pixel off the mesh (none
/// should be: zones are drawn on it) counts as facing the camera.
fn weigh_by_surface(
    mask: &mut GrayImage,
    x0: u32,
    y0: u32,
    surface: &SurfaceMap,
    max_obliquity_deg: f64,
) -> (f64, f64) {
    let limit = 1.0 / max_obliquity_deg.to_radians().cos();
    let width = mask.width() as usize;
    let (mut kept, mut dropped) = (0.0f64, 0.0f64);
    if width == 0 {
        return (0.0, 0.0);
    }
    for (r, row) in mask.chunks_exact_mut(width).enumerate() {
        for (from, to, factor) in surface.row_runs(y0 + r as u32, x0, x0 + width as u32) {
            let run = &mut row[(from - x0) as usize..(to - x0) as usize];
            let n = run.iter().filter(|&&v| v > 0).count() as f64;
            let f = f64::from(factor.unwrap_or(1.0));
            if f > limit {
                dropped += n * f;
                run.fill(0);
            } else {
                kept += n * f;
            }
        }
    }
    let total = kept + dropped;
    (kept, if total > 0.0 { dropped / total } else { 0.0 })
}

/// Sutherland–Hodgman clipping against the image rectangle.
fn clip_to_frame(poly: &[Point], w: f32, h: f32) -> Vec<Point> {
    type Inside = fn(Point, f32, f32) -> bool;
    let edges: [(Inside, u8); 4] = [
        (|p, _, _| p.0 >= 0.0, 0),
        (|p, w, _| p.0 <= w, 1),
        (|p, _, _| p.1 >= 0.0, 2),
        (|p, _, h| p.1 <= h, 3),
    ];
    let mut out = poly.to_vec();
    for (inside, edge) in edges {
        let input = std::mem::take(&mut out);
        let n = input.len();
        for i in 0..n {
            let (cur, prev) = (input[i], input[(i + n - 1) % n]);
            let intersect = || {
                let t = match edge {
                    0 => (0.0 - prev.0) / (cur.0 - prev.0),
                    1 => (w - prev.0) / (cur.0 - prev.0),
                    2 => (0.0 - prev.1) / (cur.1 - prev.1),
                    _ => (h - prev.1) / (cur.1 - prev.1),
                };
                (prev.0 + t * (cur.0 - prev.0), prev.1 + t * (cur.1 - prev.1))
            };
            match (inside(cur, w, h), inside(prev, w, h)) {
                (true, true) => out.push(cur),
                (true, false) => {
                    out.push(intersect());
                    out.push(cur);
                }
                (false, true) => out.push(intersect()),
                (false, false) => {}
            }
        }
    }
    out
}

/// The whole frame, or the non-zero pixels of `mask`, as one zone.
pub fn patch(width: u32, height: u32, mask: Option<&GrayImage>) -> ZoneMask {
    opaque_patch(width, height, mask, None)
}

/// `patch` without the pixels `beyond` marks (`beyond_the_photo`): a
/// close-up's transparent background bounds its patch as a `--patch` mask
/// does, so nothing of the patch counts as outside the photo.
pub fn opaque_patch(
    width: u32,
    height: u32,
    mask: Option<&GrayImage>,
    beyond: Option<&GrayImage>,
) -> ZoneMask {
    let mut mask = match mask {
        Some(m) => GrayImage::from_fn(width, height, |x, y| {
            Luma([if m.get_pixel(x, y).0[0] > 0 { 255 } else { 0 }])
        }),
        None => GrayImage::from_pixel(width, height, Luma([255])),
    };
    if let Some(beyond) = beyond {
        leave_out_beyond(&mut mask, 0, 0, beyond);
    }
    let pixels = mask.as_raw().iter().filter(|&&v| v > 0).count() as u64;
    let (w, h) = (width as f32, height as f32);
    ZoneMask {
        name: ZoneName::Patch,
        x0: 0,
        y0: 0,
        mask,
        pixels,
        outside_frame: 0.0,
        outline: vec![(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)],
        surface: None,
        surface_pixels: pixels as f64,
        oblique: 0.0,
        folds: Arc::default(),
    }
}

pub fn summarise(zones: &[ZoneMask], scale: Option<PxPerMm>) -> Vec<ZoneSummary> {
    zones
        .iter()
        .map(|z| ZoneSummary {
            name: z.name,
            pixels: z.pixels,
            area_cm2: scale.map(|s| s.pixel_area_to_cm2(z.surface_pixels)),
            surface_factor: (z.pixels > 0)
                .then(|| (z.surface_pixels / z.pixels as f64 * 1000.0).round() / 1000.0),
            oblique_pct: Some((z.oblique * 1000.0).round() / 10.0),
            outside_frame: z.outside_frame,
            hair_pct: None,
            object_pct: None,
            sheen_pct: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_outs_margin_is_a_millimetre_within_two_and_254_pixels() {
        let mut t = GrayImage::new(600, 3);
        t.put_pixel(0, 1, Luma([255]));
        let reach = |px_per_mm: f64| {
            let b = beyond_the_photo(&t, px_per_mm);
            (0..600u32).filter(|&x| b.get_pixel(x, 1).0[0] > 0).max()
        };
        assert_eq!(reach(0.5), Some(2));
        assert_eq!(reach(12.6), Some(13));
        // A microscope's scale: not the whole frame.
        assert_eq!(reach(1000.0), Some(254));
    }

    #[test]
    fn polygon_area_and_clipping() {
        let square = [(-5.0, 0.0), (5.0, 0.0), (5.0, 10.0), (-5.0, 10.0)];
        assert_eq!(polygon_area(&square), 100.0);
        let clipped = clip_to_frame(&square, 100.0, 100.0);
        assert!((polygon_area(&clipped) - 50.0).abs() < 1e-6);
    }

    #[test]
    fn every_zone_outline_uses_valid_landmarks() {
        for z in ZoneName::ALL {
            assert!(z.outline().len() >= 3, "{z:?}");
            assert!(
                z.outline().iter().all(|&i| i < topo::LANDMARK_COUNT),
                "{z:?}"
            );
        }
        for (name, line) in FOLDS {
            assert!(line.len() >= 2, "{name}");
            assert!(line.iter().all(|&i| i < topo::LANDMARK_COUNT), "{name}");
        }
    }

    #[test]
    fn zones_weigh_turned_skin_and_leave_out_what_is_too_oblique() {
        // A mesh whose left half faces the camera and whose right half is
        // turned 50° (then 70°) away, like a cheek's side.
        let mesh = |deg: f32| -> Vec<[f32; 3]> {
            let t = deg.to_radians().tan();
            // 2.5 px apart, so the normals' smoothing across the fold
            // spans a few pixels only.
            (0..=80)
                .flat_map(|i| (0..=40).map(move |j| (i as f32 * 2.5, j as f32 * 2.5)))
                .map(|(x, y)| [x, y, if x > 100.0 { (x - 100.0) * t } else { 0.0 }])
                .collect()
        };
        for (deg, kept_right) in [(50.0f32, true), (70.0, false)] {
            let surface = SurfaceMap::from_landmarks(&mesh(deg));
            let mut mask = GrayImage::from_pixel(200, 100, Luma([255]));
            let (weight, oblique) = weigh_by_surface(&mut mask, 0, 0, &surface, 60.0);
            let left = 100.0 * 100.0;
            let right = left / f64::from(deg.to_radians().cos());
            let kept = mask.as_raw().iter().filter(|&&v| v > 0).count();
            if kept_right {
                assert!(
                    (weight - (left + right)).abs() < 0.01 * (left + right),
                    "{deg}: {weight}"
                );
                assert_eq!(oblique, 0.0);
                assert_eq!(kept, 20_000);
            } else {
                // The fold is smoothed over a few pixels, counted at up to 2×.
                assert!((weight - left).abs() < 0.03 * left, "{deg}: {weight}");
                let want = right / (left + right);
                assert!((oblique - want).abs() < 0.02, "{deg}: {oblique} vs {want}");
                assert!((kept as i64 - 10_000).abs() < 200, "{kept}");
            }
        }
    }
}
