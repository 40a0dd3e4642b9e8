//! Overlay images: the face region with mesh points, zone outlines, irises
//! and a 10 mm scale bar, for a person to check what was measured. Encoded
//! fresh from pixels, so no EXIF or GPS from the photo is carried over.

use crate::face::{FaceGeometry, Point};
use crate::units::PxPerMm;
use crate::zones::{ZoneMask, ZoneName};
use image::{imageops, Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_circle_mut, draw_line_segment_mut};
use imageproc::rect::Rect;

/// Longest side of an overlay: enough to check zones, small enough to browse.
const MAX_SIDE: u32 = 1200;

fn colour(zone: ZoneName) -> Rgb<u8> {
    match zone {
        ZoneName::Forehead => Rgb([255, 200, 0]),
        ZoneName::Nose => Rgb([0, 200, 255]),
        ZoneName::RightCheek | ZoneName::LeftCheek => Rgb([0, 255, 120]),
        ZoneName::Chin => Rgb([255, 120, 0]),
        ZoneName::Perioral => Rgb([255, 0, 200]),
        ZoneName::RightPeriorbital | ZoneName::LeftPeriorbital => Rgb([160, 120, 255]),
    }
}

/// Renders the overlay as PNG bytes.
pub fn render(
    image: &RgbImage,
    face: &FaceGeometry,
    zones: &[ZoneMask],
    scale: Option<PxPerMm>,
) -> Result<Vec<u8>, image::ImageError> {
    // Crop around the face with a margin, then shrink to MAX_SIDE.
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in &face.landmarks {
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    let margin = 0.15 * (x1 - x0).max(y1 - y0);
    let cx0 = (x0 - margin).max(0.0) as u32;
    let cy0 = (y0 - margin).max(0.0) as u32;
    let cx1 = ((x1 + margin) as u32).min(image.width());
    let cy1 = ((y1 + margin) as u32).min(image.height());
    let (cw, ch) = (
        cx1.saturating_sub(cx0).max(1),
        cy1.saturating_sub(cy0).max(1),
    );
    let crop = imageops::crop_imm(image, cx0, cy0, cw, ch).to_image();
    let k = (MAX_SIDE as f32 / cw.max(ch) as f32).min(1.0);
    let mut canvas = if k < 1.0 {
        imageops::resize(
            &crop,
            ((cw as f32 * k) as u32).max(1),
            ((ch as f32 * k) as u32).max(1),
            imageops::FilterType::Triangle,
        )
    } else {
        crop
    };
    let map = |p: Point| ((p.0 - cx0 as f32) * k, (p.1 - cy0 as f32) * k);

    for p in &face.landmarks {
        let (x, y) = map((p[0], p[1]));
        draw_filled_rect_mut(
            &mut canvas,
            Rect::at(x as i32, y as i32).of_size(2, 2),
            Rgb([230, 230, 230]),
        );
    }
    // Tint the pixels each zone measures (so the cut-outs show), then outline it.
    let (w, h) = (canvas.width(), canvas.height());
    for zone in zones {
        let c = colour(zone.name).0;
        for (x, y) in zone.iter_pixels() {
            let (u, v) = map((x as f32 + 0.5, y as f32 + 0.5));
            let (u, v) = (u as u32, v as u32);
            if u < w && v < h {
                let p = canvas.get_pixel_mut(u, v);
                for (dst, tint) in p.0.iter_mut().zip(c) {
                    *dst = ((u16::from(*dst) * 3 + u16::from(tint)) / 4) as u8;
                }
            }
        }
    }
    for zone in zones {
        let n = zone.outline.len();
        for i in 0..n {
            draw_line_segment_mut(
                &mut canvas,
                map(zone.outline[i]),
                map(zone.outline[(i + 1) % n]),
                colour(zone.name),
            );
        }
    }
    for iris in [&face.right_iris, &face.left_iris] {
        let (x, y) = map(iris.centre);
        let r = (iris.diameter_px * k / 2.0).round().max(1.0) as i32;
        draw_hollow_circle_mut(&mut canvas, (x as i32, y as i32), r, Rgb([255, 40, 40]));
    }
    if let Some(s) = scale {
        // 10 mm bar in the bottom-left corner.
        let len = (10.0 * s.get() as f32 * k).max(1.0);
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
    let mut png = Vec::new();
    canvas.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}
