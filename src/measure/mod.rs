//! Measure: pores and pigmentation per zone and for the face, in physical
//! units, from the segmentation models run at canonical resolutions.
//! Measurement happens only where the quality stage found the photo usable;
//! otherwise every number is null and the report says why.

pub mod align;
pub mod colour;
pub mod hair;
pub mod objects;
pub mod pigment;
pub mod pores;
pub mod relief;
pub mod scars;
pub mod segment;

use crate::error::{ErrorCode, InputError};
use crate::face::warp::{Affine, Pyramid};
use crate::quality::{QualityReport, Usability};
use crate::score::Score;
use crate::units::PxPerMm;
use crate::zones::{ZoneMask, ZoneName};
use ort::session::Session;
use pigment::{PigmentMetrics, PigmentSample, SkinColour};
use pores::{PoreMetrics, PoreSample};
use scars::{ScarMetrics, ScarSample};
use schemars::JsonSchema;
use segment::CanonicalPatch;
use serde::{Deserialize, Serialize};

/// Zones smaller than this (at the canonical scale) are not measured.
pub const MIN_ZONE_AREA_CM2: f64 = 0.5;

/// The measurement sessions of one worker.
pub struct SkinModels {
    pub pores: Session,
    pub pigment: Session,
    pub scars: Session,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZonePores {
    /// The zone.
    pub zone: ZoneName,
    /// Null when this zone could not be measured; see `reason`.
    pub metrics: Option<PoreMetrics>,
    /// Why the zone was not measured; null when it was.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PoreReport {
    /// True when at least one zone was measured.
    pub measured: bool,
    /// Why nothing was measured.
    pub reason: Option<String>,
    /// Pores narrower than this (equivalent-circle diameter, mm) are not counted.
    pub detection_threshold_mm: f64,
    /// The photo's scale must be at least this (px/mm) for pores.
    pub min_px_per_mm: f64,
    /// The resolution the pore model sees (px/mm).
    pub canonical_px_per_mm: f64,
    /// All measured zones pooled; null when none was measured.
    pub face: Option<PoreMetrics>,
    /// Per zone: metrics, or why the zone was not measured.
    pub zones: Vec<ZonePores>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZonePigment {
    /// The zone.
    pub zone: ZoneName,
    /// The colour of the zone's unaffected skin; null when not measured.
    pub colour: Option<SkinColour>,
    /// Spots in this zone; null when not measured (see `reason`).
    pub metrics: Option<PigmentMetrics>,
    /// Red lesions from the haemoglobin map (for contraindication checks);
    /// null below `RED_LESION_MIN_PX_PER_MM` (4 px/mm).
    pub redness: Option<pigment::Redness>,
    /// Why the zone was not measured; null when it was.
    pub reason: Option<String>,
    /// Share of the zone's measured skin (hair already left out) within
    /// 3 mm of a skin fold the face mesh locates (nasolabial, marionette,
    /// mentolabial, lower lid and infraorbital), %, left out of this zone's
    /// colour, spots and redness: in one photo a fold's shadow cannot be
    /// told from pigment. Null when the zone was not measured.
    #[serde(default)]
    pub fold_pct: Option<f64>,
    /// Share of the zone's measured skin turned further from the camera
    /// than the quality threshold `pigmentation_max_obliquity_deg` (50°),
    /// %, left out of this zone's colour, spots and redness (skin turned
    /// from the light reads as pigment). Null when the zone was not
    /// measured.
    #[serde(default)]
    pub turned_pct: Option<f64>,
}

impl ZonePigment {
    /// A zone that could not be measured, and why.
    fn refused(zone: ZoneName, why: String) -> Self {
        ZonePigment {
            zone,
            colour: None,
            metrics: None,
            redness: None,
            reason: Some(why),
            fold_pct: None,
            turned_pct: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MmasiRegion {
    /// The zone that stands for this mMASI region.
    pub zone: ZoneName,
    /// The region's mMASI weight (0.3 forehead and each malar region, 0.1
    /// chin).
    pub weight: f64,
    /// Area grade 0–6 from the pigmented share (0: none, 1: < 10 %, 2: 10–29 %,
    /// … 6: 90–100 %).
    pub area_grade: u8,
    /// Darkness grade 0–4 from the spots' mean ΔL* against the zone's skin.
    pub darkness_grade: u8,
}

/// mMASI-style estimate: Σ weight · area grade (0–6) · darkness grade (0–4)
/// over forehead 0.3, right malar 0.3, left malar 0.3, chin 0.1; 0–24.
/// An estimate from one photo, not a clinician's mMASI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MmasiEstimate {
    /// Σ weight · area grade · darkness grade, 0–24.
    pub value: f64,
    /// Each region's grades.
    pub regions: Vec<MmasiRegion>,
    /// Always true: an estimate from one photo, not a clinician's mMASI.
    pub estimate: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PigmentReport {
    /// True when at least one zone was measured.
    pub measured: bool,
    /// Why nothing was measured.
    pub reason: Option<String>,
    /// The photo's scale must be at least this (px/mm) for pigmentation.
    pub min_px_per_mm: f64,
    /// The resolution the pigment model sees (px/mm).
    pub canonical_px_per_mm: f64,
    /// Spots smaller than this (mm²) are not counted.
    pub min_spot_area_mm2: f64,
    /// How lighting and colour are neutralised.
    pub normalisation: String,
    /// Unaffected skin over all zones.
    pub colour: Option<SkinColour>,
    /// Whether the photo's colours went through a device profile's colour
    /// correction (`colour_matrix`) before they were read. Without it the
    /// camera's exposure and white balance move L*, b* and ITA by tens of
    /// degrees (a Fitzpatrick V–VI face among the shared photos reads 40°,
    /// "intermediate"), so ITA cannot rule out a darker skin type.
    #[serde(default)]
    pub colour_calibrated: bool,
    /// All measured zones pooled; null when none was measured.
    pub face: Option<PigmentMetrics>,
    /// An mMASI-style estimate (0–24; forehead and each cheek weighted 0.3,
    /// chin 0.1); null unless all four zones were measured.
    pub mmasi: Option<MmasiEstimate>,
    /// 0–100 from the mMASI estimate (value / 24 · 100).
    pub mmasi_severity: Option<Score>,
    /// Per zone: colour, metrics, or why the zone was not measured.
    pub zones: Vec<ZonePigment>,
}

/// How a scar depth was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DepthMode {
    /// From a multi-light capture: photometric stereo and integration.
    Measured,
    /// From one photo's shading, by the scar model.
    Estimated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZoneScars {
    /// The zone.
    pub zone: ZoneName,
    /// Null when this zone could not be measured; see `reason`.
    pub metrics: Option<ScarMetrics>,
    /// Why the zone was not measured; null when it was.
    pub reason: Option<String>,
    /// The fill light and shine fitted to a multi-light set's readings of
    /// this zone. Null for one photo, for sets of fewer than five lights,
    /// and in records before schema 2.6.0.
    #[serde(default)]
    pub reflectance: Option<ZoneReflectance>,
    /// Whether the depressions a multi-light set found hold with each photo
    /// left out. Null for one photo, for sets of three lights (nothing to
    /// leave out), when nothing was found, and before schema 3.2.0.
    #[serde(default)]
    pub light_check: Option<LightCheck>,
}

/// Ambient fill and shine fitted to a multi-light set's readings of a zone
/// (one of each for the zone) and taken out of every reading before the
/// normals are solved for: fill light reaches every photo alike, and skin's
/// shine rises in the photos whose light a slope faces, which would read
/// its walls steep and its scars deep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZoneReflectance {
    /// Ambient fill as a share of the light each LED gives the skin at its
    /// calibrated intensity (0 = none).
    #[schemars(range(min = 0.0))]
    pub ambient_share: f64,
    /// Height of the shine's Blinn–Phong lobe, in linear reading units per
    /// unit of the light's relative irradiance.
    #[schemars(range(min = 0.0))]
    pub shine: f64,
    /// The lobe's Blinn–Phong exponent (larger is narrower).
    pub shininess: f64,
    /// Whether the fill and shine were taken out. False when the fit needed
    /// an ambient share above 0.08, which says that the readings do not fit
    /// the lights as declared (positions or intensities off, or a photo
    /// moved): the relief was then read without them, and the capture's
    /// light calibration deserves a check.
    pub taken_out: bool,
}

impl From<relief::FittedReflectance> for ZoneReflectance {
    fn from(f: relief::FittedReflectance) -> Self {
        let round = |v: f64| (v * 1e4).round() / 1e4;
        ZoneReflectance {
            ambient_share: round(f.fitted.ambient),
            shine: round(f.fitted.shine),
            shininess: f.fitted.shininess,
            taken_out: f.taken_out,
        }
    }
}

/// The photos of a multi-light capture that measured the relief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CaptureReport {
    /// The capture set's name (its folder).
    pub capture_set: String,
    /// Its photos, the first being the one whose light is nearest the
    /// camera's axis.
    pub photos: Vec<CapturePhoto>,
    /// What the zones, pores and pigmentation were read from. Absent from
    /// records before schema 2.2.0 (then the first photo).
    #[serde(default)]
    pub analysed_image: SetImage,
    /// The pixel (x, y) taken as where the camera's optical axis meets the
    /// skin: near lights are placed relative to it. Absent from records
    /// before schema 2.2.0, which had distant lights only.
    #[serde(default)]
    pub optical_centre_px: Option<[f64; 2]>,
}

/// The image of a capture set the rest of the analysis reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SetImage {
    /// The first photo: its light is within 30° of the camera's axis.
    #[default]
    FirstPhoto,
    /// Every photo aligned and averaged in linear light (each divided by
    /// its light's brightness): no light is frontal, and one side-lit
    /// photo's shading gradient would read as pigment.
    AllLightsAverage,
}

fn unit_intensity() -> f64 {
    1.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CapturePhoto {
    /// The photo's path as given (or its pseudonym).
    pub path: String,
    /// SHA-256 of the file (hex); null when not computed.
    pub sha256: Option<String>,
    /// Unit direction towards the light: x right, y down, z towards the
    /// camera; for a near light, from where the optical axis meets the skin.
    pub light_dir: [f64; 3],
    /// A near light's position, mm, from where the optical axis meets the
    /// skin (x right, y down, z towards the camera); null for a distant
    /// light.
    #[serde(default)]
    pub light_pos_mm: Option<[f64; 3]>,
    /// The light's brightness relative to the set's others (1 unless
    /// calibrated); readings are divided by it.
    #[serde(default = "unit_intensity")]
    pub intensity: f64,
    /// Share of the zones' skin blown out in this photo, %: its readings
    /// there are left out (a side-lit photo is partly clipped or dark by
    /// nature; the others measure that skin).
    #[serde(default)]
    pub clipped_pct: f64,
    /// Share of the zones' skin crushed black in this photo, %: treated as
    /// shadowed there.
    #[serde(default)]
    pub dark_pct: f64,
    /// Where this photo's content sits relative to the first photo's, in
    /// pixels (found by phase correlation and undone before measuring).
    pub shift_px: [f64; 2],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScarReport {
    /// True when numbers were produced (whatever the depth mode).
    pub measured: bool,
    /// Why nothing was measured.
    pub reason: Option<String>,
    /// `measured` (multi-light capture) or `estimated` (one photo); null
    /// when nothing was measured.
    pub depth_mode: Option<DepthMode>,
    /// One scar's depth error (one SD, mm) in this mode, from the
    /// evaluation on held-out renders (`dermascore evaluate scars`).
    pub depth_uncertainty_mm: Option<f64>,
    /// The photo's scale must be at least this (px/mm) for acne scars.
    pub min_px_per_mm: f64,
    /// The resolution the relief was measured at.
    pub canonical_px_per_mm: Option<f64>,
    /// Depressions shallower than this are skin texture, not scars (in
    /// measured mode the threshold also rises with the height map's noise).
    pub min_depth_mm: f64,
    /// The multi-light capture set measured from (its photos, lights and shifts); null for one photo.
    pub capture: Option<CaptureReport>,
    /// All measured zones pooled; null when none was measured.
    pub face: Option<ScarMetrics>,
    /// Per zone: metrics, or why the zone was not measured.
    pub zones: Vec<ZoneScars>,
}

/// What the overlays draw: findings in image coordinates and chromophore maps.
#[derive(Default)]
pub struct OverlayData {
    /// Pore centre and radius, image pixels.
    pub pores: Vec<(f32, f32, f32)>,
    /// Scar centre and radius (equivalent circle), image pixels.
    pub scars: Vec<(f32, f32, f32)>,
    /// Boundary cells of each spot (centre, image pixels) and the cell size.
    pub spots: Vec<(Vec<(f32, f32)>, f32)>,
    /// Hair cells (centre, image pixels) of each zone and the cell size.
    pub hair: Vec<(Vec<(f32, f32)>, f32)>,
    /// Cells covered by objects (centre, image pixels) of each zone and the
    /// cell size.
    pub objects: Vec<(Vec<(f32, f32)>, f32)>,
    /// Cells under strong glare (centre, image pixels) of each zone and the
    /// cell size.
    pub sheen: Vec<(Vec<(f32, f32)>, f32)>,
    /// Cells left out of the pigmentation (skin folds, skin turned too far;
    /// centre, image pixels) of each zone and the cell size.
    pub folds: Vec<(Vec<(f32, f32)>, f32)>,
    pub maps: Vec<ChromophoreTile>,
    /// Each zone's measured relief (multi-light capture sets only).
    pub relief: Vec<ReliefTile>,
    /// Zones the quality check left out of every measurement (clipped,
    /// turned away), and zones no measurement read: outlined, not tinted.
    pub left_out: Vec<crate::zones::ZoneName>,
}

/// One zone's relief from a multi-light capture: depth below the local
/// skin surface (mm, positive where depressed), on the zone's patch grid.
pub struct ReliefTile {
    pub map: Affine,
    pub width: u32,
    pub height: u32,
    /// NaN where not measured (outside the zone, or no normal).
    pub depth_mm: Vec<f32>,
}

pub struct ChromophoreTile {
    pub map: Affine,
    pub width: u32,
    pub height: u32,
    pub mask: Vec<bool>,
    pub melanin: Vec<f32>,
    pub haemoglobin: Vec<f32>,
}

pub struct Measurements {
    pub pores: PoreReport,
    pub pigmentation: PigmentReport,
    pub acne_scars: ScarReport,
    /// Each zone's share covered by hair, objects and glare.
    pub shares: Shares,
    /// Milliseconds spent on pores, pigmentation and acne scars.
    pub ms: [f64; 3],
    pub overlay: OverlayData,
}

const NORMALISATION: &str = "each zone is converted to linear RGB and divided by that zone's interquartile mean (mean of the middle half of its values) per channel before segmentation, which cancels exposure and white balance (gains in linear light) exactly; clipped pixels are left out; contrasts (ΔL*, Δmelanin) are against the same zone's unaffected skin";

/// What every measurement reads: the photo (as a pyramid), its zones, its
/// physical scale, what the quality stage allows, and the thresholds.
#[derive(Clone, Copy)]
pub struct MeasureInput<'a> {
    pub pyramid: &'a Pyramid<'a>,
    pub zones: &'a [ZoneMask],
    /// Required for physical units; without it the reports say why and
    /// hold no numbers.
    pub scale: Option<PxPerMm>,
    pub quality: &'a QualityReport,
    pub thresholds: &'a crate::quality::Thresholds,
}

impl MeasureInput<'_> {
    /// The scale to measure with, or why there is nothing to measure:
    /// `also_blocked` first, then the quality stage's verdict for this
    /// measurement (`usable`), then a missing scale.
    /// Why a zone cannot give pores or relief (left out, or blurred).
    fn texture_refusal(&self, zone: ZoneName) -> Option<String> {
        self.quality
            .zones
            .iter()
            .find(|q| q.zone == zone)
            .and_then(|q| q.texture_refusal(self.thresholds))
    }

    fn gate(&self, usable: &Usability, also_blocked: Option<String>) -> Result<PxPerMm, String> {
        if let Some(why) = also_blocked {
            return Err(why);
        }
        if !usable.usable {
            return Err(usable.reasons.join("; "));
        }
        self.scale.ok_or_else(|| "no physical scale".into())
    }
}

/// A zone at a canonical scale with clipped pixels left out, or why it
/// cannot be measured.
fn zone_patch(
    input: &MeasureInput,
    zone: &ZoneMask,
    scale: PxPerMm,
    canonical: f64,
    hair: Option<&hair::HairMap>,
) -> Result<CanonicalPatch, String> {
    // A zone the photo's quality check left out (e.g. glare on one cheek).
    if let Some(why) = input
        .quality
        .zones
        .iter()
        .find(|q| q.zone == zone.name)
        .and_then(|q| q.reason.clone())
    {
        return Err(why);
    }
    let mut patch = CanonicalPatch::from_zone(input.pyramid, zone, scale, canonical)
        .ok_or("zone has no pixels")?;
    patch.exclude_clipped();
    if let Some(hair) = hair {
        patch.exclude(&hair.on(&patch));
    }
    let cm2 = patch.area_mm2() / 100.0;
    if cm2 < MIN_ZONE_AREA_CM2 {
        return Err(format!(
            "only {cm2:.2} cm² of the zone is visible and unclipped (minimum {MIN_ZONE_AREA_CM2})"
        ));
    }
    Ok(patch)
}

/// Zone patches made once and shared by the measurements that resample at
/// the same scale (pigmentation and the scar model, both at 4 px/mm).
#[derive(Default)]
struct PatchCache {
    made: std::collections::HashMap<(usize, u64), Result<CanonicalPatch, String>>,
    /// Each zone's hair and objects once `hair_pass` found them: patches
    /// made after that leave them out.
    hair: std::collections::HashMap<usize, hair::HairMap>,
    /// Each zone's pixel colours at the pigment resolution, once pigmentation
    /// computed them.
    colours: std::collections::HashMap<usize, pigment::PixelColour>,
}

impl PatchCache {
    fn get(
        &mut self,
        input: &MeasureInput,
        i: usize,
        scale: PxPerMm,
        canonical: f64,
    ) -> Result<&CanonicalPatch, String> {
        let hair = self.hair.get(&i);
        self.made
            .entry((i, canonical.to_bits()))
            .or_insert_with(|| zone_patch(input, &input.zones[i], scale, canonical, hair))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl PatchCache {
    /// A patch `get` made before (or why it could not be made).
    fn made(&self, i: usize, canonical: f64) -> Result<&CanonicalPatch, String> {
        match self.made.get(&(i, canonical.to_bits())) {
            Some(Ok(p)) => Ok(p),
            Some(Err(why)) => Err(why.clone()),
            None => Err("zone not resampled".into()),
        }
    }
}

/// Zones whose skin is bare enough to be the reference `hair` compares with.
const BARE_SKIN_ZONES: [ZoneName; 4] = [
    ZoneName::Nose,
    ZoneName::RightCheek,
    ZoneName::LeftCheek,
    ZoneName::Patch,
];

/// Each zone's share of measured skin (%) covered by hair, by objects and
/// by glare, each left out of every measurement; empty without a scale.
#[derive(Default)]
pub struct Shares {
    /// Hair (`hair`).
    pub hair_pct: Vec<(ZoneName, f64)>,
    /// An object or something else that is not skin-coloured (`objects`).
    pub object_pct: Vec<(ZoneName, f64)>,
    /// Strong glare (`objects::Cover::sheen`).
    pub sheen_pct: Vec<(ZoneName, f64)>,
}

/// A zone's share in per-zone shares (`Measurements::hair_pct`,
/// `object_pct`); `None` for a zone that has none (not measured).
pub fn share_of(shares: &[(ZoneName, f64)], zone: ZoneName) -> Option<f64> {
    shares.iter().find(|(z, _)| *z == zone).map(|&(_, pct)| pct)
}

/// Finds bare skin's colour (nose and cheeks at the pigment resolution),
/// then makes every zone's patch with its hair and the objects over it left
/// out (the measurements that follow read these patches, or make theirs
/// with the same reference), and returns each zone's hair and object
/// shares. Nothing without a scale.
fn hair_pass(input: &MeasureInput, patches: &mut PatchCache, overlay: &mut OverlayData) -> Shares {
    let Some(scale) = input.scale else {
        return Default::default();
    };
    let canonical = pigment::CANONICAL_PX_PER_MM;
    let key = |i: usize| (i, canonical.to_bits());
    // Every zone's patch first, with its hair still in.
    for i in 0..input.zones.len() {
        let _ = patches.get(input, i, scale, canonical);
    }
    let skin = {
        let bare: Vec<&CanonicalPatch> = input
            .zones
            .iter()
            .enumerate()
            .filter(|(_, z)| BARE_SKIN_ZONES.contains(&z.name))
            .filter_map(|(i, _)| patches.made.get(&key(i))?.as_ref().ok())
            .collect();
        match hair::SkinReference::of(&bare) {
            Some(s) => s,
            None => return Default::default(),
        }
    };
    let (mut hair_pct, mut object_pct, mut sheen_pct) = (Vec::new(), Vec::new(), Vec::new());
    for (i, zone) in input.zones.iter().enumerate() {
        let Some(Ok(patch)) = patches.made.get_mut(&key(i)) else {
            continue;
        };
        let strands = !zone.name.is_under_eye();
        let hair = hair::mask(patch, &skin, strands);
        // Around the mouth the lips' and nostrils' dark borders are not
        // hair (under the eyes the lashes along the rim are). (Also leaving
        // out hair along the creases under the lower lip took a third of
        // the beard from the upper lips of tones/037_03 and bioskin/2.jpg.)
        let hair = if zone.name == ZoneName::Perioral {
            hair::mostly_beyond(&hair, &hair::hole_rim(patch), patch)
        } else {
            hair
        };
        // Not under the eyes: the lower lid's skin is bluish grey against
        // the cheeks' on dark skin (tones/042_03 read a fifth "object"), and
        // nothing is held there.
        let objects::Cover { objects, sheen } = if zone.name.is_under_eye() {
            objects::Cover {
                objects: vec![false; patch.mask.len()],
                sheen: vec![false; patch.mask.len()],
            }
        } else {
            objects::mask(patch, &skin)
        };
        // A dark beard is also "not skin-coloured": hair it is, where the
        // hair mask takes it.
        let objects: Vec<bool> = objects.iter().zip(&hair).map(|(&o, &h)| o && !h).collect();
        let sheen: Vec<bool> = sheen.iter().zip(&hair).map(|(&s, &h)| s && !h).collect();
        let measured = patch.mask_pixels().max(1) as f64;
        let pct = |m: &[bool]| {
            (1000.0 * m.iter().filter(|&&h| h).count() as f64 / measured).round() / 10.0
        };
        hair_pct.push((zone.name, pct(&hair)));
        object_pct.push((zone.name, pct(&objects)));
        sheen_pct.push((zone.name, pct(&sheen)));
        overlay
            .hair
            .push((patch.image_points(&hair), patch.map.scale()));
        overlay
            .objects
            .push((patch.image_points(&objects), patch.map.scale()));
        overlay
            .sheen
            .push((patch.image_points(&sheen), patch.map.scale()));
        // One map of what is not bare skin: the pores, at their own
        // resolution, leave out all three.
        let covered: Vec<bool> = (0..hair.len())
            .map(|i| hair[i] || objects[i] || sheen[i])
            .collect();
        patch.exclude(&covered);
        patches.hair.insert(i, hair::HairMap::new(patch, covered));
        let Some(Ok(patch)) = patches.made.get(&key(i)) else {
            continue;
        };
        let cm2 = patch.area_mm2() / 100.0;
        if cm2 < MIN_ZONE_AREA_CM2 {
            patches.made.insert(
                key(i),
                Err(format!(
                    "only {cm2:.2} cm² of the zone is bare skin (hair or an object covers the rest; minimum {MIN_ZONE_AREA_CM2})"
                )),
            );
        }
    }
    Shares {
        hair_pct,
        object_pct,
        sheen_pct,
    }
}

/// Pigmentation alone, for evaluating its lighting residual on a fixed
/// face geometry (see `Analyzer::pigmentation_on_fixed_geometry`).
pub fn pigmentation_only(
    models: &mut SkinModels,
    input: &MeasureInput,
) -> Result<PigmentReport, InputError> {
    let (mut patches, mut overlay) = (PatchCache::default(), OverlayData::default());
    let shares = hair_pass(input, &mut patches, &mut overlay);
    measure_pigment(models, input, &mut patches, &shares.hair_pct, &mut overlay)
}

fn run_error(what: &str) -> impl Fn(ort::Error) -> InputError + '_ {
    move |e| InputError::new(ErrorCode::InferenceFailed, format!("{what}: {e}"))
}

/// Measures every zone. Without a scale, or where quality forbids, the
/// reports say why and hold no numbers.
pub fn measure(
    models: &mut SkinModels,
    input: &MeasureInput,
    capture: Option<Result<&Capture, &str>>,
) -> Result<Measurements, InputError> {
    let mut overlay = OverlayData {
        left_out: input
            .quality
            .zones
            .iter()
            .filter(|q| q.reason.is_some())
            .map(|q| q.zone)
            .collect(),
        ..OverlayData::default()
    };
    // A zone left out for glare shows its glare as the measured zones show
    // theirs: a white stipple, on cells of the pigment's 4 px/mm.
    let step = input.scale.map_or(1, |s| {
        (s.get() / pigment::CANONICAL_PX_PER_MM).round().max(1.0) as u32
    });
    for q in input
        .quality
        .zones
        .iter()
        .filter(|q| !q.glare_pixels.is_empty())
    {
        let cells: Vec<(f32, f32)> = q
            .glare_pixels
            .iter()
            .filter(|&&(x, y)| x % step == 0 && y % step == 0)
            .map(|&(x, y)| (x as f32, y as f32))
            .collect();
        overlay.sheen.push((cells, step as f32));
    }
    let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1000.0;
    let mut patches = PatchCache::default();
    let shares = hair_pass(input, &mut patches, &mut overlay);
    let hair_pct = &shares.hair_pct;
    let t = std::time::Instant::now();
    let pores = measure_pores(models, input, &patches.hair, hair_pct, &mut overlay)?;
    let pores_ms = ms(t);
    let t = std::time::Instant::now();
    let pigmentation = measure_pigment(models, input, &mut patches, hair_pct, &mut overlay)?;
    let pigmentation_ms = ms(t);
    let t = std::time::Instant::now();
    let acne_scars = measure_scars(models, input, capture, &mut patches, &mut overlay)?;
    // A zone that no measurement read (hair over a fifth of it, say: its
    // colour alone was read) is drawn as left out, not tinted as measured.
    for zone in input.zones.iter().map(|z| z.name) {
        let read = pores
            .zones
            .iter()
            .any(|z| z.zone == zone && z.metrics.is_some())
            || pigmentation
                .zones
                .iter()
                .any(|z| z.zone == zone && z.metrics.is_some())
            || acne_scars
                .zones
                .iter()
                .any(|z| z.zone == zone && z.metrics.is_some());
        if !read && !overlay.left_out.contains(&zone) {
            overlay.left_out.push(zone);
        }
    }
    Ok(Measurements {
        pores,
        pigmentation,
        acne_scars,
        shares,
        ms: [pores_ms, pigmentation_ms, ms(t)],
        overlay,
    })
}

fn measure_pores(
    models: &mut SkinModels,
    input: &MeasureInput,
    hair: &std::collections::HashMap<usize, hair::HairMap>,
    hair_pct: &[(ZoneName, f64)],
    overlay: &mut OverlayData,
) -> Result<PoreReport, InputError> {
    let t = input.thresholds;
    let mut report = PoreReport {
        measured: false,
        reason: None,
        detection_threshold_mm: pores::DETECTION_THRESHOLD_MM,
        min_px_per_mm: t.pores_min_px_per_mm,
        canonical_px_per_mm: pores::CANONICAL_PX_PER_MM,
        face: None,
        zones: Vec::new(),
    };
    let scale = match input.gate(&input.quality.usable.pores, None) {
        Ok(s) => s,
        Err(why) => {
            report.reason = Some(why);
            return Ok(report);
        }
    };
    let mut samples = Vec::new();
    for (i, zone) in input.zones.iter().enumerate() {
        let refusal = pores::zone_refusal(zone.name, share_of(hair_pct, zone.name))
            .or_else(|| input.texture_refusal(zone.name));
        if let Some(why) = refusal {
            report.zones.push(ZonePores {
                zone: zone.name,
                metrics: None,
                reason: Some(why),
            });
            continue;
        }
        let patch = match zone_patch(input, zone, scale, pores::CANONICAL_PX_PER_MM, hair.get(&i)) {
            Ok(p) => p,
            Err(why) => {
                report.zones.push(ZonePores {
                    zone: zone.name,
                    metrics: None,
                    reason: Some(why),
                });
                continue;
            }
        };
        let prob =
            segment::probability_tiled(&mut models.pores, &patch, pores::REFERENCE, pores::TILING)
                .map_err(run_error("pore model"))?;
        let comps = segment::components(
            &prob,
            &patch.mask,
            patch.width,
            patch.height,
            pores::PROBABILITY_THRESHOLD,
        );
        let sample = PoreSample::from_components(&patch, &comps);
        for c in comps
            .iter()
            .filter(|c| patch.pixels_mm2(&c.pixels) >= pores::MIN_AREA_MM2)
        {
            let (x, y) = patch.map.apply(c.centroid.0 - 0.5, c.centroid.1 - 0.5);
            let r = (f64::from(c.area_px) / std::f64::consts::PI).sqrt() as f32 * patch.map.scale();
            overlay.pores.push((x, y, r));
        }
        report.zones.push(ZonePores {
            zone: zone.name,
            metrics: Some(sample.metrics()),
            reason: None,
        });
        samples.push(sample);
    }
    if !samples.is_empty() {
        let refs: Vec<&PoreSample> = samples.iter().collect();
        report.face = Some(PoreSample::merge(&refs).metrics());
        report.measured = true;
    } else {
        report.reason = Some("no zone large enough to measure".into());
    }
    Ok(report)
}

/// A multi-light capture ready to measure: the first photo's pyramid is the
/// one the rest of the analysis uses; every photo's light and its shift
/// relative to the first.
pub struct Capture<'a> {
    pub report: CaptureReport,
    pub pyramids: Vec<&'a Pyramid<'a>>,
    pub lights: Vec<crate::capture::Light>,
    pub shifts: Vec<(f32, f32)>,
    /// The pixel the camera's optical axis passes through, which places
    /// the photos in the capture frame for near lights.
    pub optical_centre_px: [f32; 2],
}

/// Places image pixels in the capture frame (mm from where the optical axis
/// meets the skin), so that a near light's direction and fall-off can be
/// worked out at each pixel.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// The pixel the optical axis passes through.
    pub optical_centre_px: [f32; 2],
    /// The photo's scale at the skin.
    pub px_per_mm: f64,
}

impl Frame {
    fn position(&self, image_xy: (f32, f32), height_mm: f32) -> [f32; 3] {
        let s = self.px_per_mm as f32;
        [
            (image_xy.0 - self.optical_centre_px[0]) / s,
            (image_xy.1 - self.optical_centre_px[1]) / s,
            height_mm,
        ]
    }
}

/// Below this share of a zone with a normal (three or more usable lights),
/// the zone's relief is not measured: what is left is the scattered lit
/// part of a mostly dark or clipped set.
pub const MIN_RELIEF_SHARE: f64 = 0.5;

/// One patch's relief from a multi-light capture.
pub struct MeasuredRelief {
    /// Scars, centres in patch pixels.
    pub scars: Vec<scars::Scar>,
    /// Which patch pixels got a normal.
    pub valid: Vec<bool>,
    /// The share of the zone's pixels that got one.
    pub valid_share: f64,
    /// The height map (mm, mean zero), patch pixels.
    pub height_mm: Vec<f32>,
    /// The fill and shine fitted to the set (none with fewer than five lights).
    pub reflectance: Option<relief::FittedReflectance>,
    /// Whether the depressions found hold with each photo left out (sets of
    /// four or more lights that found any).
    pub light_check: Option<LightCheck>,
}

/// A depression found with every photo of a multi-light set must still be
/// there, at least this share of its depth, with any one photo left out.
/// Real relief shades every photo consistently; one photo that does not fit
/// the set (moved, another day or person, dark over part of the skin)
/// makes depressions that vanish without it. Four lights leave each
/// three-light subset; three lights leave nothing to check with.
pub const LEAVE_ONE_OUT_KEEP: f64 = 0.5;

/// What leaving each photo of a multi-light set out did to the depressions
/// found with all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LightCheck {
    /// Depressions found with every photo that kept under half their depth
    /// with one photo left out: not counted as scars. Any at all says that a
    /// photo does not fit the set (it moved, is of another sitting, or is
    /// badly exposed over part of the skin), so the zone's scars set no
    /// needle depth.
    pub depressions_dropped: u64,
    /// The photo (0-based, in `capture.photos` order) that the others,
    /// solved without it, predict worst: the likely misfit; null when no
    /// depression was dropped.
    pub photo_not_fitting: Option<usize>,
    /// The photos that could be left out (a subset whose lights are too
    /// close to coplanar cannot be read).
    pub photos_checked: u64,
}

/// Keeps the scars of `found` that hold with each photo left out in turn.
#[allow(clippy::too_many_arguments)]
fn leave_one_out(
    planes: &[relief::Plane],
    lights: &[crate::capture::Light],
    reflectance: &relief::Reflectance,
    positions: Option<&[[f32; 3]]>,
    found: Vec<scars::Scar>,
    w: usize,
    h: usize,
    px_per_mm: f64,
) -> (Vec<scars::Scar>, LightCheck) {
    // Which photo the others predict worst: the likely misfit.
    let mut misfit = vec![f64::NEG_INFINITY; lights.len()];
    let mut keep = vec![true; found.len()];
    let mut checked = 0;
    for j in 0..lights.len() {
        let others = |i: &usize| *i != j;
        let sub_lights: Vec<_> = (0..lights.len())
            .filter(others)
            .map(|i| lights[i])
            .collect();
        let sub_planes: Vec<_> = (0..planes.len())
            .filter(others)
            .map(|i| planes[i].clone())
            .collect();
        let field = match positions {
            Some(p) => relief::LightField::new(&sub_lights, p.to_vec()),
            None => relief::LightField::distant(&sub_lights),
        };
        let Ok(normals) = relief::photometric_stereo(&sub_planes, &field, reflectance) else {
            continue;
        };
        checked += 1;
        let alone = [lights[j]];
        let light_j = match positions {
            Some(p) => relief::LightField::new(&alone, p.to_vec()),
            None => relief::LightField::distant(&alone),
        };
        if let Some(e) = relief::misfit(&normals, &planes[j], &light_j) {
            misfit[j] = e;
        }
        let depth =
            scars::depth_below_surface(&relief::integrate(&normals, px_per_mm), w, h, px_per_mm);
        for (s, kept) in found.iter().zip(&mut keep) {
            // Where the photos left cannot solve the scar's skin (the one
            // left out was the third usable light there), they cannot judge it.
            let without = scars::deepest_near(s, &depth, &normals.valid, w, h, px_per_mm);
            if without.is_some_and(|d| d < LEAVE_ONE_OUT_KEEP * s.depth_mm) {
                *kept = false;
            }
        }
    }
    let dropped = keep.iter().filter(|k| !**k).count() as u64;
    let photo_not_fitting = (dropped > 0)
        .then(|| {
            misfit
                .iter()
                .enumerate()
                .filter(|(_, e)| e.is_finite())
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(j, _)| j)
        })
        .flatten();
    let kept = found
        .into_iter()
        .zip(keep)
        .filter_map(|(s, k)| k.then_some(s))
        .collect();
    (
        kept,
        LightCheck {
            depressions_dropped: dropped,
            photo_not_fitting,
            photos_checked: checked,
        },
    )
}

/// Scars of one patch from a multi-light capture: each photo resampled on
/// the patch's grid (displaced by its shift), photometric stereo,
/// integration to a height map, scars below the local surface. With near
/// lights the light at each pixel is worked out from its place in `frame`,
/// first on the plane through the axis, then once more on the height map
/// that gives (near-field photometric stereo's fixed-point iteration).
/// Only scars centred at least `scars::EDGE_MARGIN_MM` inside the zone, on
/// pixels that got a normal, count.
pub fn scars_measured(
    patch: &CanonicalPatch,
    pyramids: &[&Pyramid],
    shifts: &[(f32, f32)],
    lights: &[crate::capture::Light],
    frame: &Frame,
) -> Result<MeasuredRelief, relief::ReliefError> {
    let (w, h) = (patch.width as usize, patch.height as usize);
    let planes: Vec<relief::Plane> = pyramids
        .iter()
        .zip(shifts)
        .map(|(p, &shift)| patch.luminance_from(p, shift))
        .collect();
    let distant = relief::LightField::distant(lights);
    let near = distant.has_near();
    let place = |height: Option<&[f32]>| -> Vec<[f32; 3]> {
        (0..w * h)
            .map(|i| {
                let xy = patch.map.apply((i % w) as f32, (i / w) as f32);
                frame.position(xy, height.map_or(0.0, |z| z[i]))
            })
            .collect()
    };
    let field = if near {
        relief::LightField::new(lights, place(None))
    } else {
        distant
    };
    let fitted = relief::fit_reflectance(&planes, &field)?;
    let reflectance = fitted.map_or_else(relief::Reflectance::default, |f| f.correction());
    let mut normals = relief::photometric_stereo(&planes, &field, &reflectance)?;
    let mut height = relief::integrate(&normals, patch.px_per_mm);
    if near {
        let field = relief::LightField::new(lights, place(Some(&height)));
        normals = relief::photometric_stereo(&planes, &field, &reflectance)?;
        height = relief::integrate(&normals, patch.px_per_mm);
    }
    let inner = scars::inner(&patch.zone, w, h, patch.px_per_mm);
    let zone_pixels = patch.zone.iter().filter(|&&z| z).count();
    let valid_in_zone = patch
        .zone
        .iter()
        .zip(&normals.valid)
        .filter(|(&z, &v)| z && v)
        .count();
    let found: Vec<scars::Scar> = scars::find(&height, w, h, patch.px_per_mm)
        .into_iter()
        .filter(|s| scars::centred_in(s, &inner, w, h))
        .filter(|s| {
            let (x, y) = (
                s.centre_px.0.max(0.0) as usize,
                s.centre_px.1.max(0.0) as usize,
            );
            normals.valid[y.min(h - 1) * w + x.min(w - 1)]
        })
        .collect();
    let (found, light_check) = if lights.len() >= 4 && !found.is_empty() {
        let positions = near.then(|| place(Some(&height)));
        let (kept, check) = leave_one_out(
            &planes,
            lights,
            &reflectance,
            positions.as_deref(),
            found,
            w,
            h,
            patch.px_per_mm,
        );
        (kept, Some(check))
    } else {
        (found, None)
    };
    Ok(MeasuredRelief {
        light_check,
        scars: found,
        valid_share: valid_in_zone as f64 / zone_pixels.max(1) as f64,
        valid: normals.valid,
        height_mm: height,
        reflectance: fitted,
    })
}

/// Scars of one patch from one photo, by the scar model (at
/// `scars::CANONICAL_PX_PER_MM`). Centres in patch pixels; as in the
/// measured mode, only scars centred at least `scars::EDGE_MARGIN_MM`
/// inside the patch's mask count, and only those the photo's colour does
/// not explain otherwise (`scars::Evidence`). `None` when the patch has no
/// colour to tell a depression from pigment by (`scars::colourless`).
pub fn scars_estimated(
    session: &mut Session,
    patch: &CanonicalPatch,
    px: Option<&pigment::PixelColour>,
) -> ort::Result<Option<Vec<scars::Scar>>> {
    let made;
    let px = match px {
        Some(px) => px,
        None => {
            made = pigment::colours(patch);
            &made
        }
    };
    if scars::colourless(px, &patch.mask) {
        return Ok(None);
    }
    let (prob, depth) = segment::scar_relief(session, patch)?;
    let (w, h) = (patch.width as usize, patch.height as usize);
    let candidates = scars::from_mask(
        &prob,
        &depth,
        &patch.mask,
        w,
        h,
        patch.px_per_mm,
        scars::PROBABILITY_THRESHOLD,
    );
    // The zone's inner part only where there is something to place in it
    // (on most skin the model finds nothing).
    let inner = if candidates.is_empty() {
        Vec::new()
    } else {
        scars::inner(&patch.zone, w, h, patch.px_per_mm)
    };
    Ok(Some(candidates
    .into_iter()
    .filter(|(s, _)| scars::centred_in(s, &inner, w, h))
    .filter(|(s, region)| {
        let e = scars::Evidence::of(region, px, &prob, &patch.mask, w, h, patch.px_per_mm);
        // The candidates' evidence, for tuning against real photos
        // (docs/harm-on-real-skin.md).
        if std::env::var_os("DERMASCORE_DEBUG_SCARS").is_some() {
            eprintln!(
                "scar? depth {:.3} width {:.2} elong {:.2} ringsd {:.2} inside {:.2} dsh {:.3} dmel {:.3} dhb {:.3} dl {:.2} prob {:.2} kind {:?}",
                s.depth_mm, s.width_mm, e.elongation, e.ring_sd_l, e.ring_inside, e.delta_shading, e.delta_melanin, e.delta_haemoglobin, e.delta_l, e.mean_probability, s.kind
            );
        }
        e.accepts()
    })
    .map(|(s, _)| s)
    .collect()))
}

fn measure_scars(
    models: &mut SkinModels,
    input: &MeasureInput,
    capture: Option<Result<&Capture, &str>>,
    patches: &mut PatchCache,
    overlay: &mut OverlayData,
) -> Result<ScarReport, InputError> {
    let t = input.thresholds;
    let (capture, capture_failed) = match capture {
        Some(Ok(c)) => (Some(c), None),
        Some(Err(why)) => (None, Some(format!("capture set: {why}"))),
        None => (None, None),
    };
    let mode = if capture.is_some() {
        DepthMode::Measured
    } else {
        DepthMode::Estimated
    };
    let mut report = ScarReport {
        measured: false,
        reason: None,
        depth_mode: None,
        depth_uncertainty_mm: None,
        min_px_per_mm: t.scars_min_px_per_mm,
        canonical_px_per_mm: None,
        min_depth_mm: match mode {
            DepthMode::Measured => scars::MIN_DEPTH_MM,
            DepthMode::Estimated => scars::ESTIMATED_MIN_DEPTH_MM,
        },
        capture: capture.map(|c| c.report.clone()),
        face: None,
        zones: Vec::new(),
    };
    let scale = match input.gate(&input.quality.usable.acne_scars, capture_failed) {
        Ok(s) => s,
        Err(why) => {
            report.reason = Some(why);
            return Ok(report);
        }
    };
    let (canonical, uncertainty) = match mode {
        DepthMode::Measured => (
            scale.get().min(scars::MEASURED_MAX_PX_PER_MM),
            scars::MEASURED_DEPTH_UNCERTAINTY_MM,
        ),
        DepthMode::Estimated => (
            scars::CANONICAL_PX_PER_MM,
            scars::ESTIMATED_DEPTH_UNCERTAINTY_MM,
        ),
    };
    let mut samples = Vec::new();
    for (i, zone) in input.zones.iter().enumerate() {
        if let Some(why) = input.texture_refusal(zone.name) {
            report.zones.push(ZoneScars {
                zone: zone.name,
                metrics: None,
                reason: Some(why),
                reflectance: None,
                light_check: None,
            });
            continue;
        }
        let made = patches.get(input, i, scale, canonical).map(|_| ());
        let patch = match made.and_then(|()| patches.made(i, canonical)) {
            Ok(p) => p,
            Err(why) => {
                report.zones.push(ZoneScars {
                    zone: zone.name,
                    metrics: None,
                    reason: Some(why),
                    reflectance: None,
                    light_check: None,
                });
                continue;
            }
        };
        let mut area_mm2 = patch.area_mm2();
        let mut reflectance = None;
        let mut light_check = None;
        let found = match capture {
            Some(c) => match scars_measured(
                patch,
                &c.pyramids,
                &c.shifts,
                &c.lights,
                &Frame {
                    optical_centre_px: c.optical_centre_px,
                    px_per_mm: scale.get(),
                },
            ) {
                Ok(r) if r.valid_share < MIN_RELIEF_SHARE => {
                    report.zones.push(ZoneScars {
                        zone: zone.name,
                        metrics: None,
                        reason: Some(format!(
                            "only {:.0} % of the zone is lit usably by three or more of the set's lights (elsewhere too dark, shadowed or clipped); at least {:.0} % is needed",
                            100.0 * r.valid_share,
                            100.0 * MIN_RELIEF_SHARE
                        )),
                        reflectance: None,
                        light_check: None,
                    });
                    continue;
                }
                Ok(r) => {
                    // The relief's own coverage, not the first photo's
                    // exposure, says which skin was measured.
                    let measured: Vec<bool> = patch
                        .zone
                        .iter()
                        .zip(&r.valid)
                        .map(|(&z, &v)| z && v)
                        .collect();
                    area_mm2 = patch.area_where_mm2(&measured);
                    reflectance = r.reflectance.map(ZoneReflectance::from);
                    light_check = r.light_check;
                    let (w, h) = (patch.width as usize, patch.height as usize);
                    let depth = scars::depth_below_surface(&r.height_mm, w, h, patch.px_per_mm);
                    overlay.relief.push(ReliefTile {
                        map: patch.map,
                        width: patch.width,
                        height: patch.height,
                        depth_mm: depth
                            .iter()
                            .zip(&measured)
                            .map(|(&d, &m)| if m { d as f32 } else { f32::NAN })
                            .collect(),
                    });
                    r.scars
                }
                Err(e) => {
                    report.zones.clear();
                    report.reason = Some(format!("capture set: {e}"));
                    return Ok(report);
                }
            },
            None => {
                match scars_estimated(&mut models.scars, patch, patches.colours.get(&i))
                    .map_err(run_error("scar model"))?
                {
                    Some(found) => found,
                    None => {
                        report.zones.clear();
                        report.reason = Some(format!(
                        "the skin has no colour (median chroma below {} C*ab: a greyscale, specular-only or UV image): one photo cannot tell a depression from pigment without it",
                        scars::MIN_SKIN_CHROMA
                    ));
                        return Ok(report);
                    }
                }
            }
        };
        // Centres to image pixels for the record and the overlay.
        let found: Vec<scars::Scar> = found
            .into_iter()
            .map(|mut s| {
                // Its area on the face's surface (its width stays as seen).
                let (cx, cy) = (
                    s.centre_px.0.max(0.0) as usize,
                    s.centre_px.1.max(0.0) as usize,
                );
                s.area_mm2 *= patch.surface_factor(cy * patch.width as usize + cx);
                let (x, y) = patch
                    .map
                    .apply(s.centre_px.0 as f32 - 0.5, s.centre_px.1 as f32 - 0.5);
                s.centre_px = (f64::from(x), f64::from(y));
                overlay
                    .scars
                    .push((x, y, (s.width_mm / 2.0 * scale.get()) as f32));
                s
            })
            .collect();
        let sample = ScarSample {
            scars: found,
            area_mm2,
        };
        report.zones.push(ZoneScars {
            zone: zone.name,
            metrics: Some(sample.metrics(uncertainty)),
            reason: None,
            reflectance,
            light_check,
        });
        samples.push(sample);
    }
    if samples.is_empty() {
        report.reason = Some("no zone large enough to measure".into());
        return Ok(report);
    }
    let refs: Vec<&ScarSample> = samples.iter().collect();
    report.face = Some(ScarSample::merge(&refs).metrics(uncertainty));
    report.measured = true;
    report.depth_mode = Some(mode);
    report.depth_uncertainty_mm = Some(uncertainty);
    report.canonical_px_per_mm = Some(canonical);
    Ok(report)
}

fn measure_pigment(
    models: &mut SkinModels,
    input: &MeasureInput,
    patches: &mut PatchCache,
    hair_pct: &[(ZoneName, f64)],
    overlay: &mut OverlayData,
) -> Result<PigmentReport, InputError> {
    let t = input.thresholds;
    let mut report = PigmentReport {
        measured: false,
        reason: None,
        min_px_per_mm: t.pigmentation_min_px_per_mm,
        canonical_px_per_mm: pigment::CANONICAL_PX_PER_MM,
        min_spot_area_mm2: pigment::MIN_SPOT_AREA_MM2,
        normalisation: NORMALISATION.into(),
        colour: None,
        colour_calibrated: false,
        face: None,
        mmasi: None,
        mmasi_severity: None,
        zones: Vec::new(),
    };
    let scale = match input.gate(&input.quality.usable.pigmentation, None) {
        Ok(s) => s,
        Err(why) => {
            report.reason = Some(why);
            return Ok(report);
        }
    };
    let mut samples = Vec::new();
    let mut colours = Vec::new();
    for (i, zone) in input.zones.iter().enumerate() {
        let patch = match patches.get(input, i, scale, pigment::CANONICAL_PX_PER_MM) {
            Ok(p) => p,
            Err(why) => {
                report.zones.push(ZonePigment::refused(zone.name, why));
                continue;
            }
        };
        let prob = segment::probability(&mut models.pigment, patch, pigment::INPUT)
            .map_err(run_error("pigment model"))?;
        // The colours of the whole patch (the scar evidence reads them,
        // folds included); the pigmentation reads them outside the folds.
        let px = pigment::colours(patch);
        // Left out of the pigmentation: skin folds, and skin turned too far
        // from the camera for its colour to be read.
        let folds = pigment::fold_band(patch, &zone.folds);
        let turned = pigment::turned_beyond(patch, t.pigmentation_max_obliquity_deg);
        let share = |out: &[bool]| {
            let n = out.iter().filter(|&&o| o).count();
            (1000.0 * n as f64 / patch.mask_pixels().max(1) as f64).round() / 10.0
        };
        let (fold_pct, turned_pct) = (share(&folds), share(&turned));
        let left_out: Vec<bool> = folds.iter().zip(&turned).map(|(&f, &t)| f || t).collect();
        let narrowed;
        let measured = if left_out.contains(&true) {
            narrowed = patch.without(&left_out);
            overlay
                .folds
                .push((patch.image_points(&left_out), patch.map.scale()));
            &narrowed
        } else {
            patch
        };
        let cm2 = measured.area_mm2() / 100.0;
        if cm2 < MIN_ZONE_AREA_CM2 {
            report.zones.push(ZonePigment::refused(
                zone.name,
                format!(
                    "only {cm2:.2} cm² of the zone lies outside skin folds and faces the camera within {}° (minimum {MIN_ZONE_AREA_CM2})",
                    t.pigmentation_max_obliquity_deg
                ),
            ));
            continue;
        }
        let pigment::Measured {
            spots,
            base,
            in_spot,
        } = match pigment::measure_spots(measured, &prob, &px) {
            Ok(m) => m,
            Err(why) => {
                report.zones.push(ZonePigment::refused(zone.name, why));
                continue;
            }
        };
        if std::env::var_os("DERMASCORE_DEBUG_PIGMENT").is_some() {
            if let Some((slope, r2)) = pigment::shading_slope(&px, &measured.mask) {
                eprintln!(
                    "pigment {}: melanin on shading slope {slope:.3} r2 {r2:.3}",
                    zone.name.label()
                );
            }
        }
        let redness = input
            .quality
            .resolves(pigment::RED_LESION_MIN_PX_PER_MM)
            .then(|| pigment::redness(measured, &px));
        if share_of(hair_pct, zone.name).is_some_and(hair::is_hairy) {
            // Its colour is read between the hairs; its spots are not.
            report.zones.push(ZonePigment {
                zone: zone.name,
                colour: Some(base),
                metrics: None,
                redness,
                reason: Some(format!(
                    "pigmented spots are not measured in a zone at least {:.0} % hair (a beard, stubble, a fringe): the strands the hair mask misses, and the skin's shade between them, read as spots",
                    hair::HAIRY_ZONE_PCT
                )),
                fold_pct: Some(fold_pct),
                turned_pct: Some(turned_pct),
            });
            colours.push((base, measured.area_mm2()));
            patches.colours.insert(i, px);
            continue;
        }
        let sample = PigmentSample::from_spots(measured, &spots, &prob);
        for c in spots.iter().map(|s| &s.component) {
            let w = patch.width;
            let boundary = c.pixels.iter().filter(|&&i| {
                let (x, y) = (i % w, i / w);
                x == 0
                    || y == 0
                    || x + 1 >= w
                    || y + 1 >= patch.height
                    || [i - 1, i + 1, i - w, i + w]
                        .iter()
                        .any(|&j| !in_spot[j as usize])
            });
            let cells = boundary
                .map(|&i| patch.map.apply((i % w) as f32, (i / w) as f32))
                .collect();
            overlay.spots.push((cells, patch.map.scale()));
        }
        report.zones.push(ZonePigment {
            zone: zone.name,
            colour: Some(base),
            metrics: Some(sample.metrics()),
            redness,
            reason: None,
            fold_pct: Some(fold_pct),
            turned_pct: Some(turned_pct),
        });
        colours.push((base, measured.area_mm2()));
        overlay.maps.push(ChromophoreTile {
            map: patch.map,
            width: patch.width,
            height: patch.height,
            mask: measured.mask.clone(),
            melanin: px.melanin.clone(),
            haemoglobin: px.haemoglobin.clone(),
        });
        samples.push(sample);
        // The scar evidence reads the same colours.
        patches.colours.insert(i, px);
    }
    if samples.is_empty() {
        report.reason = Some("no zone large enough to measure".into());
        return Ok(report);
    }
    let refs: Vec<&PigmentSample> = samples.iter().collect();
    report.face = Some(PigmentSample::merge(&refs).metrics());
    report.colour = area_weighted_colour(&colours);
    report.mmasi = mmasi(&report.zones);
    report.mmasi_severity = report.mmasi.as_ref().map(|m| Score {
        value: (m.value / 24.0 * 1000.0).round() / 10.0,
        uncertainty: 0.0,
    });
    if let (Some(sev), Some(face)) = (report.mmasi_severity.as_mut(), report.face.as_ref()) {
        // Carry the pooled spots' area and darkness uncertainty into the face score.
        sev.uncertainty = face.severity.uncertainty;
    }
    report.measured = true;
    Ok(report)
}

fn area_weighted_colour(colours: &[(SkinColour, f64)]) -> Option<SkinColour> {
    let total: f64 = colours.iter().map(|c| c.1).sum();
    if total <= 0.0 {
        return None;
    }
    let avg =
        |f: fn(&SkinColour) -> f64| colours.iter().map(|(c, a)| f(c) * a).sum::<f64>() / total;
    let lab = colour::Lab {
        l: avg(|c| c.lab.l),
        a: avg(|c| c.lab.a),
        b: avg(|c| c.lab.b),
    };
    let ita = colour::ita_degrees(lab)?;
    Some(SkinColour {
        lab,
        ita_deg: ita,
        ita_category: colour::ItaCategory::from_ita(ita),
        melanin_index: avg(|c| c.melanin_index),
        haemoglobin_index: avg(|c| c.haemoglobin_index),
    })
}

/// MASI regions and weights (JAMA Dermatol 2016 mMASI).
const MMASI_REGIONS: [(ZoneName, f64); 4] = [
    (ZoneName::Forehead, 0.3),
    (ZoneName::RightCheek, 0.3),
    (ZoneName::LeftCheek, 0.3),
    (ZoneName::Chin, 0.1),
];

fn mmasi(zones: &[ZonePigment]) -> Option<MmasiEstimate> {
    let mut regions = Vec::new();
    for (zone, weight) in MMASI_REGIONS {
        // Every region must be measured, or the sum would understate.
        let m = zones.iter().find(|z| z.zone == zone)?.metrics.as_ref()?;
        regions.push(MmasiRegion {
            zone,
            weight,
            area_grade: m.area_grade,
            darkness_grade: m.darkness_grade,
        });
    }
    let value = regions
        .iter()
        .map(|r| r.weight * f64::from(r.area_grade) * f64::from(r.darkness_grade))
        .sum::<f64>();
    Some(MmasiEstimate {
        value: (value * 100.0).round() / 100.0,
        regions,
        estimate: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{Light, LightPos};
    use crate::measure::relief::render;

    /// Skin seen by an 8-bit camera: linear luminance → grey sRGB.
    fn photo(p: &relief::Plane) -> image::RgbImage {
        let enc = |v: f32| {
            let v = v.clamp(0.0, 1.0);
            let s = if v <= 0.003_130_8 {
                12.92 * v
            } else {
                1.055 * v.powf(1.0 / 2.4) - 0.055
            };
            (s * 255.0).round() as u8
        };
        image::RgbImage::from_fn(p.width as u32, p.height as u32, |x, y| {
            let v = enc(p.data[y as usize * p.width + x as usize]);
            image::Rgb([v, v, v])
        })
    }

    /// Skin texture without scars (mm): fine furrows and 0.05 mm pits.
    fn texture(size: usize, px: f64) -> Vec<f64> {
        (0..size * size)
            .map(|i| {
                let (x, y) = ((i % size) as f64 / px, (i / size) as f64 / px);
                let furrows = 0.008 * (x * 2.1 + y * 0.7).sin() + 0.006 * (y * 2.9 - x).cos();
                let (cx, cy) = ((x * 1.3).fract() - 0.5, (y * 1.3).fract() - 0.5);
                let pit = -0.05 * (-(cx * cx + cy * cy) / (2.0 * 0.06 * 0.06)).exp();
                furrows + pit
            })
            .collect()
    }

    /// A 40 mm patch 90 mm left of and 50 mm below the axis under eight
    /// LEDs 650 mm away of unequal brightness; one photo black over half
    /// the patch.
    fn near_set(z: &[f64], size: usize, px: f64) -> (Vec<image::RgbImage>, Vec<Light>, [f32; 2]) {
        let origin = [-110.0, 30.0];
        let brightness = [1.0, 0.35, 1.6, 0.6, 1.2, 0.5, 0.9, 0.45];
        let lights: Vec<Light> = (0..8)
            .map(|k| {
                let a = k as f32 / 8.0 * std::f32::consts::TAU + 0.3;
                Light::near(LightPos::new([420.0 * a.cos(), 420.0 * a.sin(), 650.0]).unwrap())
                    .with_intensity(brightness[k])
                    .unwrap()
            })
            .collect();
        let mut planes = render::lit(z, size, px, &lights, origin, 0.35, render::MATTE);
        for (i, v) in planes[2].data.iter_mut().enumerate() {
            if i % size < size / 2 {
                *v = 0.0;
            }
        }
        let photos = planes.iter().map(photo).collect();
        let centre = [(-origin[0] * px) as f32, (-origin[1] * px) as f32];
        (photos, lights, centre)
    }

    fn measure_set(z: &[f64], size: usize, px: f64) -> MeasuredRelief {
        let (photos, lights, centre) = near_set(z, size, px);
        let pyramids: Vec<Pyramid> = photos.iter().map(|p| Pyramid::new(p, 16)).collect();
        let refs: Vec<&Pyramid> = pyramids.iter().collect();
        let zone = crate::zones::patch(size as u32, size as u32, None);
        let patch =
            CanonicalPatch::from_zone(&pyramids[0], &zone, PxPerMm::new(px).unwrap(), px).unwrap();
        let frame = Frame {
            optical_centre_px: centre,
            px_per_mm: px,
        };
        scars_measured(&patch, &refs, &[(0.0, 0.0); 8], &lights, &frame).unwrap()
    }

    #[test]
    fn a_flat_near_field_set_with_a_half_dark_photo_has_no_scars() {
        let (size, px) = (400, 10.0);
        let r = measure_set(&texture(size, px), size, px);
        assert!(r.valid_share > 0.99, "{}", r.valid_share);
        // Lambertian photos, one black over half the patch: the fit finds
        // next to no fill or shine, and the black half is not read as fill.
        let fit = r.reflectance.expect("eight lights are enough to fit");
        assert!(
            fit.taken_out && fit.fitted.ambient < 0.01 && fit.fitted.shine < 0.01,
            "{fit:?}"
        );
        assert!(
            r.scars.is_empty(),
            "{} false scars: {:?}",
            r.scars.len(),
            r.scars
        );
    }

    #[test]
    fn a_near_field_set_measures_a_boxcar_scar() {
        let (size, px) = (400, 10.0);
        let mut z = texture(size, px);
        // A 3 mm box-car, 0.3 mm deep, on the half where one photo is dark.
        for (i, v) in z.iter_mut().enumerate() {
            let (x, y) = ((i % size) as f64 / px - 12.0, (i / size) as f64 / px - 20.0);
            let r = x.hypot(y);
            *v -= 0.3 * ((1.6 - r) / 0.2).clamp(0.0, 1.0);
        }
        let r = measure_set(&z, size, px);
        assert_eq!(r.scars.len(), 1, "{:?}", r.scars);
        let s = &r.scars[0];
        assert!((s.depth_mm - 0.3).abs() < 0.05, "{s:?}");
        assert!((s.width_mm - 3.0).abs() < 0.5, "{s:?}");
    }
}
