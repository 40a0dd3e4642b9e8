//! Joining shard outputs, and verifying that a results file could be
//! reproduced: same inputs (by sha256), same models, same tool version.
//!
//! Merging streams: every shard file is already in input order, so a k-way
//! merge by input position needs one pending record per shard in memory.

use crate::batch::RESULTS_NAME;
use crate::error::SetupError;
use crate::models::{self, hex_sha256};
use crate::pipeline::{InputList, SummaryCounts};
use crate::report::sink::Exporter;
use crate::report::{ImageRecord, Record, RunInfo, SummaryRecord, ToolInfo};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};

pub struct Merged {
    pub images: u64,
    /// Inputs of the original list with no record in any shard.
    pub missing: u64,
    /// Shard indices not given. Counted as incomplete even when every input
    /// has a record (a shard may have drawn no inputs): the file was forgotten.
    pub missing_shards: Vec<u32>,
    pub warnings: Vec<String>,
}

impl Merged {
    pub fn complete(&self) -> bool {
        self.missing == 0 && self.missing_shards.is_empty()
    }
}

/// Where `analyze --out` keeps the settings its records were made with.
pub const SETTINGS_NAME: &str = "run-settings.json";

fn refuse(path: &Path, reason: String) -> SetupError {
    SetupError::Output {
        path: path.to_path_buf(),
        reason,
    }
}

type Reader = Lines<BufReader<std::fs::File>>;

fn open(path: &Path) -> Result<Reader, SetupError> {
    let f = std::fs::File::open(path).map_err(|e| refuse(path, e.to_string()))?;
    Ok(BufReader::new(f).lines())
}

/// The summary: the last line of a complete results file.
fn summary_of(path: &Path) -> Result<SummaryRecord, SetupError> {
    let mut last = None;
    for line in open(path)? {
        let line = line.map_err(|e| refuse(path, e.to_string()))?;
        // Cheap filter first; the parse below confirms it.
        if line.contains(r#""type":"summary""#) {
            last = Some(line);
        }
    }
    let line = last.ok_or_else(|| {
        refuse(
            path,
            format!("no summary record: not a complete {RESULTS_NAME}"),
        )
    })?;
    match serde_json::from_str(&line) {
        Ok(Record::Summary(s)) => Ok(s),
        _ => Err(refuse(path, "unreadable summary record".into())),
    }
}

fn next_image(reader: &mut Reader, path: &Path) -> Result<Option<ImageRecord>, SetupError> {
    for line in reader.by_ref() {
        let line = line.map_err(|e| refuse(path, e.to_string()))?;
        match serde_json::from_str::<Record>(&line) {
            Ok(Record::Image(r)) => return Ok(Some(*r)),
            Ok(Record::Summary(_)) => {}
            Err(e) => return Err(refuse(path, format!("bad record: {e}"))),
        }
    }
    Ok(None)
}

/// Merges shard results into `out`. Refuses: a file without its summary (an
/// incomplete shard), shards of different tool or model versions,
/// protocols, device profiles, settings or input lists, the same shard
/// twice, and any input that appears twice. Missing shards and inputs are
/// reported.
pub fn merge(files: &[PathBuf], out: &mut dyn Exporter) -> Result<Merged, SetupError> {
    let summaries: Vec<SummaryRecord> = files
        .iter()
        .map(|f| summary_of(f))
        .collect::<Result<_, _>>()?;
    let Some(first) = summaries.first() else {
        return Err(refuse(Path::new("."), "no shard files given".into()));
    };
    for (s, path) in summaries.iter().zip(files).skip(1) {
        let differs = [
            (
                s.tool != first.tool,
                format!(
                    "tool {} {} differs from {}",
                    s.tool.name,
                    s.tool.written(),
                    first.tool.written()
                ),
            ),
            (s.models != first.models, "model versions differ".into()),
            (
                s.protocol_sha256 != first.protocol_sha256,
                "planned with another protocol (or with --plan where the other was not)".into(),
            ),
            (
                s.device_profile != first.device_profile,
                "made with another device profile".into(),
            ),
            (
                s.input_list_sha256 != first.input_list_sha256,
                "made from a different input list".into(),
            ),
        ];
        if let Some((_, why)) = differs.into_iter().find(|(d, _)| *d) {
            return Err(refuse(
                path,
                format!("{why} (compared with {})", files[0].display()),
            ));
        }
    }
    // The settings that shape a record, kept beside each shard's results
    // by `analyze --out` (older shards have none to compare).
    let settings: Vec<(&PathBuf, serde_json::Value)> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f.parent()?.join(SETTINGS_NAME)).ok()?;
            Some((f, serde_json::from_str(&text).ok()?))
        })
        .collect();
    if let Some((first_file, first_settings)) = settings.first() {
        for (f, other) in &settings[1..] {
            if other != first_settings {
                return Err(refuse(
                    f,
                    format!(
                        "analysed with other settings than {} (see {SETTINGS_NAME} beside each)",
                        first_file.display()
                    ),
                ));
            }
        }
    }
    let mut warnings = Vec::new();
    let mut missing_shards = Vec::new();
    let counts: BTreeSet<u32> = summaries
        .iter()
        .filter_map(|s| s.shard.map(|x| x.count))
        .collect();
    if counts.len() > 1 {
        return Err(refuse(
            &files[0],
            format!("shards of different counts: {counts:?}"),
        ));
    }
    if let Some(&n) = counts.iter().next() {
        let have: BTreeSet<u32> = summaries
            .iter()
            .filter_map(|s| s.shard.map(|x| x.index))
            .collect();
        if have.len() != summaries.len() {
            return Err(refuse(&files[0], "the same shard given twice".into()));
        }
        missing_shards = (0..n).filter(|i| !have.contains(i)).collect();
        if !missing_shards.is_empty() {
            warnings.push(format!("shards missing: {missing_shards:?} of {n}"));
        }
    }

    let mut readers: Vec<Reader> = files.iter().map(|f| open(f)).collect::<Result<_, _>>()?;
    let mut heads: Vec<Option<ImageRecord>> = Vec::with_capacity(files.len());
    for (r, f) in readers.iter_mut().zip(files) {
        heads.push(next_image(r, f)?);
    }
    let mut acc = SummaryCounts::default();
    let mut last_index: Option<u64> = None;
    let (mut total_ms, mut gaps) = (0.0, Vec::new());
    // The shard whose next record comes first in input order.
    let next = |heads: &[Option<ImageRecord>]| {
        (0..heads.len())
            .filter(|&k| heads[k].is_some())
            .min_by_key(|&k| heads[k].as_ref().map(|r| r.input.index))
    };
    while let Some(k) = next(&heads) {
        let rec = heads[k]
            .take()
            .unwrap_or_else(|| unreachable!("chosen among the non-empty heads"));
        heads[k] = next_image(&mut readers[k], &files[k])?;
        if last_index == Some(rec.input.index) {
            return Err(refuse(
                &files[k],
                format!("input {} appears more than once", rec.input.path),
            ));
        }
        let expected = last_index.map_or(0, |i| i + 1);
        if rec.input.index > expected && gaps.len() < 20 {
            gaps.extend((expected..rec.input.index).take(20 - gaps.len()));
        }
        last_index = Some(rec.input.index);
        acc.add(&rec);
        total_ms += rec.timing.total_ms;
        out.write(&Record::Image(Box::new(rec)))
            .map_err(|e| refuse(Path::new("merged output"), e.to_string()))?;
    }
    // Inputs after the last record are missing too.
    let after_last = last_index.map_or(0, |i| i + 1);
    if after_last < first.inputs_total && gaps.len() < 20 {
        gaps.extend((after_last..first.inputs_total).take(20 - gaps.len()));
    }
    let images = acc.images();
    let missing = first.inputs_total.saturating_sub(images);
    if missing > 0 {
        warnings.push(format!(
            "{missing} inputs have no record (input positions {gaps:?}{})",
            if missing > 20 { "…" } else { "" }
        ));
    }
    let run = RunInfo {
        threads: summaries.iter().map(|s| s.run.threads).sum(),
        device: first.run.device.clone(),
        command_line: std::env::args().collect(),
        resumed: summaries.iter().map(|s| s.run.resumed).sum(),
        wall_ms: summaries.iter().map(|s| s.run.wall_ms).fold(0.0, f64::max),
        wall_ms_per_image: 0.0,
        mean_image_ms: if images > 0 {
            total_ms / images as f64
        } else {
            0.0
        },
        peak_memory_mb: summaries
            .iter()
            .filter_map(|s| s.run.peak_memory_mb)
            .reduce(f64::max),
        working_directory: first.run.working_directory.clone(),
    };
    let list = InputList {
        total: first.inputs_total,
        sha256: first.input_list_sha256.clone(),
        shard: None,
    };
    let mut summary = acc.finish(&first.models, &first.thresholds, &list, run);
    summary.protocol_sha256 = first.protocol_sha256.clone();
    summary.device_profile = first.device_profile.clone();
    out.write(&Record::Summary(summary))
        .map_err(|e| refuse(Path::new("merged output"), e.to_string()))?;
    Ok(Merged {
        images,
        missing,
        missing_shards,
        warnings,
    })
}

pub struct Verification {
    pub inputs_checked: u64,
    pub inputs_changed: u64,
    pub models_match: bool,
    pub tool_matches: bool,
    /// Inputs the run listed that have no record (an incomplete merge or
    /// run): a rerun would hold records these results lack.
    pub inputs_missing: u64,
    pub problems: Vec<String>,
}

impl Verification {
    pub fn comparable(&self) -> bool {
        self.inputs_changed == 0
            && self.inputs_missing == 0
            && self.models_match
            && self.tool_matches
    }
}

/// Re-hashes every input and model a results file names.
pub fn verify(results: &Path, models_dir: Option<&Path>) -> Result<Verification, SetupError> {
    let summary = summary_of(results)?;
    let mut v = Verification {
        inputs_checked: 0,
        inputs_changed: 0,
        models_match: true,
        tool_matches: summary.tool == ToolInfo::current(),
        inputs_missing: summary.inputs_total.saturating_sub(summary.images),
        problems: Vec::new(),
    };
    if v.inputs_missing > 0 {
        v.problems.push(format!(
            "{} of the run's {} inputs have no record (an incomplete merge or run)",
            v.inputs_missing, summary.inputs_total
        ));
    }
    if !v.tool_matches {
        v.problems.push(format!(
            "results made by {} {}, this is {}",
            summary.tool.name,
            summary.tool.written(),
            ToolInfo::current().written()
        ));
    }
    let dir = models::locate_dir(models_dir)?;
    for m in &summary.models {
        let path = dir.join(format!("{}.onnx", m.name));
        let now = std::fs::read(&path).map(|b| hex_sha256(&b));
        if now.as_deref().ok() != Some(m.sha256.as_str()) {
            v.models_match = false;
            v.problems.push(format!(
                "model {}: {} no longer has sha256 {}",
                m.name,
                path.display(),
                m.sha256
            ));
        }
    }
    let mut reader = open(results)?;
    while let Some(r) = next_image(&mut reader, results)? {
        v.inputs_checked += 1;
        let path =
            crate::report::resolve_input(&r.input.path, summary.run.working_directory.as_deref());
        let now = std::fs::read(&path).ok().map(|b| hex_sha256(&b));
        if now.is_none() || now != r.input.sha256 {
            v.inputs_changed += 1;
            v.problems.push(format!(
                "input {}: {}",
                r.input.path,
                if now.is_none() {
                    "cannot be read (moved, deleted, or pseudonymised path)"
                } else {
                    "content changed"
                }
            ));
        }
    }
    Ok(v)
}
