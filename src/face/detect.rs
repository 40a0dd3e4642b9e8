//! BlazeFace detection (MediaPipe short- and full-range models): letterbox,
//! run, decode against SSD anchors, weighted non-maximum suppression.

use super::warp::{Affine, Pyramid};
use ort::session::Session;
use ort::value::TensorRef;

/// A detected face in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub score: f32,
    /// Box centre and size, image pixels.
    pub cx: f32,
    pub cy: f32,
    pub w: f32,
    pub h: f32,
    /// Right eye, left eye, nose tip, mouth, right ear, left ear (subject's sides).
    pub keypoints: [(f32, f32); 6],
}

impl Detection {
    pub fn area(&self) -> f32 {
        self.w * self.h
    }
}

/// Which detector found the face.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    ShortRange,
    FullRange,
}

impl DetectorKind {
    fn input_size(self) -> u32 {
        match self {
            Self::ShortRange => 128,
            Self::FullRange => 192,
        }
    }

    /// Anchor centres in normalised input coordinates, in model output order.
    fn anchors(self) -> Vec<(f32, f32)> {
        // (grid size, anchors per cell): short range merges strides 8,16,16,16.
        let layout: &[(u32, u32)] = match self {
            Self::ShortRange => &[(16, 2), (8, 6)],
            Self::FullRange => &[(48, 1)],
        };
        let mut out = Vec::new();
        for &(grid, per_cell) in layout {
            for y in 0..grid {
                for x in 0..grid {
                    for _ in 0..per_cell {
                        out.push((
                            (x as f32 + 0.5) / grid as f32,
                            (y as f32 + 0.5) / grid as f32,
                        ));
                    }
                }
            }
        }
        out
    }
}

pub const MIN_SCORE: f32 = 0.5;
const NMS_IOU: f32 = 0.3;

/// Runs one detector on the whole image; detections sorted by score.
pub fn detect(
    session: &mut Session,
    kind: DetectorKind,
    pyramid: &Pyramid,
) -> ort::Result<Vec<Detection>> {
    detect_turned(session, kind, pyramid, 0, MIN_SCORE)
}

/// [`detect`] on the image turned clockwise by `quarters` quarter turns
/// (read through the sampling map; nothing is copied), keeping detections
/// scored at least `min_score`. Boxes are in the turned image's pixels.
pub fn detect_turned(
    session: &mut Session,
    kind: DetectorKind,
    pyramid: &Pyramid,
    quarters: u8,
    min_score: f32,
) -> ort::Result<Vec<Detection>> {
    let size = kind.input_size();
    let img = pyramid.base();
    let (width, height) = if quarters % 2 == 1 {
        (img.height(), img.width())
    } else {
        img.dimensions()
    };
    let side = width.max(height) as f32;
    // Letterbox: the image centred in a square of `side`, padded with black.
    let pad_x = (side - width as f32) / 2.0;
    let pad_y = (side - height as f32) / 2.0;
    let s = side / size as f32;
    let map = Affine {
        a: s,
        b: 0.0,
        c: 0.0,
        d: s,
        tx: 0.5 * s - pad_x,
        ty: 0.5 * s - pad_y,
    }
    .from_turned(quarters, img.width(), img.height());
    let mut input = vec![0.0f32; (size * size * 3) as usize];
    pyramid.sample(&map, size, size, &mut input);
    // Lighting-normalised as the mesh and iris crops are: the box seeds the
    // mesh crop, so a box that moved with exposure moved every landmark.
    let gains = super::lighting::Gains::from_crop(&input, size as usize);
    gains.apply(&mut input, 2.0, -1.0);

    let outputs = session.run(ort::inputs![TensorRef::from_array_view((
        [1usize, size as usize, size as usize, 3],
        &*input
    ))?])?;
    let (_, regressors) = outputs[0].try_extract_tensor::<f32>()?;
    let (_, logits) = outputs[1].try_extract_tensor::<f32>()?;

    let anchors = kind.anchors();
    let scale = size as f32;
    let to_image = |nx: f32, ny: f32| (nx * side - pad_x, ny * side - pad_y);
    let mut raw = Vec::new();
    for (i, &(ax, ay)) in anchors.iter().enumerate() {
        let Some(&logit) = logits.get(i) else { break };
        let score = 1.0 / (1.0 + (-logit.clamp(-80.0, 80.0)).exp());
        if score < min_score {
            continue;
        }
        let r = &regressors[i * 16..i * 16 + 16];
        let (cx, cy) = to_image(r[0] / scale + ax, r[1] / scale + ay);
        let mut keypoints = [(0.0, 0.0); 6];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = to_image(r[4 + 2 * k] / scale + ax, r[5 + 2 * k] / scale + ay);
        }
        raw.push(Detection {
            score,
            cx,
            cy,
            w: r[2] / scale * side,
            h: r[3] / scale * side,
            keypoints,
        });
    }
    Ok(weighted_nms(raw))
}

fn iou(a: &Detection, b: &Detection) -> f32 {
    let ix = ((a.cx + a.w / 2.0).min(b.cx + b.w / 2.0) - (a.cx - a.w / 2.0).max(b.cx - b.w / 2.0))
        .max(0.0);
    let iy = ((a.cy + a.h / 2.0).min(b.cy + b.h / 2.0) - (a.cy - a.h / 2.0).max(b.cy - b.h / 2.0))
        .max(0.0);
    let inter = ix * iy;
    let union = a.area() + b.area() - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// MediaPipe's weighted NMS: overlapping detections are averaged, weighted
/// by score, which steadies the box and keypoints.
pub fn weighted_nms(mut dets: Vec<Detection>) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while !dets.is_empty() {
        let top = dets[0].clone();
        let (group, rest): (Vec<_>, Vec<_>) =
            dets.into_iter().partition(|d| iou(&top, d) > NMS_IOU);
        dets = rest;
        let total: f32 = group.iter().map(|d| d.score).sum();
        let mut merged = top.clone();
        if total > 0.0 && group.len() > 1 {
            let avg = |f: &dyn Fn(&Detection) -> f32| {
                group.iter().map(|d| f(d) * d.score).sum::<f32>() / total
            };
            merged.cx = avg(&|d| d.cx);
            merged.cy = avg(&|d| d.cy);
            merged.w = avg(&|d| d.w);
            merged.h = avg(&|d| d.h);
            for k in 0..6 {
                merged.keypoints[k] = (avg(&|d| d.keypoints[k].0), avg(&|d| d.keypoints[k].1));
            }
        }
        out.push(merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_counts_match_model_outputs() {
        assert_eq!(DetectorKind::ShortRange.anchors().len(), 896);
        assert_eq!(DetectorKind::FullRange.anchors().len(), 2304);
    }

    fn det(score: f32, cx: f32) -> Detection {
        Detection {
            score,
            cx,
            cy: 0.0,
            w: 10.0,
            h: 10.0,
            keypoints: [(cx, 0.0); 6],
        }
    }

    #[test]
    fn nms_merges_overlaps_and_keeps_separate_faces() {
        let out = weighted_nms(vec![det(0.9, 0.0), det(0.6, 1.0), det(0.8, 100.0)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        assert!(
            out[0].cx > 0.0 && out[0].cx < 0.5,
            "weighted towards the stronger box"
        );
        assert_eq!(out[1].cx, 100.0);
    }
}
