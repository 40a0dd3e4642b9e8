//! Crops for the models: an affine map from crop pixels to image pixels,
//! sampled bilinearly from a box-filtered pyramid level chosen so that
//! downscaling never aliases (a 12 MP face reduced to 192 px would otherwise
//! keep only one pixel in eight).

use crate::ingest::{Depth, Photo, Rgb16Image};
use image::{GrayImage, ImageBuffer, Pixel, Rgb, RgbImage};
use std::sync::OnceLock;

/// Maps crop pixel indices `(u, v)` to the continuous image coordinates of
/// their centres (image pixel `i` spans `[i, i+1)`):
/// `x = a·u + b·v + tx`, `y = c·u + d·v + ty`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub a: f32,
    pub b: f32,
    pub c: f32,
    pub d: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Affine {
    /// A square crop of `side` image pixels centred on `(cx, cy)`, rotated by
    /// `angle` radians, sampled as `size`×`size` crop pixels.
    pub fn rotated_square(cx: f32, cy: f32, side: f32, angle: f32, size: u32) -> Self {
        let s = side / size as f32;
        let (sin, cos) = angle.sin_cos();
        let half = size as f32 / 2.0;
        // (u + 0.5 - half) scaled and rotated, then shifted to the centre; the
        // half-pixel terms are folded into tx, ty.
        let a = cos * s;
        let b = -sin * s;
        let c = sin * s;
        let d = cos * s;
        let u0 = 0.5 - half;
        Self {
            a,
            b,
            c,
            d,
            tx: cx + a * u0 + b * u0,
            ty: cy + c * u0 + d * u0,
        }
    }

    /// Horizontally mirrored crop: crop column `u` reads column `size-1-u`.
    pub fn mirrored(self, size: u32) -> Self {
        let w = size as f32 - 1.0;
        Self {
            a: -self.a,
            c: -self.c,
            tx: self.tx + self.a * w,
            ty: self.ty + self.c * w,
            ..self
        }
    }

    pub fn apply(&self, u: f32, v: f32) -> (f32, f32) {
        (
            self.a * u + self.b * v + self.tx,
            self.c * u + self.d * v + self.ty,
        )
    }

    /// The crop coordinate that `apply` maps to (x, y); `None` for a
    /// degenerate map.
    pub fn unapply(&self, x: f32, y: f32) -> Option<(f32, f32)> {
        let det = self.a * self.d - self.b * self.c;
        if det.abs() < f32::EPSILON {
            return None;
        }
        let (dx, dy) = (x - self.tx, y - self.ty);
        Some((
            (self.d * dx - self.b * dy) / det,
            (self.a * dy - self.c * dx) / det,
        ))
    }

    /// Maps a continuous crop coordinate (as the landmark models output) to
    /// continuous image coordinates.
    pub fn apply_continuous(&self, x: f32, y: f32) -> (f32, f32) {
        self.apply(x - 0.5, y - 0.5)
    }

    /// This map, made for the photo turned clockwise by `quarters` quarter
    /// turns, read from the photo as it is (`width`×`height`): sampling
    /// the photo through the result gives what sampling its turned copy
    /// would, without making the copy.
    pub fn from_turned(self, quarters: u8, width: u32, height: u32) -> Self {
        let (w, h) = (width as f32, height as f32);
        // Continuous coordinates (x, y) of the photo from (xt, yt) of its
        // turned copy: a quarter turn clockwise puts (x, y) at (h − y, x).
        let Self { a, b, c, d, tx, ty } = self;
        match quarters % 4 {
            0 => self,
            // x = yt, y = h − xt
            1 => Self {
                a: c,
                b: d,
                c: -a,
                d: -b,
                tx: ty,
                ty: h - tx,
            },
            // x = w − xt, y = h − yt
            2 => Self {
                a: -a,
                b: -b,
                c: -c,
                d: -d,
                tx: w - tx,
                ty: h - ty,
            },
            // x = w − yt, y = xt
            _ => Self {
                a: -c,
                b: -d,
                c: a,
                d: b,
                tx: w - ty,
                ty: tx,
            },
        }
    }

    /// Image pixels per crop pixel.
    pub fn scale(&self) -> f32 {
        (self.a * self.d - self.b * self.c).abs().sqrt()
    }
}

/// An image and its successive 2×2 box-filtered halvings. Samples come out
/// on the 8-bit scale (0–255) whatever the depth; a 16-bit photo keeps its
/// fractions of a level, halvings included.
///
/// Levels are built when first sampled, not up front: a photo's analysis
/// reads only a few of them (the face detector's, the pigment and pore
/// models' canonical resolutions), and a 100 MP 16-bit photo's first halving
/// alone is 143 MiB.
pub struct Pyramid<'a> {
    /// The 8-bit image (the whole photo, for what reads pixels directly).
    base: &'a RgbImage,
    levels: Levels<'a>,
    /// The photo's transparent pixels (`Photo::transparent`), which no zone
    /// measures.
    transparent: Option<&'a GrayImage>,
}

enum Levels<'a> {
    /// Each halving from the one before (an 8-bit level rounds each time,
    /// as every figure in the README was measured).
    Eight(Vec<OnceLock<RgbImage>>),
    /// Each halving straight from the 16-bit photo (the mean of its
    /// 2^k × 2^k block, rounded once), so that reading a coarse level does
    /// not keep the finer ones in memory.
    Sixteen {
        base: &'a Rgb16Image,
        halvings: Vec<OnceLock<Rgb16Image>>,
    },
}

/// How many halvings an image of `width`×`height` gets before its shorter
/// side would drop below `min_side`.
fn level_count(width: u32, height: u32, min_side: u32) -> usize {
    let (mut side, mut n) = (width.min(height), 0);
    while side / 2 >= min_side.max(1) {
        side /= 2;
        n += 1;
    }
    n
}

impl<'a> Pyramid<'a> {
    /// Halvings until the shorter side would drop below `min_side`.
    pub fn new(base: &'a RgbImage, min_side: u32) -> Self {
        let n = level_count(base.width(), base.height(), min_side);
        Self {
            base,
            levels: Levels::Eight((0..n).map(|_| OnceLock::new()).collect()),
            transparent: None,
        }
    }

    /// A photo's pyramid, sampled at the photo's own depth.
    pub fn of(photo: &'a Photo, min_side: u32) -> Self {
        let pyramid = match &photo.deep {
            Some(deep) if deep.dimensions() == photo.rgb.dimensions() => Self {
                base: &photo.rgb,
                levels: Levels::Sixteen {
                    base: deep,
                    halvings: (0..level_count(deep.width(), deep.height(), min_side))
                        .map(|_| OnceLock::new())
                        .collect(),
                },
                transparent: None,
            },
            _ => Self::new(&photo.rgb, min_side),
        };
        Self {
            transparent: photo
                .transparent
                .as_ref()
                .filter(|m| m.dimensions() == photo.rgb.dimensions()),
            ..pyramid
        }
    }

    pub fn base(&self) -> &RgbImage {
        self.base
    }

    /// The photo's transparent pixels (255), if any.
    pub fn transparent(&self) -> Option<&'a GrayImage> {
        self.transparent
    }

    pub fn depth(&self) -> Depth {
        match self.levels {
            Levels::Eight(_) => Depth::Eight,
            Levels::Sixteen { .. } => Depth::Sixteen,
        }
    }

    fn halvings(&self) -> usize {
        match &self.levels {
            Levels::Eight(h) => h.len(),
            Levels::Sixteen { halvings, .. } => halvings.len(),
        }
    }

    /// The 8-bit halving `k` (1-based), built on first use.
    fn eight<'s>(&'s self, halvings: &'s [OnceLock<RgbImage>], k: usize) -> &'s RgbImage {
        if k == 0 {
            return self.base;
        }
        halvings[k - 1].get_or_init(|| halve(self.eight(halvings, k - 1)))
    }

    /// Samples a `width`×`height` crop through `map` into NHWC `out`, on
    /// the 8-bit scale (zeros outside the image, as MediaPipe pads).
    pub fn sample(&self, map: &Affine, width: u32, height: u32, out: &mut [f32]) {
        debug_assert_eq!(out.len(), (width * height * 3) as usize);
        // Deepest level whose pixels are still no larger than a crop pixel.
        let mut k = 0usize;
        let ratio = map.scale();
        while k < self.halvings() && (1u32 << (k + 1)) as f32 <= ratio {
            k += 1;
        }
        let f = 1.0 / (1u32 << k) as f32;
        match &self.levels {
            Levels::Eight(halvings) => {
                let img = self.eight(halvings, k);
                sample_level(img, f, map, width, height, 1.0, out)
            }
            Levels::Sixteen { base, halvings } => {
                let img = if k == 0 {
                    *base
                } else {
                    halvings[k - 1].get_or_init(|| block_mean(base, k as u32))
                };
                // 65535 is white, as 255 is at 8 bits.
                sample_level(img, f, map, width, height, 255.0 / 65535.0, out)
            }
        }
    }
}

/// A channel value the pyramid holds: 8 or 16 bits.
trait Level: image::Primitive + Into<f32> {
    /// The rounded mean of four values.
    fn mean4(a: Self, b: Self, c: Self, d: Self) -> Self;
}

impl Level for u8 {
    fn mean4(a: u8, b: u8, c: u8, d: u8) -> u8 {
        ((u16::from(a) + u16::from(b) + u16::from(c) + u16::from(d) + 2) >> 2) as u8
    }
}

impl Level for u16 {
    fn mean4(a: u16, b: u16, c: u16, d: u16) -> u16 {
        ((u32::from(a) + u32::from(b) + u32::from(c) + u32::from(d) + 2) >> 2) as u16
    }
}

/// The `k`-th halving of a 16-bit image in one pass: each pixel the rounded
/// mean of a 2^k × 2^k block (whole blocks only, as successive halvings
/// keep). Sums are u64 per channel: 4^k values of up to 65535.
fn block_mean(src: &Rgb16Image, k: u32) -> Rgb16Image {
    let side = 1usize << k;
    let (w, h) = (src.width() as usize >> k, src.height() as usize >> k);
    let row = src.width() as usize * 3;
    let raw = src.as_raw();
    let shift = 2 * k;
    let half = (1u64 << shift) >> 1;
    let mut out = vec![0u16; w * h * 3];
    let mut acc = vec![0u64; w * 3];
    for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
        acc.iter_mut().for_each(|a| *a = 0);
        for r in 0..side {
            let line = &raw[(y * side + r) * row..][..w * side * 3];
            for (a, block) in acc.chunks_exact_mut(3).zip(line.chunks_exact(side * 3)) {
                for px in block.chunks_exact(3) {
                    a[0] += u64::from(px[0]);
                    a[1] += u64::from(px[1]);
                    a[2] += u64::from(px[2]);
                }
            }
        }
        for (o, a) in dst.iter_mut().zip(&acc) {
            *o = ((a + half) >> shift) as u16;
        }
    }
    ImageBuffer::from_raw(w as u32, h as u32, out).unwrap_or_else(|| ImageBuffer::new(0, 0))
}

/// Bilinear samples of one level (`f`: level pixels per image pixel), each
/// value times `unit` (zero outside the image).
fn sample_level<P: Level>(
    img: &ImageBuffer<Rgb<P>, Vec<P>>,
    f: f32,
    map: &Affine,
    width: u32,
    height: u32,
    unit: f32,
    out: &mut [f32],
) where
    Rgb<P>: Pixel<Subpixel = P>,
{
    let (w, h) = (img.width() as i32, img.height() as i32);
    let raw = img.as_raw();
    // Index coordinate at level k (pixel centres sit at +0.5): whole part
    // and fraction.
    let split = |c: f32| {
        let s = c * f - 0.5;
        let i = s.floor();
        (i as i32, s - i)
    };
    // An axis-aligned map (every zone patch) takes its columns' and rows'
    // coordinates from two short tables instead of two floors per pixel.
    let axis_aligned = map.b == 0.0 && map.c == 0.0;
    let columns: Vec<(i32, f32)> = if axis_aligned {
        (0..width)
            .map(|u| split(map.apply(u as f32, 0.0).0))
            .collect()
    } else {
        Vec::new()
    };
    // The four taps around (x0, y0), each left out where it falls off the
    // level.
    let checked = |(x0, fx): (i32, f32), (y0, fy): (i32, f32)| {
        let mut acc = [0.0f32; 3];
        for (dy, wy) in [(0, 1.0 - fy), (1, fy)] {
            for (dx, wx) in [(0, 1.0 - fx), (1, fx)] {
                let (px, py) = (x0 + dx, y0 + dy);
                if px < 0 || py < 0 || px >= w || py >= h {
                    continue;
                }
                let i = ((py * w + px) * 3) as usize;
                let wgt = wx * wy;
                for (a, &v) in acc.iter_mut().zip(&raw[i..i + 3]) {
                    *a += v.into() * wgt;
                }
            }
        }
        acc.map(|a| a * unit)
    };
    for v in 0..height {
        let row = if axis_aligned {
            Some(split(map.apply(0.0, v as f32).1))
        } else {
            None
        };
        let dst = &mut out[(v * width * 3) as usize..][..(width * 3) as usize];
        // A row whose two source rows both exist: its pixels whose two
        // source columns exist take the four taps without bounds checks,
        // summed in the same order as `checked` (so the same values).
        if let Some((y0, fy)) = row.filter(|&(y0, _)| y0 >= 0 && y0 + 1 < h) {
            let line = (w * 3) as usize;
            let top = &raw[y0 as usize * line..][..line];
            let bottom = &raw[(y0 as usize + 1) * line..][..line];
            for (o, &(x0, fx)) in dst.chunks_exact_mut(3).zip(&columns) {
                if x0 < 0 || x0 + 1 >= w {
                    o.copy_from_slice(&checked((x0, fx), (y0, fy)));
                    continue;
                }
                let i = (x0 * 3) as usize;
                let (a, b) = (&top[i..i + 6], &bottom[i..i + 6]);
                let (w00, w01) = ((1.0 - fx) * (1.0 - fy), fx * (1.0 - fy));
                let (w10, w11) = ((1.0 - fx) * fy, fx * fy);
                for c in 0..3 {
                    let mut acc = 0.0f32;
                    acc += a[c].into() * w00;
                    acc += a[c + 3].into() * w01;
                    acc += b[c].into() * w10;
                    acc += b[c + 3].into() * w11;
                    o[c] = acc * unit;
                }
            }
            continue;
        }
        for (u, o) in dst.chunks_exact_mut(3).enumerate() {
            let (x, y) = match row {
                Some(r) => (columns[u], r),
                None => {
                    let (x, y) = map.apply(u as f32, v as f32);
                    (split(x), split(y))
                }
            };
            o.copy_from_slice(&checked(x, y));
        }
    }
}

fn halve<P: Level>(src: &ImageBuffer<Rgb<P>, Vec<P>>) -> ImageBuffer<Rgb<P>, Vec<P>>
where
    Rgb<P>: Pixel<Subpixel = P>,
{
    let (w, h) = (src.width() / 2, src.height() / 2);
    let row = src.width() as usize * 3;
    let raw = src.as_raw();
    let mut out = vec![P::zero(); (w * h * 3) as usize];
    // Row pairs as slices, pixel pairs as 6-value chunks: the compiler can
    // vectorise this, which an index per channel prevents.
    for (y, dst) in out.chunks_exact_mut(w as usize * 3).enumerate() {
        let r0 = &raw[2 * y * row..][..w as usize * 6];
        let r1 = &raw[(2 * y + 1) * row..][..w as usize * 6];
        for ((o, a), b) in dst
            .chunks_exact_mut(3)
            .zip(r0.chunks_exact(6))
            .zip(r1.chunks_exact(6))
        {
            for c in 0..3 {
                o[c] = P::mean4(a[c], a[c + 3], b[c], b[c + 3]);
            }
        }
    }
    ImageBuffer::from_raw(w, h, out).unwrap_or_else(|| ImageBuffer::new(0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unapply_inverts_apply() {
        let m = Affine::rotated_square(50.0, 40.0, 20.0, 0.4, 10);
        for (u, v) in [(0.0, 0.0), (3.5, 7.25), (9.0, 1.0)] {
            let (x, y) = m.apply(u, v);
            let (bu, bv) = m.unapply(x, y).unwrap();
            assert!((bu - u).abs() < 1e-4 && (bv - v).abs() < 1e-4, "{u},{v}");
        }
        let flat = Affine {
            a: 1.0,
            b: 2.0,
            c: 2.0,
            d: 4.0,
            tx: 0.0,
            ty: 0.0,
        };
        assert!(flat.unapply(1.0, 1.0).is_none());
    }

    #[test]
    fn unrotated_square_maps_centres() {
        let m = Affine::rotated_square(50.0, 40.0, 20.0, 0.0, 10);
        let (x, y) = m.apply(0.0, 0.0);
        assert!((x - 41.0).abs() < 1e-5 && (y - 31.0).abs() < 1e-5);
        let (x, y) = m.apply(9.0, 9.0);
        assert!((x - 59.0).abs() < 1e-5 && (y - 49.0).abs() < 1e-5);
        assert!((m.scale() - 2.0).abs() < 1e-6);
    }

    #[test]
    fn mirrored_swaps_columns() {
        let m = Affine::rotated_square(50.0, 40.0, 20.0, 0.3, 10);
        let mm = m.mirrored(10);
        let (a, b) = (m.apply(9.0, 4.0), mm.apply(0.0, 4.0));
        assert!((a.0 - b.0).abs() < 1e-4 && (a.1 - b.1).abs() < 1e-4);
    }

    /// A 16-bit photo's fractions of a level survive sampling, at full
    /// size and from a halving (which an 8-bit pyramid would round).
    #[test]
    fn a_deep_photo_samples_between_8_bit_levels() {
        let level = 100.5f32;
        let v = (level / 255.0 * 65535.0).round() as u16;
        let photo = Photo {
            rgb: RgbImage::from_pixel(64, 64, image::Rgb([101; 3])),
            deep: Some(Rgb16Image::from_pixel(64, 64, image::Rgb([v; 3]))),
            transparent: None,
        };
        let pyr = Pyramid::of(&photo, 8);
        assert_eq!(pyr.depth(), Depth::Sixteen);
        for side in [4.0, 32.0] {
            // 4 crop pixels over `side` image pixels: the photo itself, and
            // its third halving.
            let mut out = vec![0.0; 4 * 4 * 3];
            pyr.sample(
                &Affine::rotated_square(32.0, 32.0, side, 0.0, 4),
                4,
                4,
                &mut out,
            );
            let inside = out[(4 + 1) * 3];
            assert!((inside - level).abs() < 0.01, "{side}: {inside}");
        }
        assert_eq!(
            Pyramid::of(&photo.rgb.clone().into(), 8).depth(),
            Depth::Eight
        );
    }

    /// A 16-bit level built straight from the photo is its successive
    /// halvings, but for their repeated rounding (at most one 16-bit step
    /// per halving); only the sampled level is built.
    #[test]
    fn a_deep_level_in_one_pass_matches_successive_halvings() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let img = Rgb16Image::from_fn(203, 150, |_, _| {
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 65536) as u16
            };
            image::Rgb([next(), next(), next()])
        });
        let mut chained = img.clone();
        for k in 1..=4u32 {
            chained = halve(&chained);
            let direct = block_mean(&img, k);
            assert_eq!(direct.dimensions(), chained.dimensions(), "level {k}");
            let worst = direct
                .as_raw()
                .iter()
                .zip(chained.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap_or(0);
            assert!(u32::from(worst) <= k, "level {k}: {worst}");
        }
        let photo = Photo {
            rgb: RgbImage::new(203, 150),
            deep: Some(img),
            transparent: None,
        };
        let pyr = Pyramid::of(&photo, 8);
        let mut out = vec![0.0; 4 * 4 * 3];
        pyr.sample(
            &Affine::rotated_square(100.0, 75.0, 32.0, 0.0, 4),
            4,
            4,
            &mut out,
        );
        let Levels::Sixteen { halvings, .. } = &pyr.levels else {
            panic!("a deep photo's pyramid is 16-bit")
        };
        let built: Vec<bool> = halvings.iter().map(|l| l.get().is_some()).collect();
        assert_eq!(built, [false, false, true, false]);
    }

    #[test]
    fn sampling_a_flat_image_gives_flat_crop_and_pads_outside() {
        let img = RgbImage::from_pixel(64, 64, image::Rgb([100, 150, 200]));
        let pyr = Pyramid::new(&img, 8);
        let mut out = vec![0.0; 4 * 4 * 3];
        pyr.sample(
            &Affine::rotated_square(32.0, 32.0, 32.0, 0.0, 4),
            4,
            4,
            &mut out,
        );
        assert!(out
            .chunks(3)
            .all(|p| (p[0] - 100.0).abs() < 0.6 && (p[2] - 200.0).abs() < 0.6));
        pyr.sample(
            &Affine::rotated_square(-100.0, -100.0, 8.0, 0.0, 4),
            4,
            4,
            &mut out,
        );
        assert!(out.iter().all(|&v| v == 0.0));
    }

    /// Sampling a photo through `from_turned` reads what sampling its
    /// turned copy reads, on an odd-sized photo, for a scaled and shifted
    /// map (level 0: both read the same pixels).
    #[test]
    fn a_turned_map_reads_the_turned_photo() {
        let (w, h) = (7u32, 5u32);
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x * 30 + y) as u8, (y * 40) as u8, 7]));
        let map = Affine {
            a: 0.75,
            b: 0.0,
            c: 0.0,
            d: 0.75,
            tx: -0.3,
            ty: 0.6,
        };
        for (quarters, turned) in [
            (1u8, image::imageops::rotate90(&img)),
            (2, image::imageops::rotate180(&img)),
            (3, image::imageops::rotate270(&img)),
        ] {
            let (mut want, mut got) = (vec![0.0f32; 9 * 9 * 3], vec![0.0f32; 9 * 9 * 3]);
            Pyramid::new(&turned, 64).sample(&map, 9, 9, &mut want);
            Pyramid::new(&img, 64).sample(&map.from_turned(quarters, w, h), 9, 9, &mut got);
            for (a, b) in want.iter().zip(&got) {
                assert!((a - b).abs() < 1e-3, "{quarters} quarter turns: {a} vs {b}");
            }
        }
    }

    /// Each pixel of `src`'s halving is the rounded mean of its 2×2 block;
    /// an odd last row and column are dropped.
    fn check_halving<P>(src: &ImageBuffer<Rgb<P>, Vec<P>>)
    where
        P: Level + Into<u32>,
        Rgb<P>: Pixel<Subpixel = P>,
    {
        let half = halve(src);
        assert_eq!(half.dimensions(), (src.width() / 2, src.height() / 2));
        for (x, y, p) in half.enumerate_pixels() {
            for c in 0..3 {
                let sum: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                    .iter()
                    .map(|&(dx, dy)| -> u32 { src.get_pixel(2 * x + dx, 2 * y + dy)[c].into() })
                    .sum();
                let got: u32 = p[c].into();
                assert_eq!(got, (sum + 2) >> 2);
            }
        }
    }

    #[test]
    fn a_halving_is_the_rounded_mean_of_each_block() {
        let (w, h) = (9u32, 7u32);
        let mut state = 12345u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        check_halving(&RgbImage::from_fn(w, h, |_, _| {
            Rgb([next() as u8, next() as u8, next() as u8])
        }));
        check_halving(&Rgb16Image::from_fn(w, h, |_, _| {
            Rgb([next() as u16, next() as u16, next() as u16])
        }));
    }
}
