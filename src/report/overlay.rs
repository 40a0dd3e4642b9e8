//! Overlay images for a person to check what was measured: the face region
//! (or the whole close-up) with mesh points, zones, irises, a 10 mm scale bar,
//! pores and pigmented spots; and melanin / haemoglobin index maps. Encoded
//! fresh from pixels, so no EXIF or GPS from the photo is carried over.

use crate::face::{FaceGeometry, Point};
use crate::measure::{ChromophoreTile, OverlayData, ReliefTile};
use crate::units::PxPerMm;
use crate::zones::{ZoneMask, ZoneName};
use image::{imageops, Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_circle_mut, draw_line_segment_mut};
use imageproc::rect::Rect;

/// The overlays' longest side, pixels, unless asked otherwise
/// (`--overlay-size`): enough to check zones, small enough to browse; also
/// the reports' pictures.
pub const MAX_SIDE: u32 = 1200;

/// Each zone's outline and tint: no zone in the colours of what the overlays
/// mark (amber spots, cyan hair, magenta objects and scars, blue pores).
fn colour(zone: ZoneName) -> Rgb<u8> {
    match zone {
        ZoneName::Forehead => Rgb([255, 235, 0]),
        ZoneName::Nose => Rgb([120, 190, 255]),
        ZoneName::RightCheek | ZoneName::LeftCheek => Rgb([0, 255, 120]),
        ZoneName::Chin => Rgb([255, 150, 220]),
        ZoneName::Perioral => Rgb([255, 90, 90]),
        ZoneName::RightPeriorbital | ZoneName::LeftPeriorbital => Rgb([160, 120, 255]),
        ZoneName::Patch => Rgb([0, 255, 120]),
    }
}

/// The region shown and its scale: the face with a margin, or the whole
/// image, shrunk to at most `max_side` pixels (never enlarged).
pub struct View {
    x0: u32,
    y0: u32,
    width: u32,
    height: u32,
    k: f32,
}

impl View {
    pub fn new(
        image: &RgbImage,
        face: Option<&FaceGeometry>,
        zones: &[ZoneMask],
        max_side: u32,
    ) -> Self {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        let points = face
            .map(|f| f.landmarks.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>())
            .unwrap_or_default();
        for (x, y) in points
            .iter()
            .copied()
            .chain(zones.iter().flat_map(|z| z.outline.iter().copied()))
        {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        let margin = if face.is_some() {
            0.15 * (x1 - x0).max(y1 - y0)
        } else {
            0.0
        };
        let cx0 = (x0 - margin).max(0.0) as u32;
        let cy0 = (y0 - margin).max(0.0) as u32;
        let cx1 = ((x1 + margin).max(0.0) as u32).min(image.width());
        let cy1 = ((y1 + margin).max(0.0) as u32).min(image.height());
        let (w, h) = (
            cx1.saturating_sub(cx0).max(1),
            cy1.saturating_sub(cy0).max(1),
        );
        let k = (max_side.max(1) as f32 / w.max(h) as f32).min(1.0);
        Self {
            x0: cx0,
            y0: cy0,
            width: w,
            height: h,
            k,
        }
    }

    fn to_canvas(&self, p: Point) -> (f32, f32) {
        (
            (p.0 - self.x0 as f32) * self.k,
            (p.1 - self.y0 as f32) * self.k,
        )
    }

    /// Fills square cells of `size` image pixels centred on `cells`; every
    /// `thin`-th cell at 1/`thin` of the size (a stipple) when `thin` > 1.
    fn fill_cells(
        &self,
        canvas: &mut RgbImage,
        cells: &[(f32, f32)],
        size: f32,
        thin: usize,
        colour: Rgb<u8>,
    ) {
        let side = (size * self.k).ceil().max(1.0) as u32;
        let drawn = side.div_ceil(thin as u32);
        for &p in cells.iter().step_by(thin) {
            let (u, v) = self.to_canvas(p);
            let (u0, v0) = (
                (u - side as f32 / 2.0).max(0.0) as i32,
                (v - side as f32 / 2.0).max(0.0) as i32,
            );
            draw_filled_rect_mut(canvas, Rect::at(u0, v0).of_size(drawn, drawn), colour);
        }
    }

    /// Marks the canvas pixels that square cells of `size` image pixels
    /// centred on `cells` cover, on every fourth diagonal only (a hatch
    /// whose spacing does not depend on how many cells a pixel holds).
    fn hatch_cells(&self, canvas: &mut RgbImage, cells: &[(f32, f32)], size: f32, colour: Rgb<u8>) {
        let side = (size * self.k).ceil().max(1.0) as u32;
        let (w, h) = canvas.dimensions();
        for &p in cells {
            let (u, v) = self.to_canvas(p);
            let (u0, v0) = (
                (u - side as f32 / 2.0).max(0.0) as u32,
                (v - side as f32 / 2.0).max(0.0) as u32,
            );
            for y in v0..(v0 + side).min(h) {
                for x in u0..(u0 + side).min(w) {
                    if (x + y) % 4 == 0 {
                        canvas.put_pixel(x, y, colour);
                    }
                }
            }
        }
    }

    /// Paints pixel `i` of a resampled tile (its map to image coordinates
    /// and its width) as a `cell`-sided square, within `limit` (the photo's
    /// part of the canvas).
    fn paint_tile_pixel(
        &self,
        canvas: &mut RgbImage,
        (map, width): (&crate::face::warp::Affine, u32),
        i: usize,
        cell: u32,
        limit: (u32, u32),
        colour: Rgb<u8>,
    ) {
        let (x, y) = map.apply((i as u32 % width) as f32, (i as u32 / width) as f32);
        let (u, v) = self.to_canvas((x, y));
        let (u0, v0) = (
            (u - cell as f32 / 2.0).max(0.0) as u32,
            (v - cell as f32 / 2.0).max(0.0) as u32,
        );
        for dv in 0..cell {
            for du in 0..cell {
                if u0 + du < limit.0 && v0 + dv < limit.1 {
                    canvas.put_pixel(u0 + du, v0 + dv, colour);
                }
            }
        }
    }

    fn base(&self, image: &RgbImage) -> RgbImage {
        let crop = imageops::crop_imm(image, self.x0, self.y0, self.width, self.height).to_image();
        if self.k < 1.0 {
            let w = ((self.width as f32 * self.k) as u32).max(1);
            let h = ((self.height as f32 * self.k) as u32).max(1);
            imageops::resize(&crop, w, h, imageops::FilterType::Triangle)
        } else {
            crop
        }
    }

    /// Mesh, tinted zones, irises, scale bar, pores (blue circles), spots
    /// (outlined in amber) and acne scars (magenta double circles).
    pub fn geometry(
        &self,
        image: &RgbImage,
        face: Option<&FaceGeometry>,
        zones: &[ZoneMask],
        scale: &crate::scale::Scale,
        findings: &OverlayData,
    ) -> Result<Vec<u8>, image::ImageError> {
        let mut canvas = self.base(image);
        let (w, h) = (canvas.width(), canvas.height());
        // A light tint (1/6), applied once per canvas pixel: a downscaled
        // canvas pixel covers many photo pixels, and blending for each of
        // them hid the skin under solid colour.
        let mut tinted = vec![false; (w * h) as usize];
        for zone in zones
            .iter()
            .filter(|z| !findings.left_out.contains(&z.name))
        {
            let c = colour(zone.name).0;
            for (x, y) in zone.iter_pixels() {
                let (u, v) = self.to_canvas((x as f32 + 0.5, y as f32 + 0.5));
                let (u, v) = (u as u32, v as u32);
                if u < w && v < h && !std::mem::replace(&mut tinted[(v * w + u) as usize], true) {
                    let p = canvas.get_pixel_mut(u, v);
                    for (dst, tint) in p.0.iter_mut().zip(c) {
                        *dst = ((u16::from(*dst) * 5 + u16::from(tint)) / 6) as u8;
                    }
                }
            }
        }
        for zone in zones {
            let n = zone.outline.len();
            for i in 0..n {
                draw_line_segment_mut(
                    &mut canvas,
                    self.to_canvas(zone.outline[i]),
                    self.to_canvas(zone.outline[(i + 1) % n]),
                    colour(zone.name),
                );
            }
        }
        // Hair, left out of every measurement: a light cyan stipple (every
        // other cell, half size); spots' boundaries in amber.
        for (cells, size) in &findings.hair {
            self.fill_cells(&mut canvas, cells, *size, 2, Rgb([0, 200, 230]));
        }
        // Objects over the skin (not skin-coloured), left out too: a
        // magenta stipple.
        for (cells, size) in &findings.objects {
            self.fill_cells(&mut canvas, cells, *size, 2, Rgb([230, 0, 200]));
        }
        // Strong glare, left out too: a white stipple (an object it is not).
        for (cells, size) in &findings.sheen {
            self.fill_cells(&mut canvas, cells, *size, 2, Rgb([255, 255, 255]));
        }
        // Left out of the pigmentation (skin folds, skin turned too far):
        // a white diagonal hatch, the same at any resolution.
        for (cells, size) in &findings.folds {
            self.hatch_cells(&mut canvas, cells, *size, Rgb([240, 240, 240]));
        }
        for (cells, size) in &findings.spots {
            // Amber, not brown: a brown outline vanished on dark skin.
            self.fill_cells(&mut canvas, cells, *size, 1, Rgb([255, 150, 0]));
        }
        for &(x, y, r) in &findings.pores {
            let (u, v) = self.to_canvas((x, y));
            draw_hollow_circle_mut(
                &mut canvas,
                (u as i32, v as i32),
                ((r * self.k).round() as i32).max(1),
                Rgb([0, 90, 255]),
            );
        }
        for &(x, y, r) in &findings.scars {
            let (u, v) = self.to_canvas((x, y));
            let r = ((r * self.k).round() as i32).max(2);
            for k in [r, r + 1] {
                draw_hollow_circle_mut(&mut canvas, (u as i32, v as i32), k, Rgb([230, 0, 200]));
            }
        }
        if let Some(face) = face {
            for p in &face.landmarks {
                let (x, y) = self.to_canvas((p[0], p[1]));
                // Grey, not white: white marks glare.
                draw_filled_rect_mut(
                    &mut canvas,
                    Rect::at(x as i32, y as i32).of_size(2, 2),
                    Rgb([140, 140, 140]),
                );
            }
            // Only the irises the scale was read from: a circle on a closed
            // eye would claim a ruler that was not used.
            let used = scale.irises_used(face.pose.yaw_deg.get());
            for (iris, _) in [&face.right_iris, &face.left_iris]
                .into_iter()
                .zip(used)
                .filter(|(_, used)| *used)
            {
                let (x, y) = self.to_canvas(iris.centre);
                let r = (iris.diameter_px * self.k / 2.0).round().max(1.0) as i32;
                draw_hollow_circle_mut(&mut canvas, (x as i32, y as i32), r, Rgb([255, 40, 40]));
            }
        }
        if let Some(s) = scale.px_per_mm {
            // 10 mm bar in the bottom-left corner.
            let len = (10.0 * s.get() as f32 * self.k).max(1.0);
            let y = canvas.height() as f32 - 12.0;
            for dy in 0..3 {
                draw_line_segment_mut(
                    &mut canvas,
                    (10.0, y + dy as f32),
                    (10.0 + len, y + dy as f32),
                    Rgb([255, 255, 255]),
                );
            }
            for x in [10.0, 10.0 + len] {
                draw_line_segment_mut(
                    &mut canvas,
                    (x, y - 6.0),
                    (x, y + 8.0),
                    Rgb([255, 255, 255]),
                );
            }
        }
        encode(&canvas)
    }

    /// An index map over the measured skin: low values pale, high values dark
    /// brown (melanin) or red (haemoglobin), stretched between the 2nd and
    /// 98th percentiles of this photo; the rest of the photo is dimmed. A
    /// colour bar beside it gives the index each colour stands for (the
    /// stretch differs between photos, so two visits' maps compare only
    /// through it).
    pub fn chromophore(
        &self,
        image: &RgbImage,
        tiles: &[ChromophoreTile],
        melanin: bool,
    ) -> Result<Vec<u8>, image::ImageError> {
        let mut canvas = self.base(image);
        for p in canvas.pixels_mut() {
            let g = ((u16::from(p.0[0]) + u16::from(p.0[1]) + u16::from(p.0[2])) / 6) as u8;
            *p = Rgb([g, g, g]);
        }
        let value = |t: &ChromophoreTile, i: usize| {
            if melanin {
                t.melanin[i]
            } else {
                t.haemoglobin[i]
            }
        };
        let mut all: Vec<f32> = tiles
            .iter()
            .flat_map(|t| {
                (0..t.mask.len())
                    .filter(|&i| t.mask[i])
                    .map(move |i| value(t, i))
            })
            .collect();
        if all.is_empty() {
            return encode(&canvas);
        }
        all.sort_by(f32::total_cmp);
        let lo = all[all.len() / 50];
        let hi = all[all.len() * 49 / 50].max(lo + 1e-6);
        let (pale, deep) = if melanin {
            ([250.0, 240.0, 225.0], [80.0, 45.0, 15.0])
        } else {
            ([250.0, 240.0, 240.0], [170.0, 10.0, 30.0])
        };
        let shade = |f: f32| Rgb([0, 1, 2].map(|k| (pale[k] + (deep[k] - pale[k]) * f) as u8));
        let (w, h) = (canvas.width(), canvas.height());
        for t in tiles {
            let cell = (t.map.scale() * self.k).ceil().max(1.0) as u32;
            for i in (0..t.mask.len()).filter(|&i| t.mask[i]) {
                let f = ((value(t, i) - lo) / (hi - lo)).clamp(0.0, 1.0);
                self.paint_tile_pixel(&mut canvas, (&t.map, t.width), i, cell, (w, h), shade(f));
            }
        }
        // The colour bar: low values at the bottom, in a panel to the right
        // wide enough for "haemoglobin" and tall enough for the caption.
        const PANEL: u32 = 200;
        let mut out = RgbImage::from_pixel(w + PANEL, h.max(330), Rgb([255, 255, 255]));
        imageops::replace(&mut out, &canvas, 0, 0);
        let ink = Rgb([30, 30, 30]);
        let (bx, by, bh) = (w as i32 + 16, 58, 200);
        let name = if melanin { "melanin" } else { "haemoglobin" };
        draw_label(&mut out, bx - 6, 8, name, 2, ink);
        draw_label(&mut out, bx - 6, 26, "index", 2, ink);
        let ticks = [(1.0, hi), (0.5, (lo + hi) / 2.0), (0.0, lo)].map(|(f, v)| {
            (
                by + ((1.0 - f) * (bh - 1) as f32).round() as i32,
                format!("{v:.2}"),
            )
        });
        colour_bar(
            &mut out,
            (bx, by, bh),
            |j| shade(1.0 - j as f32 / (bh - 1) as f32),
            &ticks,
            ink,
        );
        draw_label(&mut out, bx - 6, by + bh + 14, "2-98 % of", 2, ink);
        draw_label(&mut out, bx - 6, by + bh + 32, "this photo", 2, ink);
        encode(&out)
    }
}

/// The relief's colour scale: depth below the local skin surface, mm.
const RELIEF_RAISED_MM: f32 = -0.2;
/// The scale's deep end at least, and at most (deeper reads as this).
const RELIEF_DEEP_MM: (f32, f32) = (0.6, 2.0);

/// The scale's deep end for a map whose deepest point is `deepest_mm`: the
/// next 0.2 mm above it, so that the bar covers every depth drawn.
fn relief_deep_end(deepest_mm: f32) -> f32 {
    ((deepest_mm / 0.2).ceil() * 0.2).clamp(RELIEF_DEEP_MM.0, RELIEF_DEEP_MM.1)
}

/// Colour of a depth below the local surface (mm) on a scale down to
/// `deep`: raised skin orange, level skin pale, depressions from cyan
/// through blue to deep violet.
fn relief_colour(depth_mm: f32, deep: f32) -> [f32; 3] {
    let stops: [(f32, [f32; 3]); 5] = [
        (RELIEF_RAISED_MM, [230.0, 120.0, 20.0]),
        (0.0, [235.0, 235.0, 225.0]),
        (0.1, [90.0, 200.0, 230.0]),
        (0.3, [30.0, 80.0, 220.0]),
        (deep, [70.0, 0.0, 110.0]),
    ];
    let d = depth_mm.clamp(RELIEF_RAISED_MM, deep);
    for pair in stops.windows(2) {
        let ((a, ca), (b, cb)) = (pair[0], pair[1]);
        if d <= b {
            let t = (d - a) / (b - a);
            return [0, 1, 2].map(|k| ca[k] + (cb[k] - ca[k]) * t);
        }
    }
    stops[stops.len() - 1].1
}

/// A colour bar 24 px wide at (`bx`, `by`), `bh` rows high, row `j` in
/// `row_colour(j)`; a tick and its label at each `ticks` (canvas y, text).
fn colour_bar(
    canvas: &mut RgbImage,
    (bx, by, bh): (i32, i32, i32),
    row_colour: impl Fn(i32) -> Rgb<u8>,
    ticks: &[(i32, String)],
    ink: Rgb<u8>,
) {
    for j in 0..bh {
        let y = (by + j) as f32;
        draw_line_segment_mut(canvas, (bx as f32, y), ((bx + 24) as f32, y), row_colour(j));
    }
    for (y, label) in ticks {
        let yf = *y as f32;
        draw_line_segment_mut(canvas, ((bx + 24) as f32, yf), ((bx + 30) as f32, yf), ink);
        draw_label(canvas, bx + 36, y - 7, label, 2, ink);
    }
}

/// Draws `text` with an 8×8 bitmap font at `scale`, top-left at (x, y).
fn draw_label(canvas: &mut RgbImage, x: i32, y: i32, text: &str, scale: u32, colour: Rgb<u8>) {
    use font8x8::UnicodeFonts;
    let (w, h) = (canvas.width() as i32, canvas.height() as i32);
    for (n, ch) in text.chars().enumerate() {
        let Some(glyph) = font8x8::BASIC_FONTS.get(ch) else {
            continue;
        };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 0 {
                    continue;
                }
                for dy in 0..scale as i32 {
                    for dx in 0..scale as i32 {
                        let px = x + (n as i32 * 8 + col) * scale as i32 + dx;
                        let py = y + row as i32 * scale as i32 + dy;
                        if (0..w).contains(&px) && (0..h).contains(&py) {
                            canvas.put_pixel(px as u32, py as u32, colour);
                        }
                    }
                }
            }
        }
    }
}

impl View {
    /// The relief measured from a multi-light capture: each zone's depth
    /// below the local skin surface (the map scars are found in) over the
    /// photo in grey, scars circled in white, with a colour bar (mm) and a
    /// scale bar (10 mm, or less to fit) beside it.
    pub fn relief(
        &self,
        image: &RgbImage,
        tiles: &[ReliefTile],
        scars: &[(f32, f32, f32)],
        scale: Option<PxPerMm>,
    ) -> Result<Vec<u8>, image::ImageError> {
        let photo = self.base(image);
        let (w, h) = (photo.width(), photo.height());
        const PANEL: u32 = 170;
        // Tall enough for the colour bar, its labels and the scale bar.
        let mut canvas = RgbImage::from_pixel(w + PANEL, h.max(340), Rgb([255, 255, 255]));
        for (x, y, p) in photo.enumerate_pixels() {
            let g = ((u16::from(p.0[0]) + u16::from(p.0[1]) + u16::from(p.0[2])) / 4) as u8;
            canvas.put_pixel(x, y, Rgb([g, g, g]));
        }
        let deepest = tiles
            .iter()
            .flat_map(|t| t.depth_mm.iter().copied())
            .filter(|d| d.is_finite())
            .fold(0.0f32, f32::max);
        let deep = relief_deep_end(deepest);
        for t in tiles {
            let cell = (t.map.scale() * self.k).ceil().max(1.0) as u32;
            for (i, &d) in t.depth_mm.iter().enumerate() {
                if !d.is_finite() {
                    continue;
                }
                let c = Rgb(relief_colour(d, deep).map(|v| v as u8));
                self.paint_tile_pixel(&mut canvas, (&t.map, t.width), i, cell, (w, h), c);
            }
        }
        for &(x, y, r) in scars {
            let (u, v) = self.to_canvas((x, y));
            let r = ((r * self.k).round() as i32).max(3) + 2;
            for k in [r, r + 1] {
                draw_hollow_circle_mut(&mut canvas, (u as i32, v as i32), k, Rgb([255, 255, 255]));
            }
        }
        // Colour bar: raised at the top, deep at the bottom.
        let ink = Rgb([30, 30, 30]);
        let (bx, by, bh) = (w as i32 + 16, 40, 220);
        draw_label(&mut canvas, bx - 6, 8, "depth, mm", 2, ink);
        let row_colour = |j: i32| {
            let d = RELIEF_RAISED_MM + (deep - RELIEF_RAISED_MM) * j as f32 / bh as f32;
            Rgb(relief_colour(d, deep).map(|v| v as u8))
        };
        // Ticks every 0.2 mm, or every 0.4 mm on a deep scale; the deep end
        // always labelled.
        let step = if deep > 1.0 { 0.4 } else { 0.2 };
        let mut ticks: Vec<f32> = (0..)
            .map(|k| RELIEF_RAISED_MM + step * k as f32)
            .take_while(|t| *t < deep - step / 2.0)
            .collect();
        ticks.push(deep);
        let ticks: Vec<(i32, String)> = ticks
            .into_iter()
            .map(|tick| {
                let j = ((tick - RELIEF_RAISED_MM) / (deep - RELIEF_RAISED_MM) * bh as f32).round()
                    as i32;
                ((by + j).min(by + bh - 1), format!("{tick:.1}"))
            })
            .collect();
        colour_bar(&mut canvas, (bx, by, bh), row_colour, &ticks, ink);
        if let Some(s) = scale {
            // 10 mm (or less, to fit the panel), to the photo's scale.
            let px_per_mm = s.get() as f32 * self.k;
            let mm = [10.0f32, 5.0, 2.0, 1.0]
                .into_iter()
                .find(|mm| mm * px_per_mm <= (PANEL - 30) as f32)
                .unwrap_or(1.0);
            let len = (mm * px_per_mm).max(1.0);
            let y = (by + bh + 30) as f32;
            for dy in 0..3 {
                draw_line_segment_mut(
                    &mut canvas,
                    (bx as f32, y + dy as f32),
                    (bx as f32 + len, y + dy as f32),
                    ink,
                );
            }
            draw_label(&mut canvas, bx, y as i32 + 8, &format!("{mm} mm"), 2, ink);
        }
        encode(&canvas)
    }
}

fn encode(canvas: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut png = Vec::new();
    canvas.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The colour bar covers every depth drawn: a 1.03 mm scar is not
    /// painted at a 0.6 mm end of the scale.
    #[test]
    fn the_relief_scale_reaches_the_deepest_point() {
        assert_eq!(relief_deep_end(0.1), 0.6);
        assert!((relief_deep_end(1.03) - 1.2).abs() < 1e-6);
        assert_eq!(relief_deep_end(5.0), 2.0);
        // Deeper points darken down to the deep end, not before it.
        assert_ne!(relief_colour(0.8, 1.2), relief_colour(1.2, 1.2));
        assert_eq!(relief_colour(1.5, 1.2), relief_colour(1.2, 1.2));
    }
}
