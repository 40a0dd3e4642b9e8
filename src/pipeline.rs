//! The pipeline for one photo (ingest → face → scale → zones → quality →
//! record) and for a batch: rayon over photos, one set of ONNX sessions per
//! worker, so memory grows with workers, not with the batch.

use crate::error::{ErrorCode, InputError, SetupError};
use crate::face::warp::Pyramid;
use crate::face::{self, FaceGeometry, FaceModels};
use crate::ingest::{self, DecodeLimits, InputInfo, InputItem, Photo};
use crate::measure::{self, Measurements, SkinModels};
use crate::memory;
use crate::models::{self, ModelName, VerifiedModels};
use crate::quality::{self, Thresholds};
use crate::report::{
    overlay, sink, BoxPx, ErrorInfo, EyeState, FaceReport, ImageRecord, ModelRef, OverlayFile,
    OverlayKind, RunInfo, Status, SummaryRecord, Timing, ToolInfo, SCHEMA_VERSION,
};
use crate::runtime::{self, Device};
use crate::scale::{self, Scale, EYE_OPEN_MIN};
use crate::units::PxPerMm;
use crate::zones;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// Smallest pyramid level the crops may read from.
const PYRAMID_MIN_SIDE: u32 = 64;
/// Clockwise quarter turns, one after another, with which a lone photo is
/// looked at again when the detector finds no face in it (stored upside
/// down or sideways): half a turn first, then the two quarter turns.
const FACE_SEARCH_TURNS: [u8; 3] = [2, 1, 2];

/// Turns taken from the face's roll, at most: the mesh's roll on a face
/// lying sideways is rough, so a second look may finish the turn.
const MAX_ROLL_TURNS: u8 = 2;

/// The turns to look again with (`FACE_SEARCH_TURNS`), or none where a
/// photo may not be turned (a sitting's or capture set's, a close-up).
fn face_search_turns(may_turn: bool) -> std::slice::Iter<'static, u8> {
    if may_turn {
        &FACE_SEARCH_TURNS[..]
    } else {
        &[]
    }
    .iter()
}

/// The next turn of `search`, added up from the photo as `pyramid` holds
/// it, in which the face detector sees a face; `None` once the turns run
/// out. The photo is turned (a copy of the whole photo) only for a turn
/// worth measuring.
fn next_turn_with_a_face(
    models: &mut face::FaceModels,
    pyramid: &Pyramid,
    search: &mut std::slice::Iter<'static, u8>,
) -> Result<Option<u8>, InputError> {
    let mut quarters = 0u8;
    for &step in search.by_ref() {
        quarters = (quarters + step) % 4;
        if face::detector_sees_face_turned(models, pyramid, quarters)? {
            return Ok(Some(quarters));
        }
    }
    Ok(None)
}

#[derive(Clone)]
pub struct Options {
    /// Overrides the face-based scale (e.g. a booth's calibration).
    pub px_per_mm: Option<PxPerMm>,
    pub device: Device,
    pub limits: DecodeLimits,
    pub thresholds: Thresholds,
    /// Models directory; found automatically when `None`.
    pub models_dir: Option<PathBuf>,
    /// Where overlay PNGs go (`DIR/overlays/`); none when `None`.
    pub output_dir: Option<PathBuf>,
    pub overlays: bool,
    /// The overlays' longest side, pixels (the region around the face, or
    /// the whole photo, is never enlarged).
    pub overlay_max_side: u32,
    /// Include the 468 landmarks in each record.
    pub landmarks: bool,
    /// Close-up mode: no face; the whole frame, or the mask's non-zero
    /// pixels, is one zone named `patch`. Needs `px_per_mm`.
    pub patch: Option<PatchOptions>,
    /// Replace patient ids by keyed hashes everywhere in the output.
    pub pseudonymiser: Option<std::sync::Arc<crate::report::pseudonym::Pseudonymiser>>,
    /// A batch's peak memory target, MiB ([`crate::memory`]); `None`: no
    /// limit beyond the worker count.
    pub memory_budget_mib: Option<u64>,
}

/// The CLI's defaults, so that a library user's run behaves as
/// `dermascore analyze` does (a 1 GiB memory budget included).
impl Default for Options {
    fn default() -> Self {
        Self {
            px_per_mm: None,
            device: Device::default(),
            limits: DecodeLimits::default(),
            thresholds: Thresholds::default(),
            models_dir: None,
            output_dir: None,
            overlays: false,
            overlay_max_side: overlay::MAX_SIDE,
            landmarks: false,
            patch: None,
            pseudonymiser: None,
            memory_budget_mib: Some(crate::memory::DEFAULT_BUDGET_MIB),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PatchOptions {
    /// A mask image of the same size as every photo (non-zero = skin to measure).
    pub mask: Option<PathBuf>,
}

/// A visit's pictures for reports.
pub struct VisitPictures {
    pub overlay_png: Vec<u8>,
    /// The height map of a multi-light capture set (`OverlayKind::Relief`).
    pub relief_png: Option<Vec<u8>>,
    pub zone_crops: Vec<(zones::ZoneName, image::RgbImage)>,
}

/// The ONNX sessions one worker needs.
pub struct WorkerModels {
    pub face: FaceModels,
    pub skin: SkinModels,
    /// Threads the pore session runs a model call on.
    pub threads: usize,
}

pub struct Analyzer {
    options: Options,
    models: VerifiedModels,
    model_refs: Vec<ModelRef>,
    device: Device,
    idle: Mutex<Vec<WorkerModels>>,
    /// Threads per pore session for the batch in progress (see `run_batch`).
    session_threads: std::sync::atomic::AtomicUsize,
    patch_mask: Option<image::GrayImage>,
}

impl Analyzer {
    /// Loads ONNX Runtime and verifies every model; builds the first set of
    /// sessions now so that a broken setup fails before any photo is read.
    pub fn new(options: Options) -> Result<Self, SetupError> {
        runtime::init()?;
        let dir = models::locate_dir(options.models_dir.as_deref())?;
        let models = VerifiedModels::load(&dir, &ModelName::ALL)?;
        let (first, device) = build_sessions(&models, options.device, 1)?;
        let patch_mask = match options.patch.as_ref().and_then(|p| p.mask.as_ref()) {
            Some(path) => Some(
                image::open(path)
                    .map_err(|e| SetupError::Input {
                        path: path.clone(),
                        reason: format!("patch mask: {e}"),
                    })?
                    .into_luma8(),
            ),
            None => None,
        };
        if options.patch.is_some() && options.px_per_mm.is_none() {
            return Err(SetupError::Input {
                path: PathBuf::new(),
                reason: "--patch needs --px-per-mm (a close-up has no face to take a scale from)"
                    .into(),
            });
        }
        if let Some(out) = &options.output_dir {
            if options.overlays {
                std::fs::create_dir_all(out.join("overlays")).map_err(|e| SetupError::Output {
                    path: out.join("overlays"),
                    reason: e.to_string(),
                })?;
            }
        }
        Ok(Self {
            model_refs: models.refs(),
            models,
            device,
            idle: Mutex::new(vec![first]),
            session_threads: 1.into(),
            options,
            patch_mask,
        })
    }

    /// The device inference actually runs on (after any CUDA fallback).
    pub fn device(&self) -> Device {
        self.device
    }

    pub fn model_refs(&self) -> &[ModelRef] {
        &self.model_refs
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.options.thresholds
    }

    pub fn limits(&self) -> &DecodeLimits {
        &self.options.limits
    }

    /// The input path as records show it (pseudonymised when asked).
    pub fn record_path(&self, item: &InputItem) -> String {
        self.shown_path(&item.path, item)
    }

    /// Any path of `item`'s (e.g. a capture set's other photos) as records
    /// show it.
    fn shown_path(&self, path: &Path, item: &InputItem) -> String {
        let path = path.display().to_string();
        match &self.options.pseudonymiser {
            Some(p) => p.path(
                &path,
                item.subject.as_ref().and_then(|s| s.patient_id.as_deref()),
            ),
            None => path,
        }
    }

    /// Applies pseudonymisation to a finished record.
    fn finish(&self, mut rec: ImageRecord, item: &InputItem) -> ImageRecord {
        rec.input.path = self.record_path(item);
        if let (Some(p), Some(subject)) = (&self.options.pseudonymiser, rec.subject.as_mut()) {
            if let Some(id) = subject.patient_id.take() {
                subject.patient_id = Some(p.pseudonym(&id));
            }
        }
        rec
    }

    /// A fresh set of face sessions on this analyzer's device (benchmarks,
    /// callers driving [`face::analyse`] themselves).
    pub fn face_models(&self) -> Result<FaceModels, SetupError> {
        build_sessions(&self.models, self.options.device, 1).map(|(m, _)| m.face)
    }

    fn checkout(&self) -> Result<WorkerModels, SetupError> {
        let threads = self
            .session_threads
            .load(std::sync::atomic::Ordering::Relaxed);
        let reused = self.idle.lock().ok().and_then(|mut v| {
            // Sessions made for another thread count are dropped, not reused.
            v.retain(|m| m.threads == threads);
            v.pop()
        });
        match reused {
            Some(m) => Ok(m),
            None => build_sessions(&self.models, self.options.device, threads).map(|(m, _)| m),
        }
    }

    fn checkin(&self, m: WorkerModels) {
        if let Ok(mut v) = self.idle.lock() {
            v.push(m);
        }
    }

    fn record(&self, input: InputInfo, subject: Option<ingest::Subject>) -> ImageRecord {
        ImageRecord {
            schema_version: SCHEMA_VERSION.into(),
            status: Status::Ok,
            error: None,
            input,
            subject,
            quality: None,
            scale: None,
            face: None,
            zones: Vec::new(),
            pores: None,
            pigmentation: None,
            acne_scars: None,
            session: None,
            overlays: Vec::new(),
            plan: None,
            models: self.model_refs.clone(),
            tool: ToolInfo::current(),
            timing: Timing::default(),
        }
    }

    /// Analyses one photo. Never fails: problems become an error record.
    pub fn analyze(&self, index: usize, item: &InputItem) -> ImageRecord {
        let rec = match &item.session {
            Some(session) => self.analyze_session(index, item, session),
            None => self.analyze_unfinished(index, item, None),
        };
        self.finish(rec, item)
    }

    fn analyze_unfinished(
        &self,
        index: usize,
        item: &InputItem,
        role: Option<&Role>,
    ) -> ImageRecord {
        let start = Instant::now();
        let mut info = InputInfo {
            index: index as u64,
            ..InputInfo::unread(&item.path)
        };
        let loaded = ingest::load(&item.path, &self.options.limits, &mut info);
        let mut rec = self.record(info, item.subject.clone());
        rec.timing.decode_ms = ms(start);
        let photo = match loaded {
            Ok(photo) => photo,
            Err(err) => return self.failed(rec, err, start),
        };
        let photo = colour_corrected(photo, role.and_then(|r| r.colour_matrix));
        let (photo, loaded) = self.averaged_set(photo, item);
        rec.timing.decode_ms = ms(start);
        self.analyze_pixels(photo, index, item, rec, start, role, loaded)
    }

    /// One member's own scale, and whether its skin shows colour: decode,
    /// face, scale, the light check.
    fn member_scale(
        &self,
        member: &InputItem,
        colour_matrix: Option<[[f64; 3]; 3]>,
    ) -> Result<(Scale, quality::Light, Placement), InputError> {
        let mut info = InputInfo::unread(&member.path);
        let photo = ingest::load(&member.path, &self.options.limits, &mut info)?;
        let photo = colour_corrected(photo, colour_matrix);
        let pyramid = Pyramid::of(&photo, PYRAMID_MIN_SIDE);
        let mut models = self
            .checkout()
            .map_err(|e| InputError::new(ErrorCode::InferenceFailed, e.to_string()))?;
        let result = self.face_geometry(&mut models.face, &pyramid);
        self.checkin(models);
        let (face, scale, zone_masks) = result?;
        let skin = quality::skin_stats(pyramid.base(), &zone_masks);
        Ok((
            scale,
            quality::Light::judge(member.modality, &skin),
            Placement::of(&face.landmarks),
        ))
    }

    /// A sitting's photos as one record: one scale for all of them (the
    /// device's, or the members' own estimates combined), colour concerns
    /// read from the cross-polarised (else standard) photo, pores from the
    /// parallel-polarised (else standard) one.
    fn analyze_session(
        &self,
        index: usize,
        item: &InputItem,
        session: &ingest::Session,
    ) -> ImageRecord {
        use crate::capture::Modality;
        let start = Instant::now();
        // A lone photo at a given scale has nothing to combine or choose
        // between: it is not decoded twice.
        let estimate = session.members.len() > 1
            || (self.options.px_per_mm.is_none() && session.device_px_per_mm.is_none());
        type Checked = Option<Result<(Scale, quality::Light, Placement), InputError>>;
        let checked: Vec<Checked> = session
            .members
            .iter()
            .map(|m| estimate.then(|| self.member_scale(m, session.device_colour_matrix)))
            .collect();
        let own: Vec<Result<Scale, InputError>> = checked
            .iter()
            .map(|c| match c {
                Some(r) => r.as_ref().map(|(s, _, _)| s.clone()).map_err(Clone::clone),
                None => Ok(Scale::none("not estimated: the scale was given")),
            })
            .collect();
        // Every measurement's models were trained and validated on colour
        // photos: a member without skin colour gives none.
        let in_colour = |m: &InputItem| {
            session.members.iter().zip(&checked).any(|(x, c)| {
                x.path == m.path && matches!(c, Some(Ok((_, l, _))) if l.shows_skin_colour)
            })
        };
        let usable = |m: &&InputItem| m.modality.unwrap_or(Modality::Standard).shows_colour();
        let colour = crate::session::member_for(session, &crate::session::COLOUR_FROM)
            .filter(|m| in_colour(m))
            .or_else(|| session.members.iter().find(|m| usable(m) && in_colour(m)))
            .unwrap_or(item);
        // Photos that do not show the colour photo's face in its place are
        // not of this sitting (another day, another person, a head that
        // moved): nothing is read from them, and they give no scale.
        let placement = |m: &InputItem| {
            session
                .members
                .iter()
                .zip(&checked)
                .find(|(x, _)| x.path == m.path)
                .and_then(|(_, c)| c.as_ref()?.as_ref().ok())
                .map(|(_, _, p)| p)
        };
        let misplaced: Vec<(PathBuf, String)> = match placement(colour) {
            Some(reference) => session
                .members
                .iter()
                // Only photos something is read from: the mesh reads a UV
                // or greyscale image less exactly, and nothing comes from it.
                .filter(|m| m.path != colour.path && in_colour(m))
                .filter_map(|m| Some((m.path.clone(), reference.differs(placement(m)?)?)))
                .collect(),
            None => Vec::new(),
        };
        let fits = |m: &InputItem| !misplaced.iter().any(|(p, _)| *p == m.path);
        let own: Vec<Result<Scale, InputError>> = session
            .members
            .iter()
            .zip(own)
            .map(
                |(m, s)| match misplaced.iter().find(|(p, _)| *p == m.path) {
                    None => s,
                    Some((_, why)) => Err(InputError::new(
                        ErrorCode::InferenceFailed,
                        format!(
                            "not read: not one sitting with {}: {why}",
                            self.record_path(colour)
                        ),
                    )),
                },
            )
            .collect();
        let scale = match (self.options.px_per_mm, session.device_px_per_mm) {
            (Some(s), _) => Scale::user(s),
            (None, Some(s)) => Scale::device(s),
            (None, None) => combine_scales(session, &own, |m| self.record_path(m)),
        };
        let texture = crate::session::member_for(session, &crate::session::TEXTURE_FROM)
            .filter(|m| in_colour(m) && fits(m))
            .unwrap_or(colour);
        let same = texture.path == colour.path;
        use quality::Concern;
        let role = |elsewhere: Vec<(Concern, &InputItem)>| Role {
            scale: scale.clone(),
            colour_matrix: session.device_colour_matrix,
            elsewhere: elsewhere
                .into_iter()
                .map(|(concern, from)| {
                    (
                        concern,
                        format!(
                            "read from {} ({}), the same sitting",
                            self.record_path(from),
                            from.modality.unwrap_or(Modality::Standard).label()
                        ),
                    )
                })
                .collect(),
        };
        let colour_role = role(if same {
            vec![]
        } else {
            vec![(Concern::Pores, texture)]
        });
        let mut rec = self.analyze_unfinished(index, colour, Some(&colour_role));
        if let (Some(Modality::ParallelPolarised), Some(q)) =
            (colour.modality, rec.quality.as_mut())
        {
            q.findings.push(quality::Finding {
                code: quality::FindingCode::ColourFromParallelPolarised,
                message: format!(
                    "the skin's colour was read from the parallel-polarised photo {}: the sitting has no cross-polarised or standard one, and surface glare lightens and greys the skin, so ITA, pigmented spots and redness read differently from a cross-polarised photo's; compare visits only with the same light",
                    self.record_path(colour)
                ),
            });
        }
        if let (false, Some(q)) = (misplaced.is_empty(), rec.quality.as_mut()) {
            q.findings.push(quality::Finding {
                code: quality::FindingCode::SittingMismatch,
                message: format!(
                    "not one sitting: {} (the photos of a sitting show one face in one place); nothing was read from {}",
                    misplaced
                        .iter()
                        .map(|(p, why)| format!("{}: {why}", self.shown_path(p, colour)))
                        .collect::<Vec<_>>()
                        .join("; "),
                    if misplaced.len() == 1 { "it" } else { "them" }
                ),
            });
        }
        let pores_here = same && !colour.modality.unwrap_or(Modality::Standard).hides_pores();
        let mut read_for: Vec<(PathBuf, Vec<Concern>)> = vec![(
            colour.path.clone(),
            if pores_here {
                vec![Concern::Pores, Concern::Pigmentation, Concern::AcneScars]
            } else {
                vec![Concern::Pigmentation, Concern::AcneScars]
            },
        )];
        let mut texture_error = None;
        if !same && rec.status == Status::Ok {
            let texture_role = role(vec![
                (Concern::Pigmentation, colour),
                (Concern::AcneScars, colour),
            ]);
            let t = self.analyze_unfinished(index, texture, Some(&texture_role));
            if t.status == Status::Ok {
                rec.pores = t.pores;
                if let (Some(q), Some(tq)) = (rec.quality.as_mut(), t.quality) {
                    q.usable.pores = tq.usable.pores;
                    let light = texture.modality.unwrap_or(Modality::Standard).label();
                    q.findings.extend(tq.findings.into_iter().map(|mut f| {
                        f.message = format!("{} ({light} photo)", f.message);
                        f
                    }));
                }
                rec.timing.pores_ms = t.timing.pores_ms;
                rec.timing.decode_ms += t.timing.decode_ms;
                rec.timing.measure_ms += t.timing.measure_ms;
                read_for.push((texture.path.clone(), vec![Concern::Pores]));
            } else {
                let why = t.error.map_or("failed".into(), |e| e.message);
                if let Some(p) = rec.pores.as_mut() {
                    p.measured = false;
                    p.reason = Some(format!(
                        "the sitting's texture photo {} could not be analysed: {why}",
                        self.record_path(texture)
                    ));
                }
                texture_error = Some((texture.path.clone(), why));
            }
        }
        rec.session = Some(crate::report::SessionReport {
            // The name comes from the files' names, which can carry a patient's.
            name: match &self.options.pseudonymiser {
                Some(p) => p.pseudonym(&session.name).replacen("p_", "sitting_", 1),
                None => session.name.clone(),
            },
            colour_corrected: session.device_colour_matrix.is_some(),
            photos: session
                .members
                .iter()
                .zip(own.iter().zip(&checked))
                .map(|(m, (s, c))| crate::report::SessionPhoto {
                    path: self.record_path(m),
                    modality: m.modality.unwrap_or(Modality::Standard),
                    own_px_per_mm: s
                        .as_ref()
                        .ok()
                        .and_then(|s| s.px_per_mm)
                        .map(|v| v.get()),
                    read_for: read_for
                        .iter()
                        .find(|(p, _)| *p == m.path)
                        .map(|(_, c)| c.clone())
                        .unwrap_or_default(),
                    error: match (s, &texture_error, c) {
                        (Err(e), _, _) => Some(e.message.clone()),
                        (_, Some((p, why)), _) if *p == m.path => Some(why.clone()),
                        (_, _, Some(Ok((_, light, _)))) if !light.shows_skin_colour => light
                            .reason
                            .clone()
                            .map(|r| format!("not measured: {r}; every model here was validated on colour photos")),
                        _ => None,
                    },
                })
                .collect(),
        });
        rec.timing.total_ms = ms(start);
        rec
    }

    /// Analyses an image already in memory (e.g. a re-rendered capture);
    /// `item` names it in the record. The record's input hash is that of the
    /// source file, if any.
    pub fn analyze_image(&self, photo: Photo, item: &InputItem) -> ImageRecord {
        let start = Instant::now();
        let mut info = InputInfo::unread(&item.path);
        info.width = Some(photo.rgb.width());
        info.height = Some(photo.rgb.height());
        info.transparent_pct = photo.transparent_pct();
        let rec = self.record(info, item.subject.clone());
        let rec = self.analyze_pixels(photo, 0, item, rec, start, None, None);
        self.finish(rec, item)
    }

    #[allow(clippy::too_many_arguments)]
    fn analyze_pixels(
        &self,
        photo: Photo,
        index: usize,
        item: &InputItem,
        mut rec: ImageRecord,
        start: Instant,
        role: Option<&Role>,
        loaded: Option<Result<LoadedSet, String>>,
    ) -> ImageRecord {
        // A lone photo stored turned (no EXIF orientation) is turned upright
        // once the face shows it; a sitting's or capture set's photos are
        // taken on a rig, and are refused by the pose check instead.
        let may_turn = role.is_none() && loaded.is_none() && item.capture.is_none();
        let mut photo = photo;
        let mut loaded = loaded;
        // Clockwise quarter turns applied so far (0–3), the turns left to
        // try for a face the detector missed, and the photo's own answer.
        let mut turned = 0u8;
        // Turns taken from the face's roll (`MAX_ROLL_TURNS`).
        let mut roll_turns = 0u8;
        // The last turn taken from the roll, undone if the face is lost.
        let mut last_roll_turn: Option<u8> = None;
        let mut search = face_search_turns(may_turn);
        let mut no_face: Option<InputError> = None;
        let result = loop {
            let pyramid = Pyramid::of(&photo, PYRAMID_MIN_SIDE);
            let (r, next_turn) = match self.checkout() {
                Ok(mut models) => {
                    let r = self.analyze_decoded(
                        &mut models,
                        &pyramid,
                        index,
                        item,
                        &mut rec,
                        role,
                        loaded.take(),
                        may_turn && roll_turns < MAX_ROLL_TURNS,
                    );
                    // A face the detector missed is looked for turned, with
                    // the same models.
                    let next = matches!(&r, Err(e) if e.code == ErrorCode::NoFace)
                        .then(|| next_turn_with_a_face(&mut models.face, &pyramid, &mut search));
                    self.checkin(models);
                    (r, next)
                }
                Err(e) => (
                    Err(InputError::new(ErrorCode::InferenceFailed, e.to_string())),
                    None,
                ),
            };
            match (r, next_turn) {
                (Ok(Some(k)), _) => {
                    photo = photo.turned_clockwise(k);
                    turned = (turned + k) % 4;
                    roll_turns += 1;
                    last_roll_turn = Some(k);
                    search = [].iter();
                }
                // A turn from a rough roll that loses the face is undone:
                // the photo is read as it was, with no more turns.
                (Err(e), _) if e.code == ErrorCode::NoFace && last_roll_turn.is_some() => {
                    let back = 4 - last_roll_turn.take().unwrap_or(0);
                    photo = photo.turned_clockwise(back);
                    turned = (turned + back) % 4;
                    roll_turns = MAX_ROLL_TURNS;
                }
                (Err(e), Some(Ok(Some(step)))) => {
                    photo = photo.turned_clockwise(step);
                    turned = (turned + step) % 4;
                    no_face.get_or_insert(e);
                }
                // No face any way round: the photo's own answer stands.
                (Err(e), Some(Ok(None))) => break Err(no_face.take().unwrap_or(e)),
                (Err(_), Some(Err(failed))) => break Err(failed),
                (r, _) => break r,
            }
        };
        if let Err(e) = result {
            return self.failed(rec, e, start);
        }
        if let (1..=3, Some(q)) = (turned, rec.quality.as_mut()) {
            q.findings.push(quality::Finding {
                code: quality::FindingCode::PhotoTurned,
                message: format!(
                    "the photo was stored {} ({}): it was turned upright before measuring",
                    match turned {
                        1 => "turned a quarter turn anticlockwise",
                        2 => "upside down",
                        _ => "turned a quarter turn clockwise",
                    },
                    match rec.input.exif_orientation {
                        Some(o) if o > 1 =>
                            "its EXIF orientation, applied first, did not bring it upright",
                        _ => "no EXIF orientation",
                    }
                ),
            });
        }
        rec.timing.total_ms = ms(start);
        rec
    }

    /// The pigmentation of each of `variants` (the same photo as `reference`
    /// re-rendered, e.g. at another exposure), measured on the reference's
    /// face geometry (scale and zones), so that only the measurement itself
    /// can differ from the reference's own reading (`analyze_image`): the
    /// residual of its lighting normalisation, without the face model's own
    /// response to lighting.
    pub fn pigmentation_on_fixed_geometry(
        &self,
        reference: &Photo,
        variants: &[Photo],
    ) -> Result<Vec<measure::PigmentReport>, InputError> {
        let mut models = self
            .checkout()
            .map_err(|e| InputError::new(ErrorCode::InferenceFailed, e.to_string()))?;
        let result = (|| {
            let pyramid = Pyramid::of(reference, PYRAMID_MIN_SIDE);
            let (face, scale, zone_masks) = self.face_geometry(&mut models.face, &pyramid)?;
            variants
                .iter()
                .map(|photo| {
                    let pyramid = Pyramid::of(photo, PYRAMID_MIN_SIDE);
                    let quality = quality::assess(
                        &photo.rgb,
                        Some(&face),
                        &zone_masks,
                        &scale,
                        quality::Context::default(),
                        &self.options.thresholds,
                    );
                    measure::pigmentation_only(
                        &mut models.skin,
                        &measure::MeasureInput {
                            pyramid: &pyramid,
                            zones: &zone_masks,
                            scale: scale.px_per_mm,
                            quality: &quality,
                            thresholds: &self.options.thresholds,
                        },
                    )
                })
                .collect()
        })();
        self.checkin(models);
        result
    }

    /// One visit's pictures for a patient report: the geometry overlay (PNG)
    /// and each zone's crop from the photo, from a fresh analysis.
    /// `close_up`: the scale of a photo analysed without a face (`--patch` or
    /// a close-up capture set), which is then one zone.
    pub fn visit_pictures(
        &self,
        item: &InputItem,
        close_up: Option<PxPerMm>,
    ) -> Result<VisitPictures, InputError> {
        let mut info = InputInfo::unread(&item.path);
        let photo = ingest::load(&item.path, &self.options.limits, &mut info)?;
        let (mut photo, loaded) = self.averaged_set(photo, item);
        let mut models = self
            .checkout()
            .map_err(|e| InputError::new(ErrorCode::InferenceFailed, e.to_string()))?;
        let result = (|| {
            let geometry = |models: &mut WorkerModels, pyramid: &Pyramid| {
                self.measured_geometry(
                    &mut models.face,
                    pyramid,
                    close_up.map(|s| (Scale::user(s), None)),
                )
            };
            let mut pyramid = Pyramid::of(&photo, PYRAMID_MIN_SIDE);
            let mut found = geometry(&mut models, &pyramid);
            // Drawn upright, as `analyze` measured it: a face the detector
            // missed is looked for turned, and a face found turned is turned
            // upright.
            let may_turn = item.capture.is_none() && close_up.is_none();
            let mut search = face_search_turns(may_turn);
            while matches!(&found, Err(e) if e.code == ErrorCode::NoFace) {
                let Some(step) = next_turn_with_a_face(&mut models.face, &pyramid, &mut search)?
                else {
                    break;
                };
                photo = photo.turned_clockwise(step);
                pyramid = Pyramid::of(&photo, PYRAMID_MIN_SIDE);
                found = geometry(&mut models, &pyramid);
            }
            let (mut face, mut scale, mut zone_masks) = found?;
            // As `analyze`: turns from the face's roll, one that loses the
            // face undone.
            for _ in 0..MAX_ROLL_TURNS {
                let Some(k) = self.turns_to_upright(face.as_ref().filter(|_| may_turn)) else {
                    break;
                };
                photo = photo.turned_clockwise(k);
                pyramid = Pyramid::of(&photo, PYRAMID_MIN_SIDE);
                match geometry(&mut models, &pyramid) {
                    Ok(g) => (face, scale, zone_masks) = g,
                    Err(e) if e.code == ErrorCode::NoFace => {
                        photo = photo.turned_clockwise(4 - k);
                        pyramid = Pyramid::of(&photo, PYRAMID_MIN_SIDE);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            let rgb = &photo.rgb;
            let face = face.as_ref();
            let quality = quality::assess(
                rgb,
                face,
                &zone_masks,
                &scale,
                quality::Context {
                    modality: item.modality,
                    jpeg_quality: info.jpeg_quality,
                    relief_from_lights: item.capture.is_some(),
                    transparent: photo.transparent.is_some(),
                },
                &self.options.thresholds,
            );
            let m = self.measure(
                &mut models.skin,
                item,
                &pyramid,
                &zone_masks,
                &scale,
                &quality,
                None,
                loaded,
            )?;
            let view = overlay::View::new(rgb, face, &zone_masks, overlay::MAX_SIDE);
            let failed = |e: image::ImageError| {
                InputError::new(ErrorCode::InferenceFailed, format!("overlay: {e}"))
            };
            let overlay = view
                .geometry(rgb, face, &zone_masks, &scale, &m.overlay)
                .map_err(failed)?;
            let relief = if m.overlay.relief.is_empty() {
                None
            } else {
                Some(
                    view.relief(rgb, &m.overlay.relief, &m.overlay.scars, scale.px_per_mm)
                        .map_err(failed)?,
                )
            };
            let crops = zone_masks
                .iter()
                .filter(|z| z.mask.width() > 1 && z.mask.height() > 1)
                .map(|z| {
                    (
                        z.name,
                        image::imageops::crop_imm(rgb, z.x0, z.y0, z.mask.width(), z.mask.height())
                            .to_image(),
                    )
                })
                .collect();
            Ok(VisitPictures {
                overlay_png: overlay,
                relief_png: relief,
                zone_crops: crops,
            })
        })();
        self.checkin(models);
        result
    }

    /// Clockwise quarter turns that bring `face` upright when its photo was
    /// stored turned (its roll within `face::STORED_TURNED_TOLERANCE_DEG`
    /// of a quarter or half turn); `None` for an upright or merely tilted
    /// face.
    fn turns_to_upright(&self, face: Option<&FaceGeometry>) -> Option<u8> {
        face.and_then(|f| {
            face::quarter_turns_to_upright(f.pose.roll_deg.get(), face::STORED_TURNED_TOLERANCE_DEG)
        })
    }

    /// Face → scale → zones: the geometry every measurement of a face
    /// photo is taken on.
    fn face_geometry(
        &self,
        models: &mut FaceModels,
        pyramid: &Pyramid,
    ) -> Result<(FaceGeometry, Scale, Vec<zones::ZoneMask>), InputError> {
        let face = face::analyse(models, pyramid)?;
        let scale = scale::from_face(&face, self.options.px_per_mm);
        let (w, h) = pyramid.base().dimensions();
        // The margin is sized by the face itself: a sitting's or device's
        // scale, which may replace the face's own, is not known yet.
        let beyond = pyramid.transparent().map(|t| {
            let px_per_mm = scale
                .px_per_mm
                .map_or_else(|| scale::rough_px_per_mm(&face), |s| s.get());
            zones::beyond_the_photo(t, px_per_mm)
        });
        let zone_masks = zones::build(
            &face,
            w,
            h,
            self.options.thresholds.max_obliquity_deg,
            beyond.as_ref(),
        );
        Ok((face, scale, zone_masks))
    }

    /// The geometry a photo is measured on: for a close-up (its scale and
    /// optional mask), the whole frame or the mask as one zone; otherwise
    /// the face's.
    fn measured_geometry(
        &self,
        models: &mut FaceModels,
        pyramid: &Pyramid,
        close_up: Option<(Scale, Option<&image::GrayImage>)>,
    ) -> Result<(Option<FaceGeometry>, Scale, Vec<zones::ZoneMask>), InputError> {
        let (w, h) = pyramid.base().dimensions();
        match close_up {
            Some((scale, mask)) => {
                let beyond = pyramid
                    .transparent()
                    .map(|t| zones::beyond_the_photo(t, scale.px_per_mm.map_or(0.0, |s| s.get())));
                Ok((
                    None,
                    scale,
                    vec![zones::opaque_patch(w, h, mask, beyond.as_ref())],
                ))
            }
            None => {
                let (face, scale, zone_masks) = self.face_geometry(models, pyramid)?;
                Ok((Some(face), scale, zone_masks))
            }
        }
    }

    /// Face (or patch) → scale → zones → quality → measurements, into `rec`.
    #[allow(clippy::too_many_arguments)]
    fn analyze_decoded(
        &self,
        models: &mut WorkerModels,
        pyramid: &Pyramid,
        index: usize,
        item: &InputItem,
        rec: &mut ImageRecord,
        role: Option<&Role>,
        loaded: Option<Result<LoadedSet, String>>,
        may_turn: bool,
    ) -> Result<Option<u8>, InputError> {
        let rgb = pyramid.base();
        let face_start = Instant::now();
        let close_up = item.capture.as_ref().and_then(|c| c.close_up);
        let patch = if self.options.patch.is_some() || close_up.is_some() {
            let mask = match &self.patch_mask {
                Some(m) if m.dimensions() != rgb.dimensions() => {
                    return Err(InputError::new(
                        ErrorCode::MaskMismatch,
                        format!(
                            "patch mask is {}x{}, photo is {}x{}",
                            m.width(),
                            m.height(),
                            rgb.width(),
                            rgb.height()
                        ),
                    ))
                }
                m => m.as_ref(),
            };
            let scale = match (self.options.px_per_mm, close_up) {
                (Some(s), _) => Scale::user(s),
                (None, Some(s)) => Scale::device(s),
                (None, None) => Scale::none("no --px-per-mm"),
            };
            Some((scale, mask))
        } else {
            None
        };
        let analysed_as_patch = patch.is_some();
        let (face, scale, zone_masks) = self.measured_geometry(&mut models.face, pyramid, patch)?;
        // Nothing is measured on a photo stored turned: the caller turns it
        // upright and starts again.
        if let Some(k) = self.turns_to_upright(face.as_ref().filter(|_| may_turn)) {
            return Ok(Some(k));
        }
        // A sitting's photos share one scale; a capture set's device
        // calibration stands for a face's estimate as a profile's does
        // (`--px-per-mm` still wins).
        let scale = role.map_or(scale, |r| r.scale.clone());
        let scale = match item.capture.as_ref().and_then(|c| c.device_px_per_mm) {
            Some(px) if self.options.px_per_mm.is_none() && !analysed_as_patch => Scale::device(px),
            _ => scale,
        };
        rec.timing.face_ms = ms(face_start);

        let mut quality = quality::assess(
            rgb,
            face.as_ref(),
            &zone_masks,
            &scale,
            quality::Context {
                modality: item.modality,
                jpeg_quality: rec.input.jpeg_quality,
                relief_from_lights: item.capture.is_some(),
                transparent: pyramid.transparent().is_some(),
            },
            &self.options.thresholds,
        );
        // Concerns another photo of the sitting gives are not measured here.
        for (concern, why) in role.map_or(&[][..], |r| &r.elsewhere[..]) {
            let u = quality.usable.of_mut(*concern);
            u.usable = false;
            u.reasons = vec![why.clone()];
        }
        let measure_start = Instant::now();
        let measurements = self.measure(
            &mut models.skin,
            item,
            pyramid,
            &zone_masks,
            &scale,
            &quality,
            rec.input.sha256.clone(),
            loaded,
        )?;
        rec.timing.measure_ms = ms(measure_start);
        [
            rec.timing.pores_ms,
            rec.timing.pigmentation_ms,
            rec.timing.acne_scars_ms,
        ] = measurements.ms;
        rec.zones = zones::summarise(&zone_masks, scale.px_per_mm);
        for z in rec.zones.iter_mut() {
            z.hair_pct = measure::share_of(&measurements.shares.hair_pct, z.name);
            z.object_pct = measure::share_of(&measurements.shares.object_pct, z.name);
            z.sheen_pct = measure::share_of(&measurements.shares.sheen_pct, z.name);
        }
        rec.face = face
            .as_ref()
            .map(|f| face_report(f, self.options.landmarks));
        if self.options.overlays {
            if let Some(dir) = &self.options.output_dir {
                // File names can carry a patient's name: leave them out when pseudonymising.
                let name_from = if self.options.pseudonymiser.is_some() {
                    Path::new("")
                } else {
                    item.path.as_path()
                };
                rec.overlays = write_overlays(
                    dir,
                    index,
                    name_from,
                    rgb,
                    face.as_ref(),
                    &zone_masks,
                    &scale,
                    &measurements,
                    self.options.overlay_max_side,
                );
            }
        }
        rec.scale = Some(scale);
        rec.quality = Some(quality);
        rec.pores = Some(measurements.pores);
        rec.pigmentation = Some(measure::PigmentReport {
            colour_calibrated: role.is_some_and(|r| r.colour_matrix.is_some()),
            ..measurements.pigmentation
        });
        rec.acne_scars = Some(measurements.acne_scars);
        Ok(None)
    }

    /// The measurements of one photo, or of its capture set (`loaded`: the
    /// set's photos when they were read before the analysis).
    #[allow(clippy::too_many_arguments)]
    fn measure(
        &self,
        skin: &mut measure::SkinModels,
        item: &InputItem,
        pyramid: &Pyramid,
        zone_masks: &[zones::ZoneMask],
        scale: &Scale,
        quality: &quality::QualityReport,
        first_sha256: Option<String>,
        loaded: Option<Result<LoadedSet, String>>,
    ) -> Result<Measurements, InputError> {
        self.with_capture(item, pyramid, zone_masks, first_sha256, loaded, |capture| {
            let input = measure::MeasureInput {
                pyramid,
                zones: zone_masks,
                scale: scale.px_per_mm,
                quality,
                thresholds: &self.options.thresholds,
            };
            measure::measure(skin, &input, capture)
        })
    }

    /// Runs `f` with `item`'s capture set ready to measure (its photos
    /// decoded and aligned to the first; `pyramid` is the analysed image:
    /// the first photo's, or the set's all-lights average when `loaded`
    /// holds the first photo), with why the set cannot be used, or with
    /// `None` for a single photo.
    fn with_capture<R>(
        &self,
        item: &InputItem,
        pyramid: &Pyramid,
        zone_masks: &[zones::ZoneMask],
        first_sha256: Option<String>,
        loaded: Option<Result<LoadedSet, String>>,
        f: impl FnOnce(Option<Result<&measure::Capture, &str>>) -> R,
    ) -> R {
        let Some(set) = item.capture.as_ref() else {
            return f(None);
        };
        let loaded = match loaded.unwrap_or_else(|| {
            self.load_capture(pyramid.base(), pyramid.transparent().is_some(), item, set)
        }) {
            Ok(l) => l,
            Err(why) => return f(Some(Err(why.as_str()))),
        };
        let averaged = loaded.first.is_some();
        let first_pyramid = loaded
            .first
            .as_ref()
            .map(|p| Pyramid::of(p, PYRAMID_MIN_SIDE));
        let first_pyramid = first_pyramid.as_ref().unwrap_or(pyramid);
        let pyramids: Vec<Pyramid> = loaded
            .others
            .iter()
            .map(|(photo, _)| Pyramid::of(photo, PYRAMID_MIN_SIDE))
            .collect();
        let optical_centre_px = set.optical_centre_px.unwrap_or_else(|| {
            let (w, h) = pyramid.base().dimensions();
            [w as f32 / 2.0, h as f32 / 2.0]
        });
        let round = |v: f32| (f64::from(v) * 100.0).round() / 100.0;
        let capture = measure::Capture {
            report: measure::CaptureReport {
                capture_set: set.name.clone(),
                analysed_image: if averaged {
                    measure::SetImage::AllLightsAverage
                } else {
                    measure::SetImage::FirstPhoto
                },
                optical_centre_px: Some(optical_centre_px.map(f64::from)),
                photos: std::iter::once(measure::CapturePhoto {
                    path: self.record_path(item),
                    sha256: first_sha256,
                    ..capture_photo_light(set.photos[0].light, first_pyramid.base(), zone_masks)
                })
                .chain(
                    loaded
                        .others
                        .iter()
                        .zip(set.photos.iter().skip(1))
                        .zip(loaded.shifts.iter().skip(1))
                        .map(
                            |(((img, sha256), photo), &(dx, dy))| measure::CapturePhoto {
                                path: self.shown_path(&photo.path, item),
                                sha256: sha256.clone(),
                                shift_px: [round(dx), round(dy)],
                                ..capture_photo_light(photo.light, &img.rgb, zone_masks)
                            },
                        ),
                )
                .collect(),
            },
            pyramids: std::iter::once(first_pyramid)
                .chain(pyramids.iter())
                .collect(),
            lights: set.photos.iter().map(|p| p.light).collect(),
            optical_centre_px,
            shifts: loaded.shifts.clone(),
        };
        f(Some(Ok(&capture)))
    }

    /// The other photos of a capture set, decoded with the same guards and
    /// aligned to the first; their exposure is reported, not judged
    /// (readings are left out pixel by pixel). Or why the set cannot be
    /// used.
    /// `first_transparent`: whether the first photo has transparent pixels.
    fn load_capture(
        &self,
        first: &image::RgbImage,
        first_transparent: bool,
        item: &InputItem,
        set: &crate::capture::CaptureSet,
    ) -> Result<LoadedSet, String> {
        // A set's photos are aligned and combined whole: a cut-out's
        // background would enter the relief and the average as skin.
        let cut_out = |k: usize| {
            format!(
                "{}: has transparent pixels: a capture set's photos are aligned and combined whole, so export them without transparency",
                self.shown_path(&set.photos[k].path, item)
            )
        };
        if first_transparent {
            return Err(cut_out(0));
        }
        let mut others = Vec::new();
        for (k, photo) in set.photos.iter().enumerate().skip(1) {
            let mut info = InputInfo::unread(&photo.path);
            let loaded = ingest::load(&photo.path, &self.options.limits, &mut info)
                .map_err(|e| format!("{}: {e}", self.shown_path(&photo.path, item)))?;
            if loaded.transparent.is_some() {
                return Err(cut_out(k));
            }
            let img = &loaded.rgb;
            if img.dimensions() != first.dimensions() {
                let e = crate::measure::align::AlignError::SizeMismatch(
                    img.width(),
                    img.height(),
                    first.width(),
                    first.height(),
                );
                return Err(format!("{}: {e}", self.shown_path(&photo.path, item)));
            }
            others.push((loaded, info.sha256));
        }
        let images: Vec<&image::RgbImage> = std::iter::once(first)
            .chain(others.iter().map(|(p, _)| &p.rgb))
            .collect();
        let lights: Vec<[f32; 3]> = set
            .photos
            .iter()
            .map(|p| p.light.alignment_vector())
            .collect();
        let shifts = crate::measure::align::align_set(&images, &lights)
            .map_err(|(k, e)| format!("{}: {e}", self.shown_path(&set.photos[k].path, item)))?;
        Ok(LoadedSet {
            first: None,
            others,
            shifts,
        })
    }

    /// For a set none of whose lights is within `FRONTAL_LIGHT_MAX_DEG` of
    /// the camera's axis: its photos read and aligned, and their
    /// all-lights average, which the zones, pores and pigmentation are then
    /// read from (a side-lit photo's shading gradient reads as pigment).
    /// `None` for a single photo or a set with a frontal light.
    fn averaged_set(
        &self,
        first: Photo,
        item: &InputItem,
    ) -> (Photo, Option<Result<LoadedSet, String>>) {
        let Some(set) = item.capture.as_ref() else {
            return (first, None);
        };
        if !read_from_average(set) {
            return (first, None);
        }
        match self.load_capture(&first.rgb, first.transparent.is_some(), item, set) {
            Ok(mut loaded) => {
                let images: Vec<&image::RgbImage> = std::iter::once(&first.rgb)
                    .chain(loaded.others.iter().map(|(p, _)| &p.rgb))
                    .collect();
                let intensities: Vec<f32> =
                    set.photos.iter().map(|p| p.light.intensity()).collect();
                let average =
                    measure::align::all_lights_average(&images, &loaded.shifts, &intensities);
                loaded.first = Some(first);
                (average, Some(Ok(loaded)))
            }
            Err(why) => (first, Some(Err(why))),
        }
    }

    fn failed(&self, mut rec: ImageRecord, err: InputError, start: Instant) -> ImageRecord {
        rec.status = Status::Error;
        rec.error = Some(ErrorInfo {
            code: err.code,
            message: err.message,
        });
        rec.timing.total_ms = ms(start);
        rec
    }

    /// Analyses `(index, item)` pairs on `threads` workers (the index names
    /// overlays); records come back in the given order whatever the thread
    /// count, and `on_done` sees each as it completes.
    pub fn run_batch(
        &self,
        items: &[(usize, InputItem)],
        threads: usize,
        on_done: &(dyn Fn(&ImageRecord) + Sync),
    ) -> Result<Vec<ImageRecord>, SetupError> {
        // Fewer photos than workers: the spare cores go to each photo's pore
        // model calls (one 27 MP close-up on two cores: docs/performance.md).
        let per_photo = (threads.max(1) / items.len().max(1)).max(1);
        self.session_threads
            .store(per_photo, std::sync::atomic::Ordering::Relaxed);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build()
            .map_err(|e| SetupError::Input {
                path: PathBuf::new(),
                reason: format!("thread pool: {e}"),
            })?;
        let budget = self.options.memory_budget_mib.map(|mib| {
            // What the process holds already, and each further worker's
            // sessions, are not the photos'.
            let own = memory::resident_bytes().unwrap_or(0)
                + (threads.max(1) as u64 - 1) * memory::PER_WORKER_BYTES;
            (
                mib << 20,
                memory::Budget::new((mib << 20).saturating_sub(own)),
            )
        });
        Ok(pool.install(|| {
            items
                .par_iter()
                .map(|(i, item)| {
                    let reservation = budget.as_ref().map(|(limit, b)| {
                        let bytes = item_bytes(item);
                        if bytes > *limit {
                            eprintln!(
                                "note: {} needs about {} MiB, more than the {} MiB memory budget: analysed alone",
                                self.record_path(item),
                                bytes >> 20,
                                limit >> 20
                            );
                        }
                        b.reserve(bytes)
                    });
                    let r = self.analyze(*i, item);
                    drop(reservation);
                    on_done(&r);
                    r
                })
                .collect()
        }))
    }
}

/// A set is read from its first photo when that photo's light is within
/// this angle of the camera's axis, else from the all-lights average.
const FRONTAL_LIGHT_MAX_DEG: f32 = 30.0;

/// Whether `set` is read from its all-lights average: its most frontal
/// light (its first) is more than `FRONTAL_LIGHT_MAX_DEG` off the axis.
fn read_from_average(set: &crate::capture::CaptureSet) -> bool {
    set.photos[0].light.central_direction()[2] < FRONTAL_LIGHT_MAX_DEG.to_radians().cos()
}

/// A capture set's photos read before they are measured.
struct LoadedSet {
    /// The first photo itself, when the analysed image is not it (the
    /// all-lights average).
    first: Option<Photo>,
    /// The other photos with their SHA-256.
    others: Vec<(Photo, Option<String>)>,
    /// Each photo's shift relative to the first (the first's is zero).
    shifts: Vec<(f32, f32)>,
}

/// A capture photo's light and exposure over the zones as the record shows
/// them (path, hash and shift filled in by the caller).
fn capture_photo_light(
    light: crate::capture::Light,
    photo: &image::RgbImage,
    zone_masks: &[zones::ZoneMask],
) -> measure::CapturePhoto {
    let round = |v: f32| (f64::from(v) * 1e4).round() / 1e4;
    let skin = quality::skin_stats(photo, zone_masks);
    let pct = |f: f64| (1000.0 * f).round() / 10.0;
    measure::CapturePhoto {
        clipped_pct: pct(skin.highlight_clipped_fraction),
        dark_pct: pct(skin.shadow_clipped_fraction),
        path: String::new(),
        sha256: None,
        light_dir: light.central_direction().map(round),
        light_pos_mm: match light.place {
            crate::capture::LightPlace::Near(p) => Some(p.get().map(f64::from)),
            crate::capture::LightPlace::Distant(_) => None,
        },
        intensity: f64::from(light.intensity()),
        shift_px: [0.0, 0.0],
    }
}

/// The memory analysing `item` needs: all its photos' (a capture set's are
/// held at once).
fn item_bytes(item: &InputItem) -> u64 {
    let mut paths = vec![item.path.as_path()];
    if let Some(s) = &item.session {
        paths.extend(s.members.iter().map(|m| m.path.as_path()));
    }
    // A set without a frontal light also holds its all-lights average while
    // it is made: 12-byte sums and a count per pixel, then 16- and 8-bit
    // copies (about 23 bytes a pixel, four times a photo's 6).
    let average = item.capture.as_ref().map_or(0, |c| {
        if read_from_average(c) {
            4 * memory::photo_bytes(&c.photos[0].path)
        } else {
            0
        }
    });
    if let Some(c) = &item.capture {
        paths.extend(c.photos.iter().map(|p| p.path.as_path()));
    }
    paths.sort();
    paths.dedup();
    average + paths.into_iter().map(memory::photo_bytes).sum::<u64>()
}

fn build_sessions(
    models: &VerifiedModels,
    device: Device,
    threads: usize,
) -> Result<(WorkerModels, Device), SetupError> {
    let session = |name| models.session(name, device);
    let (short_range, used) = session(ModelName::FaceDetectionShortRange)?;
    let (full_range, _) = session(ModelName::FaceDetectionFullRange)?;
    let (mesh, _) = session(ModelName::FaceLandmark)?;
    let (iris, _) = session(ModelName::IrisLandmark)?;
    // Only the pore model, on large zones, gains from more threads; the
    // small models measured slower on two (thread hand-offs outweigh the
    // work: face 37 -> 116 ms on a 27 MP close-up).
    let (pores, _) = models.session_on_threads(ModelName::PoreSegmentation, device, threads)?;
    let (pigment, _) = session(ModelName::PigmentSegmentation)?;
    let (scars, _) = session(ModelName::ScarRelief)?;
    Ok((
        WorkerModels {
            face: FaceModels {
                short_range,
                full_range,
                mesh,
                iris,
            },
            skin: SkinModels {
                pores,
                pigment,
                scars,
            },
            threads,
        },
        used,
    ))
}

/// A device's colour correction, applied before anything reads colour.
fn colour_corrected(photo: Photo, matrix: Option<[[f64; 3]; 3]>) -> Photo {
    match matrix {
        Some(m) => measure::colour::transform_photo(&photo, m),
        None => photo,
    }
}

/// What a sitting asks of one of its photos: the scale they share, and the
/// concerns another member gives (with the reason the record shows).
struct Role {
    scale: Scale,
    /// The device's colour correction, applied after decoding.
    colour_matrix: Option<[[f64; 3]; 3]>,
    elsewhere: Vec<(quality::Concern, String)>,
}

/// Where a sitting's photo shows the face: the mesh's centre and size (RMS
/// distance of its points from their centre, px) and its shape (the points
/// about that centre, in units of that size). Photos of one sitting, taken
/// within a minute on a rest, show one face in one place.
#[derive(Debug, Clone)]
struct Placement {
    centre: (f64, f64),
    size: f64,
    shape: Vec<(f64, f64)>,
}

/// Photos of one sitting whose faces differ more than this are not taken as
/// one sitting: size (relative), place (in face sizes) and shape (RMS, in
/// face sizes). A booth's exposures of a face on a rest agree closer: the
/// BioSkin rig's colour and specular images of one sitting differ by up to
/// 2 % in size, 3 % in place and 3.5 % in shape (the mesh reads a grey
/// image a little differently); another person's photo in a review's test
/// sitting differed by 6.8 % in shape, another day's by 15 % in size.
const SITTING_MAX_SIZE_CHANGE: f64 = 0.06;
const SITTING_MAX_SHIFT: f64 = 0.15;
const SITTING_MAX_SHAPE: f64 = 0.05;

impl Placement {
    fn of(landmarks: &[[f32; 3]]) -> Self {
        let n = landmarks.len().max(1) as f64;
        let cx = landmarks.iter().map(|p| f64::from(p[0])).sum::<f64>() / n;
        let cy = landmarks.iter().map(|p| f64::from(p[1])).sum::<f64>() / n;
        let size = (landmarks
            .iter()
            .map(|p| (f64::from(p[0]) - cx).powi(2) + (f64::from(p[1]) - cy).powi(2))
            .sum::<f64>()
            / n)
            .sqrt()
            .max(1e-9);
        Placement {
            centre: (cx, cy),
            size,
            shape: landmarks
                .iter()
                .map(|p| ((f64::from(p[0]) - cx) / size, (f64::from(p[1]) - cy) / size))
                .collect(),
        }
    }

    /// Why `self` and `other` are not one face in one place, or `None`.
    fn differs(&self, other: &Placement) -> Option<String> {
        let size = other.size / self.size - 1.0;
        let shift =
            (other.centre.0 - self.centre.0).hypot(other.centre.1 - self.centre.1) / self.size;
        let shape = (self
            .shape
            .iter()
            .zip(&other.shape)
            .map(|(a, b)| (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2))
            .sum::<f64>()
            / self.shape.len().max(1) as f64)
            .sqrt();
        (size.abs() > SITTING_MAX_SIZE_CHANGE || shift > SITTING_MAX_SHIFT || shape > SITTING_MAX_SHAPE).then(|| {
            format!(
                "its face is {:+.0} % the size, {:.0} % of the face's size away, and {:.1} % different in shape (limits {:.0} %, {:.0} %, {:.0} %)",
                100.0 * size,
                100.0 * shift,
                100.0 * shape,
                100.0 * SITTING_MAX_SIZE_CHANGE,
                100.0 * SITTING_MAX_SHIFT,
                100.0 * SITTING_MAX_SHAPE
            )
        })
    }
}

/// The members' own scale estimates as one: weighted by their stated
/// uncertainty; the result keeps the smallest single uncertainty (the
/// estimates share the same face and population priors, so their errors
/// do not average out).
fn combine_scales(
    session: &ingest::Session,
    own: &[Result<Scale, InputError>],
    shown: impl Fn(&InputItem) -> String,
) -> Scale {
    let mut parts = Vec::new();
    let (mut sum, mut weights, mut best) = (0.0, 0.0, f64::INFINITY);
    for (m, s) in session.members.iter().zip(own) {
        match s {
            Ok(Scale {
                px_per_mm: Some(v),
                uncertainty: Some(u),
                ..
            }) if *u > 0.0 => {
                let w = 1.0 / (u * u);
                sum += w * v.get();
                weights += w;
                best = best.min(*u);
                parts.push(format!(
                    "{} {:.2} px/mm ± {:.1} %",
                    shown(m),
                    v.get(),
                    100.0 * u
                ));
            }
            Ok(s) => parts.push(format!(
                "{}: {}",
                shown(m),
                s.reason.clone().unwrap_or_else(|| "no scale".into())
            )),
            Err(e) => parts.push(format!("{}: {}", shown(m), e.message)),
        }
    }
    match PxPerMm::new(sum / weights) {
        Some(px) if weights > 0.0 => Scale {
            px_per_mm: Some(px),
            source: scale::ScaleSource::Session,
            uncertainty: Some(best),
            reason: Some(format!(
                "one scale for the sitting's photos, weighted by their uncertainty: {}",
                parts.join("; ")
            )),
            iris_diameter_px: None,
        },
        _ => Scale::none(format!(
            "no photo of the sitting gave a scale: {}",
            parts.join("; ")
        )),
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn face_report(face: &FaceGeometry, with_landmarks: bool) -> FaceReport {
    let d = &face.detection;
    FaceReport {
        count: face.face_count,
        detector: face.detector,
        detection_score: f64::from(d.score),
        box_px: BoxPx {
            x: f64::from(d.cx - d.w / 2.0),
            y: f64::from(d.cy - d.h / 2.0),
            width: f64::from(d.w),
            height: f64::from(d.h),
        },
        mesh_presence: f64::from(face.presence),
        pose: face.pose,
        eyes: EyeState {
            right_openness: f64::from(face.right_eye_openness),
            left_openness: f64::from(face.left_eye_openness),
            open: face.right_eye_openness >= EYE_OPEN_MIN && face.left_eye_openness >= EYE_OPEN_MIN,
        },
        landmarks_px: with_landmarks.then(|| {
            face.landmarks
                .iter()
                .map(|p| [f64::from(p[0]), f64::from(p[1])])
                .collect()
        }),
        landmarks_depth_px: with_landmarks
            .then(|| face.landmarks.iter().map(|p| f64::from(p[2])).collect()),
    }
}

#[allow(clippy::too_many_arguments)]
fn write_overlays(
    dir: &Path,
    index: usize,
    input: &Path,
    image: &image::RgbImage,
    face: Option<&FaceGeometry>,
    zones: &[zones::ZoneMask],
    scale: &crate::scale::Scale,
    measurements: &Measurements,
    max_side: u32,
) -> Vec<OverlayFile> {
    let stem = input
        .file_stem()
        .map(|s| crate::report::safe_file_name(&s.to_string_lossy()))
        .unwrap_or_default();
    let view = overlay::View::new(image, face, zones, max_side);
    let mut written = Vec::new();
    let kinds = [
        OverlayKind::Geometry,
        OverlayKind::Melanin,
        OverlayKind::Haemoglobin,
        OverlayKind::Relief,
    ];
    for kind in kinds {
        let suffix = match kind {
            OverlayKind::Geometry => "",
            OverlayKind::Melanin => "_melanin",
            OverlayKind::Haemoglobin => "_haemoglobin",
            OverlayKind::Relief => "_relief",
        };
        let empty = match kind {
            OverlayKind::Geometry => false,
            OverlayKind::Melanin | OverlayKind::Haemoglobin => measurements.overlay.maps.is_empty(),
            OverlayKind::Relief => measurements.overlay.relief.is_empty(),
        };
        if empty {
            continue;
        }
        let relative = format!("overlays/{index:05}_{stem}{suffix}.png");
        let png = match kind {
            OverlayKind::Geometry => {
                view.geometry(image, face, zones, scale, &measurements.overlay)
            }
            OverlayKind::Melanin => view.chromophore(image, &measurements.overlay.maps, true),
            OverlayKind::Haemoglobin => view.chromophore(image, &measurements.overlay.maps, false),
            OverlayKind::Relief => view.relief(
                image,
                &measurements.overlay.relief,
                &measurements.overlay.scars,
                scale.px_per_mm,
            ),
        };
        match png
            .map_err(|e| e.to_string())
            .and_then(|b| sink::write_atomic(&dir.join(&relative), &b).map_err(|e| e.to_string()))
        {
            Ok(()) => written.push(OverlayFile {
                kind,
                path: relative,
            }),
            Err(e) => eprintln!("warning: overlay for {}: {e}", input.display()),
        }
    }
    written
}

/// Counts over the final records; `run` carries how this process executed.
pub fn summarise(
    records: &[ImageRecord],
    models: &[ModelRef],
    thresholds: &Thresholds,
    inputs: &InputList,
    run: RunInfo,
) -> SummaryRecord {
    let mut acc = SummaryCounts::default();
    for r in records {
        acc.add(r);
    }
    acc.finish(models, thresholds, inputs, run)
}

/// Summary counts accumulated one record at a time (for streaming merges).
#[derive(Debug, Clone, Default)]
pub struct SummaryCounts {
    images: u64,
    ok: u64,
    errors_by_code: BTreeMap<ErrorCode, u64>,
    multiple_faces: u64,
    usable: [u64; 3],
}

impl SummaryCounts {
    pub fn add(&mut self, r: &ImageRecord) {
        self.images += 1;
        self.ok += u64::from(r.status == Status::Ok);
        if let Some(e) = &r.error {
            *self.errors_by_code.entry(e.code).or_insert(0) += 1;
        }
        self.multiple_faces += u64::from(r.face.as_ref().is_some_and(|f| f.count > 1));
        if let Some(q) = &r.quality {
            self.usable[0] += u64::from(q.usable.pores.usable);
            self.usable[1] += u64::from(q.usable.acne_scars.usable);
            self.usable[2] += u64::from(q.usable.pigmentation.usable);
        }
    }

    pub fn images(&self) -> u64 {
        self.images
    }

    pub fn finish(
        self,
        models: &[ModelRef],
        thresholds: &Thresholds,
        inputs: &InputList,
        run: RunInfo,
    ) -> SummaryRecord {
        SummaryRecord {
            schema_version: SCHEMA_VERSION.into(),
            tool: ToolInfo::current(),
            models: models.to_vec(),
            protocol_sha256: None,
            device_profile: None,
            images: self.images,
            ok: self.ok,
            failed: self.images - self.ok,
            errors_by_code: self.errors_by_code,
            multiple_faces: self.multiple_faces,
            usable_for_pores: self.usable[0],
            usable_for_acne_scars: self.usable[1],
            usable_for_pigmentation: self.usable[2],
            thresholds: *thresholds,
            shard: inputs.shard,
            inputs_total: inputs.total,
            input_list_sha256: inputs.sha256.clone(),
            run,
        }
    }
}

/// The input list a run was given, before sharding.
#[derive(Debug, Clone)]
pub struct InputList {
    pub total: u64,
    pub sha256: String,
    pub shard: Option<ingest::Shard>,
}

impl InputList {
    pub fn new(items: &[InputItem], shard: Option<ingest::Shard>) -> Self {
        let mut paths: Vec<String> = items
            .iter()
            .map(|i| i.path.to_string_lossy().into_owned())
            .collect();
        paths.sort();
        Self {
            total: items.len() as u64,
            sha256: models::hex_sha256(paths.join("\n").as_bytes()),
            shard,
        }
    }
}
