//! The patient's intake: history that a photo cannot show. CSV (one row per
//! patient) or JSON (an array of objects) with `patient_id` and any of the
//! fields below; booleans as yes/no, true/false or 1/0; dates as YYYY-MM-DD.

use super::protocol::{Outcome, Protocol};
use super::{Concern, Finding, PlanOutcome};
use crate::error::SetupError;
use crate::ingest::{days, days_in_month, is_iso_date};
use crate::zones::ZoneName;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::Path;

/// A history item as the intake records it. An item the intake does not
/// ask about (no such column or key) is not a "no": its contraindication
/// was never checked, and the plan says so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Recorded<T> {
    /// No column or key for it, or a yes/no cell left blank.
    #[default]
    NotRecorded,
    Answer(T),
}

impl Recorded<bool> {
    pub fn is_yes(&self) -> bool {
        *self == Recorded::Answer(true)
    }
}

/// A written yes or no (lower case), as the intake accepts them.
fn yes_no(word: &str) -> Option<bool> {
    match word {
        "no" | "n" | "false" | "0" => Some(false),
        "yes" | "y" | "true" | "1" => Some(true),
        _ => None,
    }
}

/// A yes/no answer; a blank cell (or JSON `null`) records nothing.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Recorded<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
        Num(i64),
    }
    Ok(match Option::<B>::deserialize(d)? {
        None => Recorded::NotRecorded,
        Some(B::Bool(b)) => Recorded::Answer(b),
        Some(B::Num(n)) => Recorded::Answer(n != 0),
        Some(B::Text(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Recorded::NotRecorded,
            other => match yes_no(other) {
                Some(answer) => Recorded::Answer(answer),
                None => return Err(serde::de::Error::custom(format!("`{other}` is not yes/no"))),
            },
        },
    })
}

/// A date, or blank for "never".
fn date<'de, D: Deserializer<'de>>(d: D) -> Result<Recorded<Option<String>>, D::Error> {
    let s = Option::<String>::deserialize(d)?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    match s {
        Some(s) if !is_iso_date(&s) => Err(serde::de::Error::custom(format!(
            "`{s}` is not a date (YYYY-MM-DD)"
        ))),
        other => Ok(Recorded::Answer(other)),
    }
}

/// An optional whole number within `range`, written as a number or as text
/// (blank: none); `word` reads other spellings (Fitzpatrick's roman
/// numerals). `what` names the field in the error: "`7` is not {what}".
fn bounded<'de, D: Deserializer<'de>>(
    d: D,
    range: std::ops::RangeInclusive<u8>,
    what: &str,
    word: impl Fn(&str) -> Option<u8>,
) -> Result<Option<u8>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(i64),
        Text(String),
    }
    let bad = |t: &str| serde::de::Error::custom(format!("`{t}` is not {what}"));
    let n = match Option::<N>::deserialize(d)? {
        None => return Ok(None),
        Some(N::Num(n)) => n,
        Some(N::Text(t)) if t.trim().is_empty() => return Ok(None),
        Some(N::Text(t)) => match word(t.trim()) {
            Some(n) => i64::from(n),
            None => t.trim().parse().map_err(|_| bad(&t))?,
        },
    };
    match u8::try_from(n) {
        Ok(v) if range.contains(&v) => Ok(Some(v)),
        _ => Err(bad(&n.to_string())),
    }
}

fn grade<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    bounded(d, 1..=4, "a Goodman & Baron grade (1–4)", |_| None)
}

fn fitzpatrick<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    bounded(d, 1..=6, "a Fitzpatrick type (I–VI or 1–6)", |t| {
        (1..=6).find(|&f| super::roman(f).eq_ignore_ascii_case(t))
    })
}

/// Concerns the patient asks to have treated, as `pores; pigmentation`
/// (separated by `;`, `,` or spaces) or, in JSON, also a list.
fn concerns<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Concern>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum C {
        Text(String),
        List(Vec<String>),
    }
    let words: Vec<String> = match Option::<C>::deserialize(d)? {
        None => return Ok(Vec::new()),
        Some(C::Text(t)) => t
            .split([';', ',', ' '])
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect(),
        Some(C::List(l)) => l,
    };
    let mut out = Vec::new();
    for w in words {
        let c = match w.trim().to_ascii_lowercase().as_str() {
            "pores" => Concern::Pores,
            "pigmentation" => Concern::Pigmentation,
            "acne_scars" => Concern::AcneScars,
            other => {
                return Err(serde::de::Error::custom(format!(
                    "`{other}` is not a concern (pores, pigmentation, acne_scars)"
                )))
            }
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// Where the clinician confirmed, on examination, the hyperpigmentation
/// the photo reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PigmentConfirmation {
    /// Blank, or no such column.
    #[default]
    NotRecorded,
    /// `no`: examined, none confirmed.
    Nowhere,
    /// In these zones.
    In(Vec<ZoneName>),
}

impl PigmentConfirmation {
    pub fn confirms(&self, zone: ZoneName) -> bool {
        matches!(self, Self::In(zones) if zones.contains(&zone))
    }
}

/// `no`, or the zones confirmed (`left_cheek; right_cheek`, or a JSON
/// list). A bare `yes` is refused: it would confirm every zone the photo
/// reads above normal, the nose's shading and a beard's shadow with the
/// melasma the clinician saw (an unseen normal face read 34–43 on its nose
/// and cheek from shading alone).
fn pigment_zones<'de, D: Deserializer<'de>>(d: D) -> Result<PigmentConfirmation, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum P {
        Bool(bool),
        Num(i64),
        Text(String),
        List(Vec<String>),
    }
    let yes = || {
        serde::de::Error::custom(format!(
            "name the zones the examination confirmed ({}), or no: a yes would confirm every zone the photo reads above normal, shading and hair included",
            ZoneName::names()
        ))
    };
    let words: Vec<String> = match Option::<P>::deserialize(d)? {
        None => return Ok(PigmentConfirmation::NotRecorded),
        Some(P::Bool(false)) => return Ok(PigmentConfirmation::Nowhere),
        Some(P::Bool(true)) => return Err(yes()),
        Some(P::Num(0)) => return Ok(PigmentConfirmation::Nowhere),
        Some(P::Num(_)) => return Err(yes()),
        Some(P::Text(t)) => t
            .split(|c: char| c == ';' || c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect(),
        Some(P::List(l)) => l,
    };
    let words: Vec<String> = words
        .iter()
        .map(|w| w.trim().to_ascii_lowercase())
        .collect();
    match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => return Ok(PigmentConfirmation::NotRecorded),
        ["none"] => return Ok(PigmentConfirmation::Nowhere),
        [word] if yes_no(word) == Some(false) => return Ok(PigmentConfirmation::Nowhere),
        [word] if yes_no(word) == Some(true) => return Err(yes()),
        _ => {}
    }
    let mut zones = Vec::new();
    for w in &words {
        let zone = ZoneName::named(w).ok_or_else(|| {
            serde::de::Error::custom(format!("`{w}` is not a zone ({})", ZoneName::names()))
        })?;
        if !zones.contains(&zone) {
            zones.push(zone);
        }
    }
    Ok(PigmentConfirmation::In(zones))
}

/// The intake's columns (CSV) or keys (JSON).
pub const COLUMNS: [&str; 19] = [
    "patient_id",
    "acne_scar_grade",
    "pigmentation_confirmed",
    "fitzpatrick",
    "requests",
    "isotretinoin_last_dose",
    "pregnant",
    "breastfeeding",
    "anticoagulants",
    "bleeding_disorder",
    "keloid_history",
    "herpes_history",
    "active_infection",
    "autoimmune_skin_disease",
    "chemotherapy_or_radiation",
    "uncontrolled_diabetes",
    "last_peel",
    "last_laser",
    "last_filler",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intake {
    pub patient_id: String,
    /// Where the row came from (CSV line, or the JSON array's entry number
    /// from 1), for messages.
    #[serde(skip)]
    pub line: u64,
    /// The clinician's Goodman & Baron qualitative acne-scar grade (1
    /// macular, 2 mild, 3 moderate, 4 severe), from examination.
    #[serde(default, deserialize_with = "grade")]
    pub acne_scar_grade: Option<u8>,
    /// The zones where the clinician confirmed on examination the
    /// hyperpigmentation (melasma, post-inflammatory hyperpigmentation,
    /// lentigines) the photo reads (`left_cheek; right_cheek`), or `no`.
    /// Photo pigment readings are not validated on real skin, so only a
    /// zone named here sets a needle depth for pigmentation.
    #[serde(default, deserialize_with = "pigment_zones")]
    pub pigmentation_confirmed: PigmentConfirmation,
    /// The clinician's Fitzpatrick skin type (I–VI, or 1–6), from the
    /// history of how the skin burns and tans. The skin-tone adjustments
    /// use the darker of it and the photo's ITA: a photo's exposure can make
    /// skin read lighter than it is.
    #[serde(default, deserialize_with = "fitzpatrick")]
    pub fitzpatrick: Option<u8>,
    /// Concerns the patient asks to have treated even where the reading is
    /// within the normal range (the protocol's `[normal_limit]`). A request
    /// never confirms one-photo scars: that takes `acne_scar_grade`.
    #[serde(default, deserialize_with = "concerns")]
    pub requests: Vec<Concern>,
    #[serde(default, deserialize_with = "date")]
    pub isotretinoin_last_dose: Recorded<Option<String>>,
    #[serde(default, deserialize_with = "flag")]
    pub pregnant: Recorded<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub breastfeeding: Recorded<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub anticoagulants: Recorded<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub bleeding_disorder: Recorded<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub keloid_history: Recorded<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub herpes_history: Recorded<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub active_infection: Recorded<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub autoimmune_skin_disease: Recorded<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub chemotherapy_or_radiation: Recorded<bool>,
    #[serde(default, deserialize_with = "flag")]
    pub uncontrolled_diabetes: Recorded<bool>,
    #[serde(default, deserialize_with = "date")]
    pub last_peel: Recorded<Option<String>>,
    #[serde(default, deserialize_with = "date")]
    pub last_laser: Recorded<Option<String>>,
    #[serde(default, deserialize_with = "date")]
    pub last_filler: Recorded<Option<String>>,
}

/// `date` plus `months` calendar months (day clamped to the month's end).
fn add_months(date: &str, months: u32) -> Option<String> {
    let y: i64 = date.get(0..4)?.parse().ok()?;
    let m: i64 = date.get(5..7)?.parse().ok()?;
    let d: i64 = date.get(8..10)?.parse().ok()?;
    let total = y * 12 + (m - 1) + i64::from(months);
    let (ny, nm) = (total / 12, total % 12 + 1);
    let last = days_in_month(ny, nm)?;
    Some(format!("{ny:04}-{nm:02}-{:02}", d.min(last)))
}

fn outcome(o: Outcome) -> PlanOutcome {
    match o {
        Outcome::Defer => PlanOutcome::Defer,
        Outcome::Caution => PlanOutcome::Caution,
    }
}

impl Intake {
    /// The history items this row leaves unrecorded, as written names
    /// (the intake's column names).
    pub fn not_recorded(&self) -> Vec<&'static str> {
        let flags = [
            (&self.pregnant, "pregnant"),
            (&self.breastfeeding, "breastfeeding"),
            (&self.anticoagulants, "anticoagulants"),
            (&self.bleeding_disorder, "bleeding_disorder"),
            (&self.keloid_history, "keloid_history"),
            (&self.herpes_history, "herpes_history"),
            (&self.active_infection, "active_infection"),
            (&self.autoimmune_skin_disease, "autoimmune_skin_disease"),
            (&self.chemotherapy_or_radiation, "chemotherapy_or_radiation"),
            (&self.uncontrolled_diabetes, "uncontrolled_diabetes"),
        ];
        let dates = [
            (&self.isotretinoin_last_dose, "isotretinoin_last_dose"),
            (&self.last_peel, "last_peel"),
            (&self.last_laser, "last_laser"),
            (&self.last_filler, "last_filler"),
        ];
        flags
            .into_iter()
            .filter(|(v, _)| **v == Recorded::NotRecorded)
            .map(|(_, name)| name)
            .chain(
                dates
                    .into_iter()
                    .filter(|(v, _)| **v == Recorded::NotRecorded)
                    .map(|(_, name)| name),
            )
            .collect()
    }

    /// Findings for a visit on `visit` (YYYY-MM-DD; without it, dated rules
    /// cannot be judged and say so).
    pub fn check(&self, p: &Protocol, visit: Option<&str>) -> Vec<Finding> {
        let r = &p.rules;
        let mut out = Vec::new();
        let not_recorded = self.not_recorded();
        if !not_recorded.is_empty() {
            out.push(Finding {
                rule: "intake.incomplete".into(),
                outcome: PlanOutcome::Caution,
                evidence: format!(
                    "intake row {} does not record {}: those contraindications were not checked — take that history before treating (answer yes or no; leave a date blank for never)",
                    self.line,
                    not_recorded.join(", ")
                ),
            });
        }
        let mut add = |rule: &str, o: Outcome, evidence: String| {
            out.push(Finding {
                rule: format!("rules.{rule}"),
                outcome: outcome(o),
                evidence,
            })
        };
        let flags = [
            (
                self.pregnant.is_yes() || self.breastfeeding.is_yes(),
                "pregnancy_or_breastfeeding",
                r.pregnancy_or_breastfeeding,
                "intake: pregnant or breastfeeding (precaution)",
            ),
            (
                self.bleeding_disorder.is_yes(),
                "bleeding_disorder",
                r.bleeding_disorder,
                "intake: bleeding disorder",
            ),
            (
                self.anticoagulants.is_yes(),
                "anticoagulants",
                r.anticoagulants,
                "intake: anticoagulants — bleeding and bruising risk",
            ),
            (
                self.keloid_history.is_yes(),
                "keloid_history",
                r.keloid_history,
                "intake: keloid tendency",
            ),
            (
                self.herpes_history.is_yes(),
                "herpes_history",
                r.herpes_history,
                "intake: herpes simplex history — consider antiviral prophylaxis",
            ),
            (
                self.active_infection.is_yes(),
                "active_infection",
                r.active_infection,
                "intake: active infection",
            ),
            (
                self.autoimmune_skin_disease.is_yes(),
                "autoimmune_skin_disease",
                r.autoimmune_skin_disease,
                "intake: autoimmune disease affecting the skin",
            ),
            (
                self.chemotherapy_or_radiation.is_yes(),
                "chemotherapy_or_radiation",
                r.chemotherapy_or_radiation,
                "intake: chemotherapy or radiation",
            ),
            (
                self.uncontrolled_diabetes.is_yes(),
                "uncontrolled_diabetes",
                r.uncontrolled_diabetes,
                "intake: uncontrolled diabetes — slower healing",
            ),
        ];
        for (on, rule, o, text) in flags {
            if on {
                add(rule, o, text.into());
            }
        }
        let dated = [
            (
                &self.isotretinoin_last_dose,
                "isotretinoin",
                r.isotretinoin,
                "isotretinoin last dose",
                p.waits.isotretinoin_months,
                true,
            ),
            (
                &self.last_peel,
                "recent_procedure",
                r.recent_procedure,
                "chemical peel",
                p.waits.peel_weeks,
                false,
            ),
            (
                &self.last_laser,
                "recent_procedure",
                r.recent_procedure,
                "laser",
                p.waits.laser_weeks,
                false,
            ),
            (
                &self.last_filler,
                "recent_procedure",
                r.recent_procedure,
                "filler",
                p.waits.filler_weeks,
                false,
            ),
        ];
        for (when, rule, o, what, wait, in_months) in dated {
            let Recorded::Answer(Some(when)) = when else {
                continue;
            };
            let unit = if in_months { "months" } else { "weeks" };
            let Some(visit) = visit else {
                add(rule, o, format!("intake: {what} on {when}, but the photo has no visit date to judge the {wait}-{unit} wait against"));
                continue;
            };
            let until = if in_months {
                add_months(when, wait)
            } else {
                days(when)
                    .map(|d| d + 7 * i64::from(wait))
                    .map(|d| d.to_string())
            };
            let still_waiting = match (in_months, until, days(visit)) {
                (true, Some(u), Some(v)) => days(&u).is_some_and(|u| v < u),
                (false, Some(u), Some(v)) => u.parse::<i64>().is_ok_and(|u| v < u),
                _ => false,
            };
            if still_waiting {
                add(rule, o, format!("intake: {what} on {when}; the protocol waits {wait} {unit} and the visit is {visit}"));
            }
        }
        out
    }
}

/// Reads intake rows keyed by patient id. A bad row rejects the file, naming it.
pub fn read(path: &Path) -> Result<BTreeMap<String, Intake>, SetupError> {
    let table = crate::ingest::table::Table {
        what: "intake",
        path,
    };
    let err = |line: u64, reason: String| table.error(Some(line), reason);
    let rows: Vec<Intake> = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        let text = std::fs::read_to_string(path)
            .map_err(|e| table.error(None, format!("cannot read it: {e}")))?;
        let mut rows: Vec<Intake> =
            serde_json::from_str(&text).map_err(|e| err(e.line() as u64, e.to_string()))?;
        for (i, r) in rows.iter_mut().enumerate() {
            r.line = i as u64 + 1;
        }
        rows
    } else {
        let (mut reader, headers) = table.open(Some(&COLUMNS))?;
        let mut rows = Vec::new();
        for rec in reader.records() {
            let rec = rec.map_err(|e| table.csv_error(&e))?;
            let line = rec.position().map_or(0, |p| p.line());
            let mut row: Intake = rec
                .deserialize(Some(&headers))
                .map_err(|e| table.csv_error(&e))?;
            row.line = line;
            rows.push(row);
        }
        rows
    };
    // Two rows for one patient would leave one of them unread (a
    // contraindication silently dropped): refuse the file, naming both.
    let mut by_id: BTreeMap<String, Intake> = BTreeMap::new();
    for r in rows {
        if r.patient_id.trim().is_empty() {
            return Err(err(r.line, "patient_id is empty".into()));
        }
        if let Some(first) = by_id.get(&r.patient_id) {
            return Err(err(
                r.line,
                format!(
                    "patient {} has two intake rows ({} and {}): merge them into one",
                    r.patient_id, first.line, r.line
                ),
            ));
        }
        by_id.insert(r.patient_id.clone(), r);
    }
    Ok(by_id)
}

/// Intake rows whose patient id matches none of `ids` (the analysed
/// photos'), each with a line to print: such a row is never read, so its
/// contraindications would be lost without a word. A case-insensitive match
/// is suggested.
pub fn unmatched<'a>(
    intake: &BTreeMap<String, Intake>,
    ids: impl IntoIterator<Item = &'a str> + Clone,
) -> Vec<String> {
    intake
        .values()
        .filter(|r| !ids.clone().into_iter().any(|id| id == r.patient_id))
        .map(|r| {
            let similar = ids
                .clone()
                .into_iter()
                .find(|id| id.to_lowercase() == r.patient_id.to_lowercase());
            format!(
                "intake row {} (patient {}) matches no analysed photo{}",
                r.line,
                r.patient_id,
                similar.map_or(String::new(), |s| format!(
                    " (ids are case-sensitive: did you mean {s}?)"
                ))
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::protocol::DEFAULT;

    #[test]
    fn calendar_arithmetic() {
        assert_eq!(days("1970-01-01"), Some(0));
        assert_eq!(days("2026-03-01").unwrap() - days("2026-02-28").unwrap(), 1);
        assert_eq!(add_months("2026-08-31", 6).as_deref(), Some("2027-02-28"));
        assert_eq!(add_months("2027-08-31", 6).as_deref(), Some("2028-02-29"));
    }

    /// A row that answers every history item "no" (dates blank: never).
    fn answered_no(id: &str) -> Intake {
        let no = Recorded::Answer(false);
        let never = Recorded::Answer(None);
        Intake {
            patient_id: id.into(),
            line: 2,
            pregnant: no.clone(),
            breastfeeding: no.clone(),
            anticoagulants: no.clone(),
            bleeding_disorder: no.clone(),
            keloid_history: no.clone(),
            herpes_history: no.clone(),
            active_infection: no.clone(),
            autoimmune_skin_disease: no.clone(),
            chemotherapy_or_radiation: no.clone(),
            uncontrolled_diabetes: no,
            isotretinoin_last_dose: never.clone(),
            last_peel: never.clone(),
            last_laser: never.clone(),
            last_filler: never,
            ..Intake::default()
        }
    }

    /// `COLUMNS` (which unknown columns are checked against) names every
    /// field the row reads: a header of all of them parses, and a row that
    /// answers them all leaves nothing unrecorded.
    #[test]
    fn the_column_list_is_the_row_s_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intake.csv");
        let answers: Vec<&str> = COLUMNS
            .iter()
            .map(|c| match *c {
                "patient_id" => "P",
                "acne_scar_grade" | "fitzpatrick" | "requests" | "pigmentation_confirmed" => "",
                c if c.starts_with("last_") || c.ends_with("_dose") => "",
                _ => "no",
            })
            .collect();
        std::fs::write(
            &path,
            format!("{}\n{}\n", COLUMNS.join(","), answers.join(",")),
        )
        .unwrap();
        let rows = read(&path).unwrap();
        assert!(
            rows["P"].not_recorded().is_empty(),
            "{:?}",
            rows["P"].not_recorded()
        );
    }

    /// An item the row does not ask about is not a "no": the plan is told
    /// it was never checked (a caution, so never `proceed`).
    #[test]
    fn an_unrecorded_history_item_is_not_a_no() {
        let p = Protocol::parse(DEFAULT).unwrap();
        let mut row = answered_no("P");
        row.pregnant = Recorded::NotRecorded;
        row.last_laser = Recorded::NotRecorded;
        let f = row.check(&p, Some("2026-06-01"));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, "intake.incomplete");
        assert_eq!(f[0].outcome, PlanOutcome::Caution);
        assert!(
            f[0].evidence.contains("pregnant, last_laser"),
            "{}",
            f[0].evidence
        );
        // Read from a CSV: a missing column and a blank yes/no record
        // nothing; a blank date records "never".
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("intake.csv");
        std::fs::write(
            &path,
            "patient_id,pregnant,anticoagulants,last_peel\nP,no,,\n",
        )
        .unwrap();
        let row = &read(&path).unwrap()["P"];
        assert_eq!(row.pregnant, Recorded::Answer(false));
        assert_eq!(row.anticoagulants, Recorded::NotRecorded);
        assert_eq!(row.last_peel, Recorded::Answer(None));
        assert_eq!(row.breastfeeding, Recorded::NotRecorded);
        assert!(!row.not_recorded().contains(&"last_peel"));
    }

    fn rules_of(i: &Intake, visit: &str) -> Vec<(String, PlanOutcome)> {
        let p = Protocol::parse(DEFAULT).unwrap();
        i.check(&p, Some(visit))
            .into_iter()
            .map(|f| (f.rule, f.outcome))
            .collect()
    }

    #[test]
    fn every_intake_rule_fires_with_its_protocol_outcome() {
        let base = answered_no("P");
        assert!(rules_of(&base, "2026-06-01").is_empty());
        let cases: Vec<(Intake, &str, PlanOutcome)> = vec![
            (
                Intake {
                    pregnant: Recorded::Answer(true),
                    ..base.clone()
                },
                "rules.pregnancy_or_breastfeeding",
                PlanOutcome::Defer,
            ),
            (
                Intake {
                    breastfeeding: Recorded::Answer(true),
                    ..base.clone()
                },
                "rules.pregnancy_or_breastfeeding",
                PlanOutcome::Defer,
            ),
            (
                Intake {
                    bleeding_disorder: Recorded::Answer(true),
                    ..base.clone()
                },
                "rules.bleeding_disorder",
                PlanOutcome::Defer,
            ),
            (
                Intake {
                    anticoagulants: Recorded::Answer(true),
                    ..base.clone()
                },
                "rules.anticoagulants",
                PlanOutcome::Caution,
            ),
            (
                Intake {
                    keloid_history: Recorded::Answer(true),
                    ..base.clone()
                },
                "rules.keloid_history",
                PlanOutcome::Caution,
            ),
            (
                Intake {
                    herpes_history: Recorded::Answer(true),
                    ..base.clone()
                },
                "rules.herpes_history",
                PlanOutcome::Caution,
            ),
            (
                Intake {
                    active_infection: Recorded::Answer(true),
                    ..base.clone()
                },
                "rules.active_infection",
                PlanOutcome::Defer,
            ),
            (
                Intake {
                    autoimmune_skin_disease: Recorded::Answer(true),
                    ..base.clone()
                },
                "rules.autoimmune_skin_disease",
                PlanOutcome::Caution,
            ),
            (
                Intake {
                    chemotherapy_or_radiation: Recorded::Answer(true),
                    ..base.clone()
                },
                "rules.chemotherapy_or_radiation",
                PlanOutcome::Defer,
            ),
            (
                Intake {
                    uncontrolled_diabetes: Recorded::Answer(true),
                    ..base.clone()
                },
                "rules.uncontrolled_diabetes",
                PlanOutcome::Caution,
            ),
            (
                Intake {
                    isotretinoin_last_dose: Recorded::Answer(Some("2026-01-15".into())),
                    ..base.clone()
                },
                "rules.isotretinoin",
                PlanOutcome::Defer,
            ),
            (
                Intake {
                    last_peel: Recorded::Answer(Some("2026-05-25".into())),
                    ..base.clone()
                },
                "rules.recent_procedure",
                PlanOutcome::Defer,
            ),
            (
                Intake {
                    last_laser: Recorded::Answer(Some("2026-05-10".into())),
                    ..base.clone()
                },
                "rules.recent_procedure",
                PlanOutcome::Defer,
            ),
            (
                Intake {
                    last_filler: Recorded::Answer(Some("2026-05-20".into())),
                    ..base.clone()
                },
                "rules.recent_procedure",
                PlanOutcome::Defer,
            ),
        ];
        for (intake, rule, outcome) in cases {
            assert_eq!(
                rules_of(&intake, "2026-06-01"),
                vec![(rule.to_string(), outcome)],
                "{rule}"
            );
        }
        // Waits that are over raise nothing: isotretinoin 6 months, peel 2 weeks.
        assert!(rules_of(
            &Intake {
                isotretinoin_last_dose: Recorded::Answer(Some("2025-12-01".into())),
                ..base.clone()
            },
            "2026-06-01"
        )
        .is_empty());
        assert!(rules_of(
            &Intake {
                last_peel: Recorded::Answer(Some("2026-05-18".into())),
                ..base.clone()
            },
            "2026-06-01"
        )
        .is_empty());
    }

    #[test]
    fn intake_files_parse_and_bad_values_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("intake.csv");
        std::fs::write(
            &csv,
            "patient_id,pregnant,last_peel\nP1,yes,2026-01-02\nP2,no,\n",
        )
        .unwrap();
        let m = read(&csv).unwrap();
        assert!(m["P1"].pregnant.is_yes());
        assert_eq!(m["P2"].pregnant, Recorded::Answer(false));
        std::fs::write(&csv, "patient_id,pregnant\nP1,maybe\n").unwrap();
        match read(&csv) {
            Err(SetupError::Table {
                line: Some(line),
                reason,
                ..
            }) => {
                assert!(line == 2 && reason.contains("maybe"), "{line} {reason}")
            }
            _ => panic!("a bad value must be rejected"),
        }
        let json = dir.path().join("intake.json");
        std::fs::write(&json, r#"[{"patient_id": "P3", "anticoagulants": true, "isotretinoin_last_dose": "2026-02-01"}]"#).unwrap();
        assert_eq!(
            read(&json).unwrap()["P3"].anticoagulants,
            Recorded::Answer(true)
        );
    }

    #[test]
    fn requests_name_concerns_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("intake.csv");
        std::fs::write(&csv, "patient_id,requests\nP1,Pores; pigmentation\nP2,\n").unwrap();
        let m = read(&csv).unwrap();
        assert_eq!(m["P1"].requests, [Concern::Pores, Concern::Pigmentation]);
        assert!(m["P2"].requests.is_empty());
        std::fs::write(&csv, "patient_id,requests\nP1,wrinkles\n").unwrap();
        match read(&csv) {
            Err(SetupError::Table {
                line: Some(line),
                reason,
                ..
            }) => {
                assert!(line == 2 && reason.contains("wrinkles"), "{line} {reason}")
            }
            _ => panic!("an unknown concern must be rejected"),
        }
        let json = dir.path().join("intake.json");
        std::fs::write(
            &json,
            r#"[{"patient_id": "P3", "requests": ["acne_scars"]}]"#,
        )
        .unwrap();
        assert_eq!(read(&json).unwrap()["P3"].requests, [Concern::AcneScars]);
    }

    #[test]
    fn pigmentation_is_confirmed_zone_by_zone_and_a_bare_yes_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("intake.csv");
        std::fs::write(
            &csv,
            "patient_id,pigmentation_confirmed\nP1,Left_Cheek; right_cheek\nP2,no\nP3,\nP4,0\nP5,nose  chin\n",
        )
        .unwrap();
        let m = read(&csv).unwrap();
        let p1 = &m["P1"].pigmentation_confirmed;
        assert!(p1.confirms(ZoneName::LeftCheek) && p1.confirms(ZoneName::RightCheek));
        assert!(!p1.confirms(ZoneName::Nose));
        assert_eq!(m["P2"].pigmentation_confirmed, PigmentConfirmation::Nowhere);
        assert_eq!(
            m["P3"].pigmentation_confirmed,
            PigmentConfirmation::NotRecorded
        );
        assert_eq!(m["P4"].pigmentation_confirmed, PigmentConfirmation::Nowhere);
        assert_eq!(
            m["P5"].pigmentation_confirmed,
            PigmentConfirmation::In(vec![ZoneName::Nose, ZoneName::Chin])
        );
        for (value, says) in [
            ("yes", "name the zones"),
            ("1", "name the zones"),
            ("cheeks", "`cheeks` is not a zone"),
        ] {
            std::fs::write(
                &csv,
                format!("patient_id,pigmentation_confirmed\nP1,{value}\n"),
            )
            .unwrap();
            match read(&csv) {
                Err(SetupError::Table {
                    line: Some(2),
                    reason,
                    ..
                }) => assert!(reason.contains(says), "{reason}"),
                other => panic!("{value} must be refused: {:?}", other.map(|_| ())),
            }
        }
        let json = dir.path().join("intake.json");
        std::fs::write(
            &json,
            r#"[{"patient_id": "P4", "pigmentation_confirmed": ["nose"]},
                {"patient_id": "P5", "pigmentation_confirmed": false}]"#,
        )
        .unwrap();
        let m = read(&json).unwrap();
        assert!(m["P4"].pigmentation_confirmed.confirms(ZoneName::Nose));
        assert_eq!(m["P5"].pigmentation_confirmed, PigmentConfirmation::Nowhere);
        std::fs::write(
            &json,
            r#"[{"patient_id": "P6", "pigmentation_confirmed": true}]"#,
        )
        .unwrap();
        assert!(read(&json).is_err());
    }
}
