//! Batch runs around the per-photo pipeline: this process's shard of the
//! inputs, resuming an interrupted run without losing or repeating a photo,
//! and the journal that makes a kill at any moment recoverable.

use crate::error::SetupError;
use crate::ingest::{InputItem, Shard};
use crate::models::hex_sha256;
use crate::pipeline::{self, Analyzer, InputList};
use crate::report::sink::{self, Journal};
use crate::report::{ImageRecord, Record, RunInfo, SummaryRecord, ToolInfo};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

pub const RESULTS_NAME: &str = "results.jsonl";

#[derive(Debug, Clone, Default)]
pub struct BatchOptions {
    pub threads: usize,
    pub shard: Option<Shard>,
    /// Results directory; the journal lives there while the run is in progress.
    pub out_dir: Option<PathBuf>,
    /// Reuse records from an earlier run in `out_dir` whose input bytes,
    /// tool version and models are unchanged.
    pub resume: bool,
    pub command_line: Vec<String>,
    /// Recorded in the summary so that relative input paths can be found
    /// again; `None` for pseudonymised runs.
    pub working_directory: Option<PathBuf>,
}

pub struct BatchResult {
    pub records: Vec<ImageRecord>,
    pub summary: SummaryRecord,
}

/// Records of an earlier run that can stand for this one, by input path.
fn reusable(dir: &Path, analyzer: &Analyzer) -> Result<HashMap<String, ImageRecord>, SetupError> {
    let io = |p: &Path, e: std::io::Error| SetupError::Output {
        path: p.to_path_buf(),
        reason: e.to_string(),
    };
    let mut out = HashMap::new();
    for file in [dir.join(RESULTS_NAME), dir.join(sink::JOURNAL_NAME)] {
        for rec in sink::read_records(&file).map_err(|e| io(&file, e))? {
            if let Record::Image(r) = rec {
                if r.tool == ToolInfo::current() && r.models == analyzer.model_refs() {
                    out.insert(r.input.path.clone(), *r);
                }
            }
        }
    }
    Ok(out)
}

pub fn run(
    analyzer: &Analyzer,
    all: Vec<InputItem>,
    opts: &BatchOptions,
    on_done: &(dyn Fn(&ImageRecord) + Sync),
) -> Result<BatchResult, SetupError> {
    let start = Instant::now();
    let inputs = InputList::new(&all, opts.shard);
    let mine: Vec<(usize, InputItem)> = all
        .into_iter()
        .enumerate()
        .filter(|(_, it)| opts.shard.is_none_or(|s| s.contains(it)))
        .collect();

    let mut previous = match (&opts.out_dir, opts.resume) {
        (Some(dir), true) => reusable(dir, analyzer)?,
        _ => HashMap::new(),
    };
    let mut reused: HashMap<usize, ImageRecord> = HashMap::new();
    for (i, item) in &mine {
        let key = analyzer.record_path(item);
        if let Some(old) = previous.remove(&key) {
            // Same path is not enough: the bytes must be the ones analysed.
            let now = std::fs::read(&item.path).ok().map(|b| hex_sha256(&b));
            if now.is_some() && now == old.input.sha256 {
                let mut old = old;
                old.input.index = *i as u64;
                reused.insert(*i, old);
            }
        }
    }

    let journal = match &opts.out_dir {
        Some(dir) => {
            let mut j = Journal::create(dir).map_err(|e| SetupError::Output {
                path: dir.join(sink::JOURNAL_NAME),
                reason: e.to_string(),
            })?;
            for (i, _) in &mine {
                if let Some(r) = reused.get(i) {
                    j.append(&Record::Image(Box::new(r.clone()))).map_err(|e| {
                        SetupError::Output {
                            path: dir.join(sink::JOURNAL_NAME),
                            reason: e.to_string(),
                        }
                    })?;
                }
            }
            Some(Mutex::new(j))
        }
        None => None,
    };
    let todo: Vec<(usize, InputItem)> = mine
        .iter()
        .filter(|(i, _)| !reused.contains_key(i))
        .cloned()
        .collect();
    let journal_error: Mutex<Option<String>> = Mutex::new(None);
    let record_done = |r: &ImageRecord| {
        if let Some(j) = &journal {
            let written = j.lock().map_err(|e| e.to_string()).and_then(|mut j| {
                j.append(&Record::Image(Box::new(r.clone())))
                    .map_err(|e| e.to_string())
            });
            if let Err(e) = written {
                if let Ok(mut slot) = journal_error.lock() {
                    slot.get_or_insert(e);
                }
            }
        }
        on_done(r);
    };
    let fresh = analyzer.run_batch(&todo, opts.threads, &record_done)?;
    if let Some(e) = journal_error.into_inner().ok().flatten() {
        return Err(SetupError::Output {
            path: opts.out_dir.clone().unwrap_or_default(),
            reason: format!("journal: {e}"),
        });
    }

    let mut fresh_by_index: HashMap<usize, ImageRecord> =
        todo.iter().map(|(i, _)| *i).zip(fresh).collect();
    let analysed_now = fresh_by_index.len();
    let records: Vec<ImageRecord> = mine
        .iter()
        .filter_map(|(i, _)| reused.remove(i).or_else(|| fresh_by_index.remove(i)))
        .collect();
    let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    let new_records = records
        .iter()
        .filter(|r| r.timing.total_ms > 0.0)
        .count()
        .max(1);
    let run = RunInfo {
        threads: opts.threads,
        device: format!("{:?}", analyzer.device()).to_lowercase(),
        command_line: opts.command_line.clone(),
        resumed: (records.len() - analysed_now) as u64,
        wall_ms,
        wall_ms_per_image: if analysed_now > 0 {
            wall_ms / analysed_now as f64
        } else {
            0.0
        },
        mean_image_ms: records.iter().map(|r| r.timing.total_ms).sum::<f64>() / new_records as f64,
        peak_memory_mb: crate::memory::peak_mib(),
        working_directory: opts
            .working_directory
            .as_ref()
            .map(|p| p.display().to_string()),
    };
    let summary = pipeline::summarise(
        &records,
        analyzer.model_refs(),
        analyzer.thresholds(),
        &inputs,
        run,
    );
    Ok(BatchResult { records, summary })
}
