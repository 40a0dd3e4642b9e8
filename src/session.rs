//! Sessions and device profiles: what a skin-analyser booth fixes, and
//! which photos of one sitting belong together.
//!
//! A booth takes several exposures of one face in a minute (cross- and
//! parallel-polarised, standard, UV). They are one face at one distance, so
//! they share one scale, and each concern is read from the exposure that
//! suits it: colour, pigment and redness from cross-polarised light (else
//! standard), pores from parallel-polarised (else standard). A device
//! profile (`--device-profile FILE`, TOML) says how the booth names its
//! files, which light each is, which files are not photos of skin, and,
//! optionally, its calibrated scale at the rest.

use crate::capture::Modality;
use crate::ingest::{InputItem, Session};
use crate::units::PxPerMm;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File-name pattern with one `*`: `prefix*suffix`, case-insensitive. The
/// part the `*` matches is the photo's session name.
#[derive(Debug, Clone)]
pub struct Pattern {
    prefix: String,
    suffix: String,
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, String> {
        let lower = text.to_lowercase();
        let mut parts = lower.split('*');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(prefix), Some(suffix), None) if !text.contains(['/', '\\']) => Ok(Pattern {
                prefix: prefix.into(),
                suffix: suffix.into(),
            }),
            _ => Err(format!(
                "pattern `{text}` must be a file name with exactly one `*` (e.g. `*_spec.jpg`)"
            )),
        }
    }

    /// The part matched by `*`, when `name` matches.
    pub fn stem<'a>(&self, name: &'a str) -> Option<&'a str> {
        let lower = name.to_lowercase();
        if lower.len() < self.prefix.len() + self.suffix.len()
            || !lower.starts_with(&self.prefix)
            || !lower.ends_with(&self.suffix)
        {
            return None;
        }
        // Lower-casing keeps byte lengths for the ASCII these names use;
        // anything else simply does not match.
        name.get(self.prefix.len()..name.len() - self.suffix.len())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhoto {
    pattern: String,
    modality: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    #[serde(default)]
    px_per_mm: Option<f64>,
    #[serde(default)]
    colour_matrix: Option<[[f64; 3]; 3]>,
    #[serde(default)]
    ignore: Vec<String>,
    #[serde(default)]
    photo: Vec<RawPhoto>,
}

/// A validated device profile.
#[derive(Debug, Clone)]
pub struct DeviceProfile {
    pub name: String,
    /// sha256 of the file, echoed in the run summary.
    pub sha256: String,
    /// The booth's calibrated scale at its rest, when it has one.
    pub px_per_mm: Option<PxPerMm>,
    /// Linear-RGB colour correction measured from a colour chart under the
    /// booth's light: corrected = M · recorded.
    pub colour_matrix: Option<[[f64; 3]; 3]>,
    pub ignore: Vec<Pattern>,
    /// Modality by file name; the first matching pattern wins.
    pub photos: Vec<(Pattern, Modality)>,
}

impl DeviceProfile {
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: Raw = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let px_per_mm = match raw.px_per_mm {
            Some(v) => Some(
                PxPerMm::new(v)
                    .filter(|s| s.get() <= 1000.0)
                    .ok_or(format!("px_per_mm {v} must be positive and at most 1000"))?,
            ),
            None => None,
        };
        if let Some(m) = &raw.colour_matrix {
            let ok = m.iter().flatten().all(|v| v.is_finite() && v.abs() <= 10.0);
            let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
            if !ok || det <= 0.01 {
                return Err(format!(
                    "colour_matrix must hold finite entries within ±10 and keep colours apart (determinant {det:.3} > 0.01)"
                ));
            }
        }
        let photos = raw
            .photo
            .iter()
            .map(|p| Ok((Pattern::parse(&p.pattern)?, p.modality.parse::<Modality>()?)))
            .collect::<Result<Vec<_>, String>>()?;
        let ignore = raw
            .ignore
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(DeviceProfile {
            name: raw.name,
            sha256: crate::models::hex_sha256(text.as_bytes()),
            px_per_mm,
            colour_matrix: raw.colour_matrix,
            ignore,
            photos,
        })
    }

    pub fn read(path: &Path) -> Result<Self, crate::error::SetupError> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::error::SetupError::Input {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(&text).map_err(|reason| crate::error::SetupError::Input {
            path: path.to_path_buf(),
            reason: format!("device profile: {reason}"),
        })
    }

    /// The modality and session name a file name gets.
    fn classify(&self, name: &str) -> Option<(Modality, String)> {
        self.photos
            .iter()
            .find_map(|(p, m)| p.stem(name).map(|s| (*m, s.to_string())))
    }
}

/// The member of `session` to read a concern from: the first modality in
/// `wanted` that the session has.
pub fn member_for<'a>(session: &'a Session, wanted: &[Modality]) -> Option<&'a InputItem> {
    wanted.iter().find_map(|m| {
        session
            .members
            .iter()
            .find(|i| i.modality.unwrap_or(Modality::Standard) == *m)
    })
}

/// Light under which each concern is best read, in order of preference.
pub const COLOUR_FROM: [Modality; 2] = [Modality::CrossPolarised, Modality::Standard];
pub const TEXTURE_FROM: [Modality; 2] = [Modality::ParallelPolarised, Modality::Standard];

/// A manifest's photos of one visit that are not read as one sitting.
#[derive(Debug, Clone, PartialEq)]
pub struct NotOneSitting {
    pub patient_id: String,
    pub visit_date: String,
    pub photos: usize,
    /// Two of them declare the same light (else: not all declare one).
    pub same_light: bool,
}

impl NotOneSitting {
    /// The note for stderr, naming the patient as `shown_id` (a pseudonym
    /// in a pseudonymised run).
    pub fn message(&self, shown_id: &str) -> String {
        format!(
            "{} photos of {shown_id} on {} are not read as one sitting: {}; each is analysed alone",
            self.photos,
            self.visit_date,
            if self.same_light {
                "two of them declare the same light (repeat captures)"
            } else {
                "not every one declares its light (the manifest's modality column)"
            }
        )
    }
}

/// Groups a manifest's photos into sittings: rows of one patient, visit
/// date and view, each with a declared and different `modality`, are the
/// exposures of one booth sitting (one record, one scale; colour from the
/// cross-polarised photo, pores from the parallel-polarised one, as a
/// device profile's sittings). Rows that repeat a light (two
/// cross-polarised photos of one visit: repeat captures) or leave it
/// undeclared stay single photos; each such group is returned with a note
/// for stderr. Capture sets are left as they are.
pub fn sittings_from_manifest(items: Vec<InputItem>) -> (Vec<InputItem>, Vec<NotOneSitting>) {
    type Key = (String, String, Option<crate::ingest::View>);
    let key = |item: &InputItem| -> Option<Key> {
        let s = item.subject.as_ref()?;
        (item.capture.is_none() && item.session.is_none())
            .then(|| Some((s.patient_id.clone()?, s.visit_date.clone()?, s.view)))?
    };
    let mut groups: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(k) = key(item) {
            groups.entry(k).or_default().push(i);
        }
    }
    let mut notes = Vec::new();
    // Position of each grouped photo's sitting host, and the sittings.
    let mut host_of: BTreeMap<usize, usize> = BTreeMap::new();
    for ((patient, date, _), idx) in &groups {
        if idx.len() < 2 {
            continue;
        }
        let lights: Vec<Option<Modality>> = idx.iter().map(|&i| items[i].modality).collect();
        let declared = lights.iter().all(Option::is_some);
        let distinct = lights
            .iter()
            .enumerate()
            .all(|(a, la)| lights[..a].iter().all(|lb| lb != la));
        if !(declared && distinct) {
            if declared || lights.iter().any(Option::is_some) {
                notes.push(NotOneSitting {
                    patient_id: patient.clone(),
                    visit_date: date.clone(),
                    photos: idx.len(),
                    same_light: declared,
                });
            }
            continue;
        }
        for &i in idx {
            host_of.insert(i, idx[0]);
        }
    }
    let mut out: Vec<InputItem> = Vec::new();
    let mut placed: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, item) in items.into_iter().enumerate() {
        match host_of.get(&i) {
            Some(&host) if host != i => {
                if let Some(session) = placed.get(&host).and_then(|&at| out[at].session.as_mut()) {
                    session.members.push(item);
                }
            }
            Some(_) => {
                let mut host = item;
                host.session = Some(first_of_sitting(&host, None, None));
                placed.insert(i, out.len());
                out.push(host);
            }
            None => out.push(item),
        }
    }
    name_after_colour(&mut out);
    (out, notes)
}

/// A sitting holding `item` alone so far, named after its file.
fn first_of_sitting(
    item: &InputItem,
    device_px_per_mm: Option<PxPerMm>,
    device_colour_matrix: Option<[[f64; 3]; 3]>,
) -> Box<Session> {
    Box::new(Session {
        name: item
            .path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        members: vec![item.clone()],
        device_px_per_mm,
        device_colour_matrix,
    })
}

/// A sitting's record is named after the photo colour is read from.
fn name_after_colour(items: &mut [InputItem]) {
    for item in items.iter_mut() {
        if let Some(s) = &item.session {
            if let Some(colour) = member_for(s, &COLOUR_FROM).or(s.members.first()) {
                item.path = colour.path.clone();
                item.modality = colour.modality;
            }
        }
    }
}

/// Applies a profile to the batch: files it ignores are dropped (and
/// counted, for a note on stderr), photos get their modality, and photos in
/// one folder with one session name become one session item (its `path`
/// is the member colour is read from). Returns the items and what was
/// ignored.
pub fn apply(items: Vec<InputItem>, profile: &DeviceProfile) -> (Vec<InputItem>, Vec<PathBuf>) {
    let mut ignored = Vec::new();
    let mut out: Vec<InputItem> = Vec::new();
    // (folder, session name) → position in `out`.
    let mut sessions: BTreeMap<(PathBuf, String), usize> = BTreeMap::new();
    for mut item in items {
        let name = item
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Capture sets, and a manifest's sittings, are already grouped.
        if item.capture.is_some() || item.session.is_some() {
            out.push(item);
            continue;
        }
        if profile.ignore.iter().any(|p| p.stem(&name).is_some()) {
            ignored.push(item.path);
            continue;
        }
        let Some((modality, stem)) = profile.classify(&name) else {
            out.push(item);
            continue;
        };
        if item.modality.is_none() {
            item.modality = Some(modality);
        }
        let folder = item
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        match sessions.get(&(folder.clone(), stem.clone())) {
            Some(&at) => {
                let host = &mut out[at];
                if host.session.is_none() {
                    // The first photo of the sitting becomes its first member.
                    let first = host.clone();
                    host.session = Some(Box::new(Session {
                        name: stem.clone(),
                        members: vec![first],
                        device_px_per_mm: profile.px_per_mm,
                        device_colour_matrix: profile.colour_matrix,
                    }));
                }
                if let Some(session) = host.session.as_mut() {
                    session.members.push(item);
                }
            }
            None => {
                sessions.insert((folder, stem), out.len());
                out.push(item);
            }
        }
    }
    // A calibrated booth's single photos take its scale and colour
    // correction too: a sitting of one.
    if profile.px_per_mm.is_some() || profile.colour_matrix.is_some() {
        for item in out.iter_mut() {
            if item.session.is_none() && item.capture.is_none() && item.modality.is_some() {
                item.session = Some(first_of_sitting(
                    item,
                    profile.px_per_mm,
                    profile.colour_matrix,
                ));
            }
        }
    }
    name_after_colour(&mut out);
    (out, ignored)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"
name = "test rig"
ignore = ["*_mask.jpg"]
[[photo]]
pattern = "*_spec.jpg"
modality = "parallel_polarised"
[[photo]]
pattern = "*.jpg"
modality = "cross_polarised"
"#;

    fn item(path: &str) -> InputItem {
        InputItem {
            path: PathBuf::from(path),
            subject: None,
            modality: None,
            capture: None,
            session: None,
        }
    }

    #[test]
    fn patterns_take_one_star_and_give_the_session_name() {
        let p = Pattern::parse("*_SPEC.jpg").unwrap();
        assert_eq!(p.stem("1_spec.JPG"), Some("1"));
        assert_eq!(p.stem("1.jpg"), None);
        assert!(Pattern::parse("*_*.jpg").is_err());
        assert!(Pattern::parse("a/*.jpg").is_err());
        assert!(Pattern::parse("front.jpg").is_err());
    }

    #[test]
    fn a_profile_groups_a_sitting_and_drops_what_it_ignores() {
        let profile = DeviceProfile::parse(PROFILE).unwrap();
        let items = [
            "d/1.jpg",
            "d/1_mask.jpg",
            "d/1_spec.jpg",
            "d/2_spec.jpg",
            "e/1.jpg",
        ]
        .map(item)
        .to_vec();
        let (out, ignored) = apply(items, &profile);
        assert_eq!(ignored, [PathBuf::from("d/1_mask.jpg")]);
        assert_eq!(out.len(), 3, "{out:?}");
        let s = out[0].session.as_ref().unwrap();
        assert_eq!(s.name, "1");
        assert_eq!(out[0].path, PathBuf::from("d/1.jpg"));
        assert_eq!(
            member_for(s, &TEXTURE_FROM).unwrap().path,
            PathBuf::from("d/1_spec.jpg")
        );
        assert_eq!(out[1].modality, Some(Modality::ParallelPolarised));
        assert!(out[1].session.is_none() && out[2].session.is_none());
    }

    #[test]
    fn bad_profiles_say_why() {
        assert!(DeviceProfile::parse("name = \"x\"\npx_per_mm = -2")
            .unwrap_err()
            .contains("px_per_mm"));
        let bad = PROFILE.replace("parallel_polarised", "infrared");
        assert!(DeviceProfile::parse(&bad).unwrap_err().contains("infrared"));
        assert!(DeviceProfile::parse("name = \"x\"\ncolour = 1").is_err());
    }
}
