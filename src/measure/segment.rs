//! Zones at a canonical resolution, segmentation models run on them, and the
//! connected components of what they find.

use crate::face::warp::{Affine, Pyramid};
use crate::ingest::Depth;
use crate::units::PxPerMm;
use crate::zones::ZoneMask;
use ort::session::Session;
use ort::value::TensorRef;

/// The per-channel skin value a model's input is divided by (each model's
/// manifest contract says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The zone's median (pore and scar models, as trained).
    Median = 0,
    /// The mean of the zone's middle half (ranks Q1–Q3; the pigment model).
    /// A median of 8-bit data snaps to a level, so re-encoding the photo at
    /// another exposure or white balance can move it by half a level (1–4 %
    /// in linear light for darker channels) and shift the whole zone's
    /// input; the interquartile mean averages over many levels.
    InterquartileMean = 1,
}

impl Reference {
    /// The reference of `n` values given as ascending runs of (value, how
    /// many): the lower median, or the mean of ranks n/4 .. 3n/4 taking the
    /// runs at either end in part. `None` for no values.
    fn of_runs(self, runs: impl Iterator<Item = (f32, u32)>, n: u32) -> Option<f32> {
        if n == 0 {
            return None;
        }
        match self {
            Reference::Median => {
                let mut acc = 0;
                runs.into_iter()
                    .find(|&(_, c)| {
                        acc += c;
                        acc * 2 >= n
                    })
                    .map(|(v, _)| v)
            }
            Reference::InterquartileMean => {
                let (lo, hi) = (f64::from(n) * 0.25, f64::from(n) * 0.75);
                let (mut acc, mut sum, mut weight) = (0.0f64, 0.0f64, 0.0f64);
                for (v, c) in runs {
                    let (a, b) = (acc, acc + f64::from(c));
                    let take = (b.min(hi) - a.max(lo)).max(0.0);
                    sum += take * f64::from(v);
                    weight += take;
                    acc = b;
                }
                (weight > 0.0).then(|| (sum / weight) as f32)
            }
        }
    }
}

/// A sample this bright (0–255) in any channel is taken as clipped.
pub const CLIPPED_FROM: f32 = 250.0;

/// A zone resampled to a fixed px/mm, so the models always see skin at the
/// same physical scale whatever the camera.
pub struct CanonicalPatch {
    pub width: u32,
    pub height: u32,
    pub px_per_mm: f64,
    /// Interleaved RGB, 0–255, bilinear from an anti-aliased pyramid level.
    pub rgb: Vec<f32>,
    /// Which canonical pixels are measured: the zone's, less clipped ones
    /// once `exclude_clipped` ran.
    pub mask: Vec<bool>,
    /// Which canonical pixels belong to the zone (clipped or not).
    pub zone: Vec<bool>,
    /// Skin per canonical pixel on the face's surface, in canonical pixels
    /// (≥ 1, from the face mesh); empty for a close-up, taken as flat.
    surface: Vec<f32>,
    /// `model_input` for each reference, made once for the models sharing
    /// this patch.
    input: [std::sync::OnceLock<Vec<f32>>; 2],
    /// Canonical pixel index → image coordinates of its centre.
    pub map: Affine,
    /// The photo's depth, which sets how finely samples become linear light.
    pub depth: Depth,
}

/// How a patch's samples become the models' input.
enum InputScale {
    /// 8-bit samples: each quarter step's input, per channel.
    Table(Box<[[f32; 1021]; 3]>),
    /// 16-bit samples: the per-channel reference in linear light.
    Reference([f32; 3]),
}

impl CanonicalPatch {
    /// `None` when the zone has no pixels.
    pub fn from_zone(
        pyramid: &Pyramid,
        zone: &ZoneMask,
        scale: PxPerMm,
        canonical_px_per_mm: f64,
    ) -> Option<Self> {
        if zone.pixels == 0 {
            return None;
        }
        let step = (scale.get() / canonical_px_per_mm) as f32; // image px per canonical px
        let even = |n: f32| {
            let n = n.ceil().max(2.0) as u32;
            n + n % 2
        };
        let width = even(zone.mask.width() as f32 / step);
        let height = even(zone.mask.height() as f32 / step);
        let map = Affine {
            a: step,
            b: 0.0,
            c: 0.0,
            d: step,
            tx: zone.x0 as f32 + 0.5 * step,
            ty: zone.y0 as f32 + 0.5 * step,
        };
        let mut rgb = vec![0.0f32; (width * height * 3) as usize];
        pyramid.sample(&map, width, height, &mut rgb);
        let mut mask = vec![false; (width * height) as usize];
        // The zone-mask column and row under each canonical pixel (the map
        // is axis-aligned), `None` outside it.
        let under = |c: f32, origin: u32, len: u32| {
            let m = c.floor() as i64 - i64::from(origin);
            (m >= 0 && m < i64::from(len)).then_some(m as u32)
        };
        let columns: Vec<Option<u32>> = (0..width)
            .map(|u| under(map.apply(u as f32, 0.0).0, zone.x0, zone.mask.width()))
            .collect();
        let zone_row = zone.mask.width() as usize;
        for (v, out) in mask.chunks_exact_mut(width as usize).enumerate() {
            let Some(my) = under(map.apply(0.0, v as f32).1, zone.y0, zone.mask.height()) else {
                continue;
            };
            let line = &zone.mask.as_raw()[my as usize * zone_row..][..zone_row];
            for (m, mx) in out.iter_mut().zip(&columns) {
                if let Some(mx) = *mx {
                    *m = line[mx as usize] > 0;
                }
            }
        }
        // The map is axis-aligned: a pixel's x depends on its column only,
        // its y on its row only.
        let surface = match &zone.surface {
            Some(surface) => {
                let xs: Vec<f32> = (0..width).map(|u| map.apply(u as f32, 0.0).0).collect();
                let ys: Vec<f32> = (0..height).map(|v| map.apply(0.0, v as f32).1).collect();
                surface.on_grid(&xs, &ys, 1.0)
            }
            None => Vec::new(),
        };
        Some(Self {
            width,
            height,
            px_per_mm: canonical_px_per_mm,
            rgb,
            surface,
            zone: mask.clone(),
            mask,
            map,
            input: Default::default(),
            depth: pyramid.depth(),
        })
    }

    /// How many pixels are measured.
    pub fn mask_pixels(&self) -> u64 {
        self.mask.iter().filter(|&&m| m).count() as u64
    }

    /// The measured skin's area on the face's surface.
    pub fn area_mm2(&self) -> f64 {
        self.area_where_mm2(&self.mask)
    }

    /// The area on the face's surface of the pixels where `which` is true.
    pub fn area_where_mm2(&self, which: &[bool]) -> f64 {
        // From +0.0: `sum` of nothing is −0.0, which prints as "-0.00".
        let pixels = (0..which.len().min(self.mask.len()))
            .filter(|&i| which[i])
            .fold(0.0, |sum, i| sum + self.surface_factor(i));
        pixels / (self.px_per_mm * self.px_per_mm)
    }

    /// The area on the face's surface of some of this patch's pixels (by
    /// index), e.g. one spot's.
    pub fn pixels_mm2(&self, pixels: &[u32]) -> f64 {
        let n = pixels
            .iter()
            .fold(0.0, |sum, &i| sum + self.surface_factor(i as usize));
        n / (self.px_per_mm * self.px_per_mm)
    }

    /// Surface over image area at one canonical pixel (1 for a close-up).
    pub fn surface_factor(&self, index: usize) -> f64 {
        self.surface.get(index).map_or(1.0, |&f| f64::from(f))
    }

    /// Linear light of one of this patch's samples (0–255 scale), as finely
    /// as the photo's depth resolves it.
    pub fn linear(&self, v: f32) -> f32 {
        self.depth.linear(v)
    }

    /// The zone's per-channel skin reference in linear light. Not below
    /// sRGB value 1.
    pub fn channel_reference(&self, reference: Reference) -> [f32; 3] {
        match self.depth {
            Depth::Eight => self.channel_reference_quarter_steps(reference),
            Depth::Sixteen => self.channel_reference_exact(reference),
        }
    }

    /// From a histogram of the zone's pixels on 0.25 steps.
    fn channel_reference_quarter_steps(&self, reference: Reference) -> [f32; 3] {
        let lut = crate::srgb::linear_lut_quarter_steps();
        // Not below sRGB value 1 (bin 4).
        let floor = lut[4];
        // The three channels' histograms in one pass over the patch.
        let mut hist = [0, 1, 2].map(|_| vec![0u32; lut.len()]);
        let mut n = 0u32;
        for (&m, px) in self.mask.iter().zip(self.rgb.chunks_exact(3)) {
            if m {
                for ch in 0..3 {
                    hist[ch][crate::srgb::quarter_step(px[ch])] += 1;
                }
                n += 1;
            }
        }
        hist.map(|hist| {
            let runs = hist.iter().enumerate().map(|(bin, &c)| (lut[bin], c));
            reference.of_runs(runs, n).map_or(floor, |v| v.max(floor))
        })
    }

    /// From the zone's pixels sorted, each at its own linear value.
    fn channel_reference_exact(&self, reference: Reference) -> [f32; 3] {
        let floor = self.linear(1.0);
        [0, 1, 2].map(|ch| {
            let mut v: Vec<f32> = (0..self.mask.len())
                .filter(|&i| self.mask[i])
                .map(|i| self.linear(self.rgb[i * 3 + ch]))
                .collect();
            v.sort_unstable_by(f32::total_cmp);
            let n = v.len() as u32;
            let runs = v.into_iter().map(|x| (x, 1));
            reference.of_runs(runs, n).map_or(floor, |x| x.max(floor))
        })
    }

    /// The models' input: NCHW, linear RGB over the zone's per-channel
    /// reference (in linear light), minus 1, so that exposure and colour
    /// casts (gains in linear light) cancel exactly. Pixels outside the zone
    /// are set to the reference (0) so that eyes, lips or background at the
    /// edge cannot look like findings.
    pub fn model_input(&self, reference: Reference) -> &[f32] {
        self.input[reference as usize].get_or_init(|| self.make_model_input(reference))
    }

    fn make_model_input(&self, reference: Reference) -> Vec<f32> {
        let scale = self.input_scale(reference);
        let (w, h) = (self.width as usize, self.height as usize);
        let mut out = Vec::with_capacity(3 * w * h);
        for ch in 0..3 {
            for y in 0..h {
                self.extend_input_row(&scale, ch, y, 0..w, &mut out);
            }
        }
        out
    }

    /// How this patch's samples become the models' input (`model_input`).
    fn input_scale(&self, reference: Reference) -> InputScale {
        let per_channel = self.channel_reference(reference).map(|m| m.max(1e-4));
        match self.depth {
            // An 8-bit photo's samples are read on quarter steps: one table
            // per channel holds each step's input, the value the division
            // gives.
            Depth::Eight => {
                let lut = crate::srgb::linear_lut_quarter_steps();
                InputScale::Table(Box::new(per_channel.map(|pc| lut.map(|l| l / pc - 1.0))))
            }
            Depth::Sixteen => InputScale::Reference(per_channel),
        }
    }

    /// Appends channel `ch` of the model input for row `y`, columns `xs`.
    fn extend_input_row(
        &self,
        scale: &InputScale,
        ch: usize,
        y: usize,
        xs: std::ops::Range<usize>,
        out: &mut Vec<f32>,
    ) {
        let row = y * self.width as usize;
        let mask = &self.mask[row + xs.start..row + xs.end];
        let rgb = &self.rgb[(row + xs.start) * 3..(row + xs.end) * 3];
        let values = mask.iter().zip(rgb.chunks_exact(3));
        match scale {
            InputScale::Table(tables) => {
                let table = &tables[ch];
                out.extend(values.map(|(&m, px)| {
                    if m {
                        table[crate::srgb::quarter_step(px[ch])]
                    } else {
                        0.0
                    }
                }));
            }
            InputScale::Reference(per_channel) => {
                out.extend(values.map(|(&m, px)| {
                    if m {
                        self.linear(px[ch]) / per_channel[ch] - 1.0
                    } else {
                        0.0
                    }
                }));
            }
        }
    }

    /// Image coordinates of the centres of the canonical pixels marked in
    /// `which` (for drawing them on an overlay).
    pub fn image_points(&self, which: &[bool]) -> Vec<(f32, f32)> {
        let w = self.width;
        (0..which.len())
            .filter(|&k| which[k])
            .map(|k| self.map.apply((k as u32 % w) as f32, (k as u32 / w) as f32))
            .collect()
    }

    /// A copy with the pixels marked in `out` also left out, for a
    /// measurement that reads less of the zone than the others (the models'
    /// input is made anew from the smaller mask when asked for).
    pub fn without(&self, out: &[bool]) -> Self {
        let mut copy = Self {
            width: self.width,
            height: self.height,
            px_per_mm: self.px_per_mm,
            rgb: self.rgb.clone(),
            mask: self.mask.clone(),
            zone: self.zone.clone(),
            surface: self.surface.clone(),
            input: Default::default(),
            map: self.map,
            depth: self.depth,
        };
        copy.exclude(out);
        copy
    }

    /// Leaves out the pixels marked in `out` (e.g. hair).
    pub fn exclude(&mut self, out: &[bool]) {
        self.input = Default::default();
        for (m, &o) in self.mask.iter_mut().zip(out) {
            *m &= !o;
        }
    }

    /// Leaves out pixels at the sensor's limits (any channel ≥ `CLIPPED_FROM`, or luma
    /// ≤ 5): clipped skin carries no colour or texture to measure.
    pub fn exclude_clipped(&mut self) {
        // The models' input depends on the mask.
        self.input = Default::default();
        for i in 0..self.mask.len() {
            let p = &self.rgb[i * 3..i * 3 + 3];
            let luma = crate::srgb::luma_601_f32(p[0], p[1], p[2]);
            if p.iter().any(|&c| c >= CLIPPED_FROM) || luma <= 5.0 {
                self.mask[i] = false;
            }
        }
    }

    /// Linear-light luminance of another photo of the same pose, sampled on
    /// this patch's grid displaced by `shift` (that photo's offset, pixels),
    /// for photometric stereo.
    pub fn luminance_from(&self, pyramid: &Pyramid, shift: (f32, f32)) -> super::relief::Plane {
        let map = Affine {
            tx: self.map.tx + shift.0,
            ty: self.map.ty + shift.1,
            ..self.map
        };
        let mut rgb = vec![0.0f32; (self.width * self.height * 3) as usize];
        pyramid.sample(&map, self.width, self.height, &mut rgb);
        let depth = pyramid.depth();
        let lin = |v| depth.linear(v);
        let data = rgb
            .chunks_exact(3)
            .map(|p| 0.2126 * lin(p[0]) + 0.7152 * lin(p[1]) + 0.0722 * lin(p[2]))
            .collect();
        // Near-white in any channel: the reading is clipped, its brightness
        // unknown.
        let clipped = rgb
            .chunks_exact(3)
            .map(|p| p.iter().any(|&v| v >= CLIPPED_FROM));
        super::relief::Plane::new(self.width as usize, self.height as usize, data).without(clipped)
    }

    pub fn pixel_u8(&self, i: usize) -> [u8; 3] {
        let c = |k: usize| self.rgb[i * 3 + k].round().clamp(0.0, 255.0) as u8;
        [c(0), c(1), c(2)]
    }
}

/// What a model's contract asks of its input: the reference each channel is
/// divided by, and the multiple its height and width must be (the blocks the
/// network reads the image in). A patch whose sides are not is padded with
/// the input outside a zone (0) and the outputs cut back to the patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSpec {
    pub reference: Reference,
    pub multiple: usize,
}

/// Runs the scar model: per-pixel scar probability and depth (mm) below the
/// surrounding skin.
pub fn scar_relief(
    session: &mut Session,
    patch: &CanonicalPatch,
) -> ort::Result<(Vec<f32>, Vec<f32>)> {
    let [prob, depth] = run_on(session, patch, super::scars::INPUT, ["scar", "depth_mm"])?;
    Ok((prob, depth))
}

/// Runs a model on a patch's input and returns the named per-pixel outputs.
fn run_on<const N: usize>(
    session: &mut Session,
    patch: &CanonicalPatch,
    spec: InputSpec,
    names: [&str; N],
) -> ort::Result<[Vec<f32>; N]> {
    let (w, h) = (patch.width as usize, patch.height as usize);
    let m = spec.multiple.max(1);
    let (pw, ph) = (w.next_multiple_of(m), h.next_multiple_of(m));
    let input = patch.model_input(spec.reference);
    let padded;
    let data = if (pw, ph) == (w, h) {
        input
    } else {
        padded = pad_planes(input, (w, h), (pw, ph));
        padded.as_slice()
    };
    let outputs = session.run(ort::inputs![TensorRef::from_array_view((
        [1usize, 3, ph, pw],
        data
    ))?])?;
    let mut out: [Vec<f32>; N] = std::array::from_fn(|_| Vec::new());
    for (o, name) in out.iter_mut().zip(names) {
        let plane = outputs[name].try_extract_tensor::<f32>()?.1;
        *o = if pw == w {
            plane[..w * h].to_vec()
        } else {
            plane
                .chunks_exact(pw)
                .take(h)
                .flat_map(|row| &row[..w])
                .copied()
                .collect()
        };
    }
    Ok(out)
}

/// Planes of `from` (w, h) copied into zero planes of `to` (w, h), top left.
fn pad_planes(input: &[f32], from: (usize, usize), to: (usize, usize)) -> Vec<f32> {
    let mut out = vec![0.0f32; input.len() / (from.0 * from.1).max(1) * to.0 * to.1];
    for (src, dst) in input
        .chunks_exact(from.0 * from.1)
        .zip(out.chunks_exact_mut(to.0 * to.1))
    {
        for (s, d) in src.chunks_exact(from.0).zip(dst.chunks_exact_mut(to.0)) {
            d[..from.0].copy_from_slice(s);
        }
    }
    out
}

/// How a model is run over a large patch: in bands of `band` rows, each
/// cut to the columns that hold measured pixels and split into tiles at
/// most `width` wide (tiles without a measured pixel skipped), each read
/// with `halo` pixels of context on every side that has any. With the halo
/// at least the network's receptive radius and tile origins even (the
/// network halves the resolution once), every output pixel equals the
/// whole-patch run's; what is left out holds no measured pixel (components
/// only count measured pixels). Small tiles also keep the network's
/// activations in cache (docs/performance.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    band: usize,
    width: usize,
    halo: usize,
}

impl Tiling {
    /// `None` unless all three are even and the band and width not empty.
    pub const fn new(band: usize, width: usize, halo: usize) -> Option<Self> {
        if band == 0 || width == 0 || band % 2 != 0 || width % 2 != 0 || halo % 2 != 0 {
            None
        } else {
            Some(Self { band, width, halo })
        }
    }

    /// The cores of the tiles covering `mask` (`w` wide): (x0, y0, x1, y1),
    /// ends exclusive, starts even.
    fn cores(&self, mask: &[bool], w: usize, h: usize) -> Vec<(usize, usize, usize, usize)> {
        let mut out = Vec::new();
        for y0 in (0..h).step_by(self.band) {
            let y1 = (y0 + self.band).min(h);
            let (mut lo, mut hi) = (w, 0);
            for y in y0..y1 {
                let row = &mask[y * w..(y + 1) * w];
                if let Some(first) = row.iter().position(|&m| m) {
                    lo = lo.min(first);
                    hi = hi.max(row.iter().rposition(|&m| m).unwrap_or(first) + 1);
                }
            }
            if lo >= hi {
                continue;
            }
            let lo = lo - lo % 2;
            let hi = (hi + hi % 2).min(w);
            let tiles = (hi - lo).div_ceil(self.width);
            // Equal even widths, so no tile is a sliver.
            let step = ((hi - lo).div_ceil(tiles) + 1) & !1;
            for x0 in (lo..hi).step_by(step) {
                let x1 = (x0 + step).min(hi);
                if (y0..y1).any(|y| mask[y * w + x0..y * w + x1].contains(&true)) {
                    out.push((x0, y0, x1, y1));
                }
            }
        }
        out
    }
}

/// Runs a segmentation model tile by tile (see [`Tiling`]); pixels outside
/// every tile get probability 0.
pub fn probability_tiled(
    session: &mut Session,
    patch: &CanonicalPatch,
    reference: Reference,
    tiling: Tiling,
) -> ort::Result<Vec<f32>> {
    let (w, h) = (patch.width as usize, patch.height as usize);
    let halo = tiling.halo;
    // Each tile's input is made from the patch as the tile needs it (the
    // same values as `model_input`), not from a whole-patch copy.
    let scale = patch.input_scale(reference);
    let mut prob = vec![0.0f32; w * h];
    let mut tile = Vec::new();
    for (cx0, cy0, cx1, cy1) in tiling.cores(&patch.mask, w, h) {
        let (x0, y0) = (cx0.saturating_sub(halo), cy0.saturating_sub(halo));
        let (x1, y1) = ((cx1 + halo).min(w), (cy1 + halo).min(h));
        let (tw, th) = (x1 - x0, y1 - y0);
        tile.clear();
        for ch in 0..3 {
            for y in y0..y1 {
                patch.extend_input_row(&scale, ch, y, x0..x1, &mut tile);
            }
        }
        let outputs = session.run(ort::inputs![TensorRef::from_array_view((
            [1usize, 3, th, tw],
            tile.as_slice()
        ))?])?;
        let out = outputs["prob"].try_extract_tensor::<f32>()?.1;
        for y in cy0..cy1 {
            let from = (y - y0) * tw + (cx0 - x0);
            prob[y * w + cx0..y * w + cx1].copy_from_slice(&out[from..from + (cx1 - cx0)]);
        }
    }
    Ok(prob)
}

/// One connected finding, in canonical pixels.
#[derive(Debug, Clone)]
pub struct Component {
    pub area_px: u32,
    pub centroid: (f32, f32),
    pub pixels: Vec<u32>,
}

/// Runs a segmentation model (probability per pixel) on a patch, its input
/// divided by the reference the model was trained with.
pub fn probability(
    session: &mut Session,
    patch: &CanonicalPatch,
    spec: InputSpec,
) -> ort::Result<Vec<f32>> {
    let [prob] = run_on(session, patch, spec, ["prob"])?;
    Ok(prob)
}

/// 8-connected components of `prob > threshold` inside the mask.
pub fn components(
    prob: &[f32],
    mask: &[bool],
    width: u32,
    height: u32,
    threshold: f32,
) -> Vec<Component> {
    let (w, h) = (width as i64, height as i64);
    let on = |i: usize| mask[i] && prob[i] > threshold;
    let mut seen = vec![false; prob.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..prob.len() {
        if seen[start] || !on(start) {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut pixels = Vec::new();
        let (mut sx, mut sy) = (0.0f64, 0.0f64);
        while let Some(i) = stack.pop() {
            pixels.push(i as u32);
            let (x, y) = ((i as i64) % w, (i as i64) / w);
            sx += x as f64;
            sy += y as f64;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w || ny >= h {
                        continue;
                    }
                    let j = (ny * w + nx) as usize;
                    if !seen[j] && on(j) {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let n = pixels.len() as f64;
        out.push(Component {
            area_px: pixels.len() as u32,
            centroid: ((sx / n) as f32 + 0.5, (sy / n) as f32 + 0.5),
            pixels,
        });
    }
    out
}

/// 8-connected pieces of the set pixels of `on` inside the mask.
pub fn pieces(on: &[bool], mask: &[bool], width: u32, height: u32) -> Vec<Component> {
    let as_prob: Vec<f32> = on.iter().map(|&o| f32::from(u8::from(o))).collect();
    components(&as_prob, mask, width, height, 0.5)
}

/// The pixels of `on` (inside the mask) in the pieces `keep` accepts.
pub fn pieces_where(
    on: &[bool],
    mask: &[bool],
    width: u32,
    height: u32,
    keep: impl Fn(&Component) -> bool,
) -> Vec<bool> {
    let mut kept = vec![false; on.len()];
    for c in pieces(on, mask, width, height)
        .into_iter()
        .filter(|c| keep(c))
    {
        for p in c.pixels {
            kept[p as usize] = true;
        }
    }
    kept
}

/// Sums over the (2r+1)² box around each pixel, zero outside the map
/// (separable prefix sums).
pub fn box_sum(src: &[f64], w: usize, h: usize, r: usize) -> Vec<f64> {
    let mut tmp = vec![0.0f64; src.len()];
    let mut prefix = vec![0.0f64; w + 1];
    for y in 0..h {
        for x in 0..w {
            prefix[x + 1] = prefix[x] + src[y * w + x];
        }
        for x in 0..w {
            tmp[y * w + x] = prefix[(x + r + 1).min(w)] - prefix[x.saturating_sub(r)];
        }
    }
    // Down the columns, row by row (a column at a time strides through
    // memory): row k of `columns` holds each column's sum over rows 0..k,
    // added in the same order as a running sum down that column.
    let mut columns = vec![0.0f64; (h + 1) * w];
    for y in 0..h {
        let (above, below) = columns.split_at_mut((y + 1) * w);
        let (prev, row) = (&above[y * w..], &mut below[..w]);
        for ((c, &p), &t) in row.iter_mut().zip(prev).zip(&tmp[y * w..(y + 1) * w]) {
            *c = p + t;
        }
    }
    let mut out = vec![0.0f64; src.len()];
    for (y, row) in out.chunks_exact_mut(w.max(1)).enumerate().take(h) {
        let hi = &columns[(y + r + 1).min(h) * w..][..w];
        let lo = &columns[y.saturating_sub(r) * w..][..w];
        for ((o, &a), &b) in row.iter_mut().zip(hi).zip(lo) {
            *o = a - b;
        }
    }
    out
}

/// Means over the (2r+1)² box around each pixel of each of `values`, taken
/// over the pixels in `mask` only, with how many there were (mean 0 where
/// none).
pub fn masked_box_means<const N: usize>(
    values: [&[f64]; N],
    mask: &[bool],
    w: usize,
    h: usize,
    r: usize,
) -> (Vec<f64>, [Vec<f64>; N]) {
    let inside: Vec<f64> = mask.iter().map(|&m| f64::from(u8::from(m))).collect();
    let count = box_sum(&inside, w, h, r);
    let means = values.map(|v| {
        let masked: Vec<f64> = v
            .iter()
            .zip(mask)
            .map(|(&x, &m)| if m { x } else { 0.0 })
            .collect();
        box_sum(&masked, w, h, r)
            .into_iter()
            .zip(&count)
            .map(|(s, &n)| if n > 0.0 { s / n } else { 0.0 })
            .collect()
    });
    (count, means)
}

/// Standard deviation by the median absolute deviation (robust to the
/// findings themselves).
pub fn robust_sd(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    let mid = s.len() / 2;
    let median = *s.select_nth_unstable_by(mid, f64::total_cmp).1;
    let mut dev: Vec<f64> = s.iter().map(|x| (x - median).abs()).collect();
    let mad = *dev.select_nth_unstable_by(mid, f64::total_cmp).1;
    1.4826 * mad
}

/// Longer over shorter axis of a set of pixels (second moments).
pub fn elongation(pixels: &[u32], w: u32) -> f64 {
    let n = pixels.len() as f64;
    let (mut sx, mut sy) = (0.0, 0.0);
    for &i in pixels {
        sx += f64::from(i % w);
        sy += f64::from(i / w);
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0);
    for &i in pixels {
        let (dx, dy) = (f64::from(i % w) - mx, f64::from(i / w) - my);
        xx += dx * dx;
        yy += dy * dy;
        xy += dx * dy;
    }
    let (xx, yy, xy) = (xx / n + 1.0 / 12.0, yy / n + 1.0 / 12.0, xy / n);
    let half_trace = (xx + yy) / 2.0;
    let root = (((xx - yy) / 2.0).powi(2) + xy * xy).sqrt();
    ((half_trace + root) / (half_trace - root).max(1e-9)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_sums_match_the_sum_over_each_box() {
        let mut state = 7u32;
        for (w, h, r) in [(1, 1, 1), (7, 5, 1), (5, 9, 2), (13, 4, 6), (4, 13, 20)] {
            let src: Vec<f64> = (0..w * h)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    f64::from(state >> 8) / f64::from(1u32 << 24)
                })
                .collect();
            let sums = box_sum(&src, w, h, r);
            for y in 0..h {
                for x in 0..w {
                    let mut want = 0.0;
                    for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                        for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                            want += src[yy * w + xx];
                        }
                    }
                    let got = sums[y * w + x];
                    assert!(
                        (got - want).abs() < 1e-9,
                        "{w}x{h} r{r} at ({x}, {y}): {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn components_are_eight_connected_and_masked() {
        // 4x3: a diagonal pair (one component) and an isolated pixel outside the mask.
        let prob = [0.9, 0.0, 0.0, 0.9, 0.0, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let mut mask = [true; 12];
        mask[3] = false;
        let c = components(&prob, &mask, 4, 3, 0.5);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].area_px, 2);
        assert!((c[0].centroid.0 - 1.0).abs() < 1e-6 && (c[0].centroid.1 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn only_pieces_of_the_minimum_area_are_kept() {
        // 4x3: a piece of three pixels, a lone pixel, and a pixel outside the mask.
        let on = [
            true, true, false, true, true, false, false, false, false, false, false, true,
        ];
        let mut mask = [true; 12];
        mask[11] = false;
        let kept = pieces_where(&on, &mask, 4, 3, |c| c.area_px >= 2);
        let expected = [
            true, true, false, false, true, false, false, false, false, false, false, false,
        ];
        assert_eq!(kept, expected);
    }

    /// A 1-pixel-high patch holding `values` in every channel.
    fn strip(values: &[f32]) -> CanonicalPatch {
        let n = values.len();
        CanonicalPatch {
            width: n as u32,
            height: 1,
            px_per_mm: 4.0,
            rgb: values.iter().flat_map(|&v| [v; 3]).collect(),
            mask: vec![true; n],
            zone: vec![true; n],
            surface: Vec::new(),
            input: Default::default(),
            depth: Depth::Eight,
            map: Affine {
                a: 1.0,
                b: 0.0,
                c: 0.0,
                d: 1.0,
                tx: 0.0,
                ty: 0.0,
            },
        }
    }

    /// A `w`×`h` patch of mottled skin with pore-like dark dots, measured
    /// inside an ellipse: a zone-like shape that leaves its corners out.
    fn textured_ellipse(w: u32, h: u32) -> CanonicalPatch {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut noise = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 1000) as f32 / 1000.0
        };
        let (mut rgb, mut mask) = (Vec::new(), Vec::new());
        for y in 0..h {
            for x in 0..w {
                let dot = (x % 23 < 4 && y % 19 < 4) as u8 as f32;
                let v = 150.0 + 20.0 * noise() - 60.0 * dot;
                rgb.extend([v, v * 0.8, v * 0.7]);
                let (dx, dy) = (
                    (x as f32 - w as f32 / 2.0) / (w as f32 / 2.0),
                    (y as f32 - h as f32 / 2.0) / (h as f32 / 2.0),
                );
                mask.push(dx * dx + dy * dy < 0.9);
            }
        }
        let mut p = strip(&[0.0]);
        (p.width, p.height, p.rgb, p.zone, p.mask) = (w, h, rgb, mask.clone(), mask);
        p
    }

    #[test]
    fn padded_planes_keep_each_channel_top_left_and_zero_the_rest() {
        // Two 3×2 planes into 4×4.
        let input: Vec<f32> = (1..=12).map(|v| v as f32).collect();
        let out = pad_planes(&input, (3, 2), (4, 4));
        assert_eq!(out.len(), 32);
        assert_eq!(&out[0..4], &[1.0, 2.0, 3.0, 0.0]);
        assert_eq!(&out[4..8], &[4.0, 5.0, 6.0, 0.0]);
        assert!(out[8..16].iter().all(|&v| v == 0.0));
        assert_eq!(&out[16..20], &[7.0, 8.0, 9.0, 0.0]);
        assert_eq!(&out[20..24], &[10.0, 11.0, 12.0, 0.0]);
    }

    #[test]
    fn tiles_cover_every_measured_pixel_from_even_origins() {
        let p = textured_ellipse(700, 450);
        let tiling = Tiling::new(160, 320, 16).unwrap();
        let (w, h) = (700usize, 450usize);
        let cores = tiling.cores(&p.mask, w, h);
        let mut covered = vec![false; w * h];
        for &(x0, y0, x1, y1) in &cores {
            assert!(x0 % 2 == 0 && y0 % 2 == 0 && x1 <= w && y1 <= h && x1 - x0 <= 320);
            for y in y0..y1 {
                covered[y * w + x0..y * w + x1].fill(true);
            }
        }
        assert!(p.mask.iter().zip(&covered).all(|(&m, &c)| !m || c));
        // The ellipse's corners are left out.
        assert!(
            cores
                .iter()
                .map(|c| (c.2 - c.0) * (c.3 - c.1))
                .sum::<usize>()
                < w * h
        );
        assert!(Tiling::new(160, 321, 16).is_none() && Tiling::new(160, 320, 15).is_none());
    }

    /// Tiled, the pore model gives the whole-zone output at every measured
    /// pixel (the halo covers its receptive field).
    #[test]
    fn the_tiled_pore_model_matches_the_whole_zone_run() {
        let dir = crate::models::locate_dir(None).expect("models/");
        let models = crate::models::VerifiedModels::load(
            &dir,
            &[crate::models::ModelName::PoreSegmentation],
        )
        .expect("pore model");
        let (mut session, _) = models
            .session(
                crate::models::ModelName::PoreSegmentation,
                crate::runtime::Device::Cpu,
            )
            .expect("session");
        let p = textured_ellipse(700, 450);
        let whole = probability(&mut session, &p, super::super::pores::INPUT).unwrap();
        let tiled = probability_tiled(
            &mut session,
            &p,
            Reference::Median,
            super::super::pores::TILING,
        )
        .unwrap();
        let worst = (0..whole.len())
            .filter(|&i| p.mask[i])
            .map(|i| (whole[i] - tiled[i]).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "tiled differs by {worst}");
        assert!(
            whole.iter().zip(&p.mask).any(|(&v, &m)| m && v > 0.5),
            "the dots are found"
        );
    }

    #[test]
    fn references_are_the_median_and_the_mean_of_the_middle_half() {
        let lin = crate::srgb::linear_of_sample;
        // Eight values: ranks 2..6 (the middle half) are 30, 40, 50, 60.
        let p = strip(&[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 200.0]);
        let median = p.channel_reference(Reference::Median)[0];
        assert_eq!(median, lin(40.0), "the lower median");
        let iqm = p.channel_reference(Reference::InterquartileMean)[0];
        let want = (lin(30.0) + lin(40.0) + lin(50.0) + lin(60.0)) / 4.0;
        assert!((iqm - want).abs() < 1e-6, "{iqm} vs {want}");
    }

    /// A 16-bit photo's reference is taken at each pixel's own value: the
    /// quarter-step table would put 60.05 and 60.1 on one step.
    #[test]
    fn a_deep_patch_takes_its_reference_at_full_precision() {
        let exact = |v: f32| crate::srgb::to_linear(f64::from(v) / 255.0) as f32;
        let values = [60.1f32, 60.2, 60.3, 60.4, 60.5, 60.6, 60.7, 200.0];
        let mut p = strip(&values);
        p.depth = Depth::Sixteen;
        let iqm = p.channel_reference(Reference::InterquartileMean)[0];
        let want = (exact(60.3) + exact(60.4) + exact(60.5) + exact(60.6)) / 4.0;
        assert!((iqm - want).abs() < 1e-7, "{iqm} vs {want}");
        assert_eq!(p.channel_reference(Reference::Median)[0], exact(60.4));
        assert_ne!(p.linear(60.05), p.linear(60.1));
        p.depth = Depth::Eight;
        assert_eq!(p.linear(60.05), p.linear(60.1));
    }

    #[test]
    fn the_interquartile_mean_moves_smoothly_where_the_median_jumps() {
        // Half the pixels at 60, half at 61: nudging one pixel from 60 to 61
        // makes the median jump a whole level, the interquartile mean a
        // sixteenth of one.
        let mut values = vec![60.0f32; 32];
        values[16..].fill(61.0);
        let before = strip(&values);
        values[15] = 61.0;
        let after = strip(&values);
        let step = |r| after.channel_reference(r)[0] / before.channel_reference(r)[0] - 1.0;
        let lin = crate::srgb::linear_of_sample;
        let level = lin(61.0) / lin(60.0) - 1.0;
        assert!((step(Reference::Median) - level).abs() < 1e-6);
        assert!(step(Reference::InterquartileMean) < level / 8.0);
    }

    #[test]
    fn areas_count_the_skin_each_pixel_covers() {
        let mut patch = strip(&[100.0; 4]);
        // 16 px/mm² per mm²: four pixels facing the camera are 0.25 mm².
        assert!((patch.area_mm2() - 0.25).abs() < 1e-12);
        // The last two turned 60° from the camera cover twice the skin.
        patch.surface = vec![1.0, 1.0, 2.0, 2.0];
        assert!((patch.area_mm2() - 6.0 / 16.0).abs() < 1e-9);
        assert!((patch.pixels_mm2(&[2, 3]) - 4.0 / 16.0).abs() < 1e-9);
        assert_eq!(patch.surface_factor(3), 2.0);
        patch.mask[3] = false;
        assert!((patch.area_mm2() - 4.0 / 16.0).abs() < 1e-9);
    }
}
