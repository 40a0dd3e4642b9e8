//! The `dermascore` command line: a thin layer over the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use dermascore::batch::{self, BatchOptions};
use dermascore::ingest::Shard;
use dermascore::ingest::{self, DecodeLimits, Depth};
use dermascore::merge::SETTINGS_NAME;
use dermascore::report::pseudonym::Pseudonymiser;
use dermascore::report::sink::{self, AtomicJsonLinesFile, Exporter, Journal, JsonLines};
use dermascore::report::{self, Record};
use dermascore::runtime::Device;
use dermascore::units::PxPerMm;
use dermascore::{Analyzer, Options};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "dermascore",
    version,
    about = "Offline facial skin measurement from photographs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse photos and write one JSON record per photo, then a summary.
    Analyze(AnalyzeArgs),
    /// Print the JSON Schema of an output: results (default), plan,
    /// compare, cohort or mdc.
    Schema {
        #[arg(default_value = "results", value_parser = clap::builder::PossibleValuesParser::new(dermascore::schemas::OUTPUTS))]
        output: String,
    },
    /// Print the default treatment protocol (TOML); pass an edited copy with --protocol.
    Protocol,
    /// Print a shell completion script: `dermascore completions bash >
    /// /etc/bash_completion.d/dermascore` (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff): `dermascore man > dermascore.1`.
    Man,
    /// Print the metrics that compare, report and cohort read (JSON): each
    /// one's name in their outputs, its written label and unit, and where
    /// the results record holds it.
    Metrics,
    /// Microneedling plans from results files.
    Plan(PlanArgs),
    /// Measure the metrics' repeatability under capture changes and write the MDC table.
    Repeatability(RepeatabilityArgs),
    /// Change between each patient's visits, against the minimal detectable change.
    Compare(CompareArgs),
    /// A self-contained HTML report per patient (photos, before/after, trends, plan) and CSV exports.
    Report(CompareArgs),
    /// Results in a clinical exchange format: `export fhir` writes one FHIR R4 transaction Bundle per patient and visit.
    Export(ExportArgs),
    /// Trial statistics per arm, time point and metric from results files and a design CSV.
    Cohort(CohortArgs),
    /// Join shard outputs into one results file; refuses duplicates and mixed versions, reports missing inputs.
    Merge(MergeArgs),
    /// Re-check a results file's inputs and models: would a rerun be comparable?
    Verify(VerifyArgs),
    /// Measure pore and pigment accuracy (synthetic set and the real labelled close-up), beside classical baselines.
    Evaluate(EvaluateArgs),
}

#[derive(clap::Args)]
struct PlanOptions {
    /// Treatment protocol (TOML); default: the built-in one (`dermascore protocol`).
    #[arg(long, value_name = "TOML")]
    protocol: Option<PathBuf>,
    /// Patient intake (CSV or JSON): medications, pregnancy, history, recent procedures, Fitzpatrick type, the clinician's acne-scar grade and pigmentation confirmation, treatment requests.
    #[arg(long, value_name = "FILE")]
    intake: Option<PathBuf>,
    /// A pseudonymising `analyze` run's key: the intake's rows, keyed by
    /// the patients' real ids, are re-keyed by their pseudonyms so that
    /// they still meet their records (a contraindication must not be lost
    /// to pseudonymisation).
    #[arg(skip)]
    pseudonymiser: Option<std::sync::Arc<Pseudonymiser>>,
}

#[derive(clap::Args)]
struct PlanArgs {
    /// Results files (or directories holding results.jsonl).
    results: Vec<PathBuf>,
    #[command(flatten)]
    plan: PlanOptions,
    /// Write plans to this JSON Lines file (stdout if not given).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RepeatabilityArgs {
    /// Photos (or directories) to re-analyse under capture perturbations.
    photos: Vec<PathBuf>,
    /// Where to write the table (JSON).
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
struct CompareArgs {
    /// Results files (or directories holding results.jsonl).
    results: Vec<PathBuf>,
    /// MDC table (default: the built-in one, models/mdc.json).
    #[arg(long, value_name = "JSON")]
    mdc: Option<PathBuf>,
    #[command(flatten)]
    plan: PlanOptions,
    /// Write DIR/compare.json, DIR/changes.csv and DIR/zones.csv (and, for `report`, DIR/PATIENT.html).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The records withhold their photos' paths (a pseudonymised run):
    /// reports show no photos, and that is not a failure.
    #[arg(skip)]
    photos_withheld: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// FHIR R4 (JSON): Patient, Device, Observations, Media, DiagnosticReport.
    Fhir,
}

#[derive(clap::Args)]
struct ExportArgs {
    #[arg(value_enum)]
    format: ExportFormat,
    /// Results files (or directories holding results.jsonl).
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Write one DIR/PATIENT_VISIT.json per patient and visit.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(clap::Args)]
struct CohortArgs {
    /// Results files (or directories holding results.jsonl).
    results: Vec<PathBuf>,
    /// CSV: patient_id,arm[,visit_date,timepoint][,covariates…].
    #[arg(long)]
    design: PathBuf,
    /// Write DIR/cohort.csv, DIR/cohort.json (and cohort.html with --html); else CSV to stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also write a self-contained HTML report: tables per arm and time point, changes, between-arm differences, trajectories (needs --out).
    #[arg(long, requires = "out")]
    html: bool,
    /// Arm that others are compared against (default: the first by name).
    #[arg(long)]
    reference_arm: Option<String>,
}

#[derive(clap::Args)]
struct MergeArgs {
    /// Shard results files (or directories holding results.jsonl).
    shards: Vec<PathBuf>,
    /// Where to write the merged results.jsonl (stdout if not given).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// A results file or a directory holding results.jsonl.
    results: PathBuf,
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("sets").required(true).multiple(true).args(["synthetic", "scars", "real_faces", "real_pigment"])))]
struct EvaluateArgs {
    /// Pore and pigment evaluation set written by `python3 datasets/synth_skin.py eval --out DIR`.
    #[arg(long, value_name = "DIR")]
    synthetic: Option<PathBuf>,
    /// Acne-scar evaluation captures written by `python3 datasets/synth_scars.py eval --out DIR` (or `near`, near-field rig sets, or `datasets/synth_relief_independent.py`).
    #[arg(long, value_name = "DIR")]
    scars: Option<PathBuf>,
    /// Folder with cheek_input.png, cheek_pore_label.png and cheek_roi_mask.png
    /// (pore Dice; also the pigment stability check on cheek_input.png read as
    /// `analyze --patch` reads a close-up).
    #[arg(long, value_name = "DIR")]
    real_pores: Option<PathBuf>,
    /// Scale of the real close-up (its eyes are closed, so it cannot come from the iris).
    #[arg(long, value_name = "PX_PER_MM", requires = "real_pores")]
    real_px_per_mm: Option<PxPerMm>,
    /// Folder of real face photos: pigmented area under ±15 % exposure and a colour cast.
    #[arg(long, value_name = "DIR")]
    real_faces: Option<PathBuf>,
    /// Hand-outlined real macules (datasets/real_pigment: a folder per
    /// region with outlines.json, spots.png, dont_care.png; or one region's
    /// folder): the pigment model's Dice and area error per region.
    #[arg(long, value_name = "DIR")]
    real_pigment: Option<PathBuf>,
    /// Where the photos that --real-pigment names lie.
    #[arg(long, value_name = "DIR", default_value = "../shared/photos")]
    photos: PathBuf,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
}

#[derive(clap::Args)]
struct AnalyzeArgs {
    /// Photos or directories (searched recursively; PATIENT/YYYY-MM-DD/ layouts fill patient and visit).
    inputs: Vec<PathBuf>,
    /// CSV with columns path,patient_id,visit_date,view (view: front, left, right).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// What a booth fixes (TOML): modality by file name, files to ignore,
    /// its calibrated px/mm; photos of one sitting become one record.
    #[arg(long)]
    device_profile: Option<PathBuf>,
    /// Write DIR/results.jsonl (atomically) instead of printing to stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also write an overlay PNG per photo under DIR/overlays/ (needs --out).
    #[arg(long, requires = "out")]
    overlays: bool,
    /// The overlays' longest side, pixels: the face's region is drawn at
    /// most this large (never enlarged). Raise it to audit pores on a
    /// clinic photo at full resolution (a 27 MP face: about 5000).
    #[arg(long, value_name = "PX", default_value_t = 1200, value_parser = clap::value_parser!(u32).range(400..=16000), requires = "overlays")]
    overlay_size: u32,
    /// Include the 468 face-mesh landmarks (image pixels) in each record.
    #[arg(long)]
    landmarks: bool,
    /// Close-up without a whole face: measure the whole frame (or --patch-mask) as one zone. Needs --px-per-mm.
    #[arg(long, requires = "px_per_mm")]
    patch: bool,
    /// Mask image for --patch, same size as the photos; non-zero pixels are measured.
    #[arg(long, requires = "patch", value_name = "PNG")]
    patch_mask: Option<PathBuf>,
    /// Known scale in pixels per millimetre; replaces the iris estimate.
    #[arg(long, value_name = "PX_PER_MM")]
    px_per_mm: Option<PxPerMm>,
    /// Inference device; cuda falls back to cpu with a warning.
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
    /// Worker threads (default: available cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Directory holding the ONNX models and manifest.json.
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Add a microneedling plan to each record (see `dermascore protocol`).
    #[arg(long = "plan")]
    with_plan: bool,
    /// Then compare visits and write the patient reports and CSVs to DIR/report/ (needs --out).
    #[arg(long = "report", requires = "out")]
    with_report: bool,
    #[command(flatten)]
    plan: PlanOptions,
    /// Analyse only this share of the inputs: I/N (0-based), or `auto` from
    /// SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX/JOB_COMPLETIONS.
    #[arg(long, value_name = "I/N|auto")]
    shard: Option<String>,
    /// Keep the records of an earlier (interrupted) run in --out whose input
    /// bytes, tool version and models are unchanged; analyse the rest.
    #[arg(long, requires = "out")]
    resume: bool,
    /// Replace patient ids with HMAC-SHA-256 pseudonyms keyed by this file
    /// (at least 16 bytes); paths and overlay names are scrubbed too.
    #[arg(long, value_name = "KEYFILE")]
    pseudonymise: Option<PathBuf>,
    /// Refuse images with more pixels than this (decompression-bomb guard; at least 1).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    max_megapixels: u64,
    /// Peak memory target for the whole run, MiB: a worker waits rather
    /// than start a photo that would not fit beside those in progress (a
    /// photo larger than the budget runs alone). 0: no limit.
    #[arg(long, value_name = "MIB", default_value_t = dermascore::memory::DEFAULT_BUDGET_MIB)]
    memory_budget: u64,
    /// No progress, per-photo messages or summary line on stderr (records
    /// still say what failed; the exit code still tells).
    #[arg(long, short = 'q', conflicts_with = "verbose")]
    quiet: bool,
    /// A line per photo on stderr as it finishes, with its time.
    #[arg(long, short = 'v')]
    verbose: bool,
}

/// The manual page: the top-level command, then each subcommand's
/// synopsis, description and options.
fn man() -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    let cli = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(cli.clone()).render(&mut out)?;
    for sub in cli.get_subcommands() {
        let page = clap_mangen::Man::new(sub.clone());
        page.render_synopsis_section(&mut out)?;
        page.render_description_section(&mut out)?;
        page.render_options_section(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn metrics() -> anyhow::Result<ExitCode> {
    let list: Vec<serde_json::Value> = dermascore::cohort::metrics()
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name,
                "label": m.label,
                "unit": m.unit,
                "record_field": m.record_field,
            })
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&list)?);
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    // Output piped into `head` and closed early ends the program quietly,
    // as other command-line tools do, instead of a "Broken pipe" panic
    // (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition before any thread
    // starts; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    dermascore::memory::reuse_freed_buffers();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Schema { output } => schema(&output),
        Command::Evaluate(args) => evaluate(args),
        Command::Merge(args) => merge(args),
        Command::Cohort(args) => cohort(args),
        Command::Protocol => {
            print!("{}", dermascore::plan::protocol::DEFAULT);
            Ok(ExitCode::SUCCESS)
        }
        Command::Metrics => metrics(),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "dermascore",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => man(),
        Command::Plan(args) => plan(args),
        Command::Repeatability(args) => repeatability(args),
        Command::Compare(args) => compare(args),
        Command::Report(args) => patient_reports(args),
        Command::Export(args) => export(args),
        Command::Verify(args) => verify(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn schema(output: &str) -> anyhow::Result<ExitCode> {
    let schema =
        dermascore::schemas::of(output).with_context(|| format!("no schema for {output}"))?;
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}

fn evaluate(args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let real = match (&args.real_pores, args.real_px_per_mm) {
        (Some(dir), Some(s)) => Some((dir.as_path(), s)),
        (Some(_), None) => anyhow::bail!("--real-pores needs --real-px-per-mm"),
        _ => None,
    };
    let mut figures = match &args.synthetic {
        Some(dir) => dermascore::evaluate::run(dir, real, args.models.as_deref())?,
        None => serde_json::json!({}),
    };
    if let Some(dir) = &args.scars {
        figures["acne_scars"] = dermascore::evaluate::scars::run(dir, args.models.as_deref())?;
        if let Some(synthetic) = &args.synthetic {
            figures["acne_scars"]["flat_synthetic_single_photo"] =
                dermascore::evaluate::scars::flat_false_alarms(
                    synthetic,
                    dermascore::quality::Thresholds::default().scars_min_px_per_mm,
                    args.models.as_deref(),
                )?;
        }
        if let Some((real_dir, scale)) = real {
            figures["acne_scars"]["real_closeup_single_photo"] =
                dermascore::evaluate::scars::real_false_alarms(
                    real_dir,
                    scale,
                    args.models.as_deref(),
                )?;
        }
    }
    if let Some((dir, scale)) = real {
        figures["pigment_stability_real_closeup"] = dermascore::evaluate::real_photo_stability(
            &[dir.join("cheek_input.png")],
            Some(scale),
            args.models.as_deref(),
            Depth::Eight,
        )?;
    }
    if let Some(dir) = &args.real_faces {
        figures["pigment_stability_real_faces"] = dermascore::evaluate::real_photo_stability(
            std::slice::from_ref(dir),
            None,
            args.models.as_deref(),
            Depth::Eight,
        )?;
        println!("\nThe same, each face carried at 16 bits and the changes re-encoded at 16 bits:");
        figures["pigment_stability_real_faces_16bit"] = dermascore::evaluate::real_photo_stability(
            std::slice::from_ref(dir),
            None,
            args.models.as_deref(),
            Depth::Sixteen,
        )?;
    }
    if let Some(dir) = &args.real_pigment {
        figures["pigment_real_outlines"] =
            dermascore::evaluate::real_pigment(dir, &args.photos, args.models.as_deref())?;
    }
    if let Some(path) = &args.json {
        dermascore::report::sink::write_atomic(
            path,
            serde_json::to_string_pretty(&figures)?.as_bytes(),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The protocol text and parsed protocol, and the intake by patient.
struct Planning {
    text: String,
    protocol: dermascore::plan::protocol::Protocol,
    intake: std::collections::BTreeMap<String, dermascore::plan::intake::Intake>,
}

impl Planning {
    fn load(o: &PlanOptions) -> anyhow::Result<Self> {
        let text = match &o.protocol {
            Some(p) => {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
            }
            None => dermascore::plan::protocol::DEFAULT.to_string(),
        };
        let protocol = dermascore::plan::protocol::Protocol::parse(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}",
                o.protocol
                    .as_ref()
                    .map_or("built-in protocol".into(), |p| p.display().to_string())
            )
        })?;
        let mut intake = match &o.intake {
            Some(p) => dermascore::plan::intake::read(p)?,
            None => Default::default(),
        };
        if let Some(key) = &o.pseudonymiser {
            intake = intake
                .into_iter()
                .map(|(id, mut row)| {
                    let pseudonym = key.pseudonym(&id);
                    row.patient_id.clone_from(&pseudonym);
                    (pseudonym, row)
                })
                .collect();
        }
        Ok(Self {
            text,
            protocol,
            intake,
        })
    }

    /// Names on stderr the intake rows that no record's patient id matches,
    /// and, without an intake, the stored plans that had one: plans are
    /// made again here, and a contraindication or request the analysis run
    /// knew must not vanish without a word.
    fn warn_unmatched<'a>(&self, records: impl Iterator<Item = &'a report::ImageRecord> + Clone) {
        let ids: Vec<&str> = records
            .clone()
            .filter_map(|r| r.subject.as_ref()?.patient_id.as_deref())
            .collect();
        for line in dermascore::plan::intake::unmatched(&self.intake, ids.iter().copied()) {
            eprintln!("warning: {line}");
        }
        if self.intake.is_empty() {
            let had_intake = records
                .filter(|r| {
                    r.plan
                        .as_ref()
                        .is_some_and(|p| !p.findings.iter().any(|f| f.rule == "intake.missing"))
                })
                .count();
            if had_intake > 0 {
                eprintln!(
                    "warning: {had_intake} record(s) hold plans made with an intake; the plans here are made again without one, so its contraindications and requests are not in them (pass the same --intake FILE)"
                );
            }
        }
    }

    fn plan_for(&self, r: &report::ImageRecord) -> Option<dermascore::plan::Plan> {
        (r.status == report::Status::Ok).then(|| {
            let intake = r
                .subject
                .as_ref()
                .and_then(|s| s.patient_id.as_ref())
                .and_then(|p| self.intake.get(p));
            dermascore::plan::make_plan(r, &self.protocol, &self.text, intake)
        })
    }
}

fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let planning = Planning::load(&args.plan)?;
    let (records, skipped) = image_records(&args.results)?;
    planning.warn_unmatched(records.iter());
    let mut lines = Vec::new();
    for r in &records {
        if let Some(p) = planning.plan_for(r) {
            let line = dermascore::plan::PlanLine {
                kind: dermascore::plan::PlanLineType::Plan,
                schema_version: dermascore::SCHEMA_VERSION.into(),
                input: r.input.path.clone(),
                subject: r.subject.clone(),
                plan: p,
            };
            lines.push(serde_json::to_string(&dermascore::report::rounded_json(
                &line,
            )?)?);
        }
    }
    let text = lines.join("\n") + if lines.is_empty() { "" } else { "\n" };
    match &args.out {
        Some(p) => sink::write_atomic(p, text.as_bytes())?,
        None => {
            use std::io::Write;
            std::io::stdout().lock().write_all(text.as_bytes())?;
        }
    }
    eprintln!(
        "{} plan{}",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" }
    );
    Ok(exit_code(skipped))
}

fn repeatability(args: RepeatabilityArgs) -> anyhow::Result<ExitCode> {
    let photos: Vec<PathBuf> = ingest::discover(&args.photos)?
        .into_iter()
        .map(|i| i.path)
        .collect();
    let analyzer = Analyzer::new(Options::default())?;
    let (table, skipped) = dermascore::compare::repeatability::measure(&analyzer, &photos);
    for s in &skipped {
        eprintln!("{}: skipped: {}", s.path.display(), s.error.message);
    }
    if table.metrics.is_empty() {
        // An empty table passed to `compare --mdc` would leave every change
        // without a noise estimate: write none.
        eprintln!(
            "error: no metric's MDC could be measured from {} usable photo(s) (it takes at least two people's photos with that metric measured); {} not written",
            table.photos.len(),
            args.out.display()
        );
        return Ok(ExitCode::from(1));
    }
    sink::write_atomic(&args.out, (report::pretty_json(&table)? + "\n").as_bytes())?;
    eprintln!(
        "{} photos × {} captures: MDC for {} metrics",
        table.photos.len(),
        table.perturbations.len() + 1,
        table.metrics.len()
    );
    Ok(exit_code(!skipped.is_empty()))
}

fn results_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(|p| {
            if p.is_dir() {
                p.join(batch::RESULTS_NAME)
            } else {
                p.clone()
            }
        })
        .collect()
}

/// Names, on stderr, the lines of a results file that are not records.
fn note_unreadable_lines(file: &Path, lines: &[usize]) {
    const NAMED: usize = 10;
    let n = lines.len();
    if n == 0 {
        return;
    }
    let mut named: Vec<String> = lines.iter().take(NAMED).map(usize::to_string).collect();
    if n > NAMED {
        named.push(format!("and {} more", n - NAMED));
    }
    eprintln!(
        "{}: {n} {} skipped, not schema {} records: {} {}",
        file.display(),
        if n == 1 { "line" } else { "lines" },
        dermascore::SCHEMA_VERSION,
        if n == 1 { "line" } else { "lines" },
        named.join(", ")
    );
}

/// The image records of results files (or directories holding one). A file
/// that cannot be read stops the command; lines that are not records are
/// named on stderr, and the second value says whether there were any.
fn image_records(paths: &[PathBuf]) -> anyhow::Result<(Vec<report::ImageRecord>, bool)> {
    let mut records = Vec::new();
    let mut skipped = false;
    for f in results_files(paths) {
        let file = sink::read_results(&f).with_context(|| format!("reading {}", f.display()))?;
        if !file.unreadable_lines.is_empty() {
            skipped = true;
            note_unreadable_lines(&f, &file.unreadable_lines);
        }
        // Relative input paths resolve against the folder the run started
        // in, so that reports find the photos from anywhere.
        let wd = file.records.iter().find_map(|r| match r {
            Record::Summary(s) => s.run.working_directory.clone(),
            Record::Image(_) => None,
        });
        records.extend(file.records.into_iter().filter_map(|r| match r {
            Record::Image(mut i) => {
                let at = |p: &str| {
                    report::resolve_input(p, wd.as_deref())
                        .display()
                        .to_string()
                };
                i.input.path = at(&i.input.path);
                if let Some(c) = i.acne_scars.as_mut().and_then(|s| s.capture.as_mut()) {
                    for p in c.photos.iter_mut() {
                        p.path = at(&p.path);
                    }
                }
                Some(*i)
            }
            Record::Summary(_) => None,
        }));
    }
    Ok((records, skipped))
}

/// 1 when some input could not be used and the rest was done (as ripgrep).
fn exit_code(skipped: bool) -> ExitCode {
    if skipped {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let (_, _, skipped) = write_comparison(&args)?;
    Ok(exit_code(skipped))
}

/// Compares every patient's visits and writes compare.json, changes.csv and
/// zones.csv; returns the records read, the comparisons and whether some
/// lines of the results could not be read.
fn write_comparison(
    args: &CompareArgs,
) -> anyhow::Result<(
    Vec<report::ImageRecord>,
    Vec<dermascore::compare::PatientComparison>,
    bool,
)> {
    use dermascore::compare::{self as cmp, repeatability::MdcTable};
    let mdc_text = match &args.mdc {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => cmp::repeatability::DEFAULT_TABLE.to_string(),
    };
    let mdc = MdcTable::parse(&mdc_text).context("reading the MDC table")?;
    let planning = Planning::load(&args.plan)?;
    let (records, skipped) = image_records(&args.results)?;
    let metrics = dermascore::cohort::metrics();
    let patients = cmp::compare(
        &records,
        &metrics,
        &mdc,
        Some((&planning.protocol, &planning.text, &planning.intake)),
    );
    planning.warn_unmatched(records.iter());
    // Photos outside a PATIENT/DATE layout or manifest belong to no patient:
    // say so, rather than leave them out of every comparison unnamed.
    let unassigned: Vec<&str> = records
        .iter()
        .filter(|r| {
            r.status == report::Status::Ok
                && r.subject
                    .as_ref()
                    .is_none_or(|s| s.patient_id.is_none() || s.visit_date.is_none())
        })
        .map(|r| r.input.path.as_str())
        .collect();
    if let Some(first) = unassigned.first() {
        eprintln!(
            "{} photo(s) have no patient and visit date, so no comparison or report includes them (first: {first}): put them in PATIENT/YYYY-MM-DD/ folders or list them in a --manifest when analysing",
            unassigned.len()
        );
    }
    std::fs::create_dir_all(&args.out)?;
    let document = cmp::CompareDocument {
        schema_version: dermascore::SCHEMA_VERSION.into(),
        mdc_perturbations: mdc.perturbations.clone(),
        patients,
    };
    sink::write_atomic(
        &args.out.join("compare.json"),
        report::pretty_json(&document)?.as_bytes(),
    )?;
    let patients = document.patients;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "patient_id",
        "visit_date",
        "metric",
        "value",
        "change_from_baseline",
        "change_from_previous",
        "pct_change_from_baseline",
        "mdc95",
        "exceeds_mdc",
        "capture_warnings",
    ])?;
    let opt = |v: Option<f64>| v.map_or(String::new(), dermascore::report::number_text);
    for p in &patients {
        for c in &p.changes {
            use dermascore::report::csv_export::text_cell;
            w.write_record([
                text_cell(&c.patient_id),
                text_cell(&c.visit_date),
                text_cell(&c.metric),
                dermascore::report::number_text(c.value),
                opt(c.change_from_baseline),
                opt(c.change_from_previous),
                opt(c.pct_change_from_baseline),
                opt(c.mdc95),
                c.exceeds_mdc.map_or(String::new(), |b| b.to_string()),
                text_cell(&c.capture_warnings.join("; ")),
            ])?;
        }
    }
    sink::write_atomic(&args.out.join("changes.csv"), &w.into_inner()?)?;
    sink::write_atomic(
        &args.out.join("zones.csv"),
        &dermascore::report::csv_export::zones_csv(&records)?,
    )?;
    eprintln!("{} patients compared", patients.len());
    Ok((records, patients, skipped))
}

/// The input of a record, for re-analysis: its photo, its capture set if
/// any, and its scale if it was analysed without a face.
fn visit_item(r: &dermascore::report::ImageRecord) -> (ingest::InputItem, Option<PxPerMm>) {
    let capture = r
        .acne_scars
        .as_ref()
        .and_then(|s| s.capture.as_ref())
        .and_then(|c| {
            let photos = c
                .photos
                .iter()
                .map(|p| {
                    use dermascore::capture::{Light, LightDir, LightPos};
                    let light = match p.light_pos_mm {
                        Some(pos) => Light::near(LightPos::new(pos.map(|v| v as f32)).ok()?),
                        None => Light::distant(LightDir::new(p.light_dir.map(|v| v as f32)).ok()?),
                    };
                    Some(dermascore::capture::CapturePhoto {
                        path: PathBuf::from(&p.path),
                        light: light.with_intensity(p.intensity as f32).ok()?,
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            Some(dermascore::capture::CaptureSet {
                name: c.capture_set.clone(),
                photos,
                close_up: None,
                device_px_per_mm: None,
                // Pictures only: the light does not change what is drawn.
                modality: None,
                optical_centre_px: c.optical_centre_px.map(|o| o.map(|v| v as f32)),
            })
        });
    let close_up = if r.face.is_none() {
        r.scale.as_ref().and_then(|s| s.px_per_mm)
    } else {
        None
    };
    (
        ingest::InputItem {
            path: PathBuf::from(&r.input.path),
            subject: None,
            modality: None,
            session: None,
            capture,
        },
        close_up,
    )
}

fn patient_reports(args: CompareArgs) -> anyhow::Result<ExitCode> {
    // The comparison (and its CSVs) first, then one HTML file per patient.
    let (records, patients, skipped) = write_comparison(&args)?;
    // Each visit's photo (or capture set) as analysed: close-ups without a
    // face keep their scale, capture sets their photos and lights.
    let mut paths: std::collections::BTreeMap<
        (String, String),
        (ingest::InputItem, Option<PxPerMm>),
    > = Default::default();
    for r in &records {
        if let Some((p, d)) = r
            .subject
            .as_ref()
            .and_then(|s| Some((s.patient_id.clone()?, s.visit_date.clone()?)))
        {
            paths.entry((p, d)).or_insert_with(|| visit_item(r));
        }
    }
    let analyzer = Analyzer::new(Options::default())?;
    let mut failed = 0;
    let ids: Vec<&str> = patients.iter().map(|p| p.patient_id.as_str()).collect();
    let names = report::unique_file_stems(&ids);
    for (p, name) in patients.iter().zip(&names) {
        let pictures: Vec<_> = p
            .visits
            .iter()
            .map(|d| {
                if args.photos_withheld {
                    return None;
                }
                let (item, close_up) = paths.get(&(p.patient_id.clone(), d.clone()))?;
                let path = &item.path;
                match analyzer.visit_pictures(item, *close_up) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        eprintln!("{}: {e}", path.display());
                        None
                    }
                }
            })
            .collect();
        if !args.photos_withheld {
            failed += pictures.iter().filter(|v| v.is_none()).count();
        }
        let html = dermascore::report::patient::render(
            p,
            &pictures,
            &dermascore::report::ToolInfo::current(),
        );
        sink::write_atomic(&args.out.join(format!("{name}.html")), html.as_bytes())?;
    }
    eprintln!(
        "{} patient reports in {}",
        patients.len(),
        args.out.display()
    );
    // Reports an earlier run left in the folder are not this run's: say so
    // rather than let them pass for current (they are not deleted).
    let written: std::collections::BTreeSet<String> =
        names.iter().map(|n| format!("{n}.html")).collect();
    let stale: Vec<String> = std::fs::read_dir(&args.out)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html") && !written.contains(n))
        .collect();
    if !stale.is_empty() {
        eprintln!(
            "note: {} also holds {} report(s) this run did not write (an earlier run's; not these results): {}",
            args.out.display(),
            stale.len(),
            stale.join(", ")
        );
    }
    Ok(exit_code(skipped || failed > 0))
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let ExportFormat::Fhir = args.format;
    let mut records = Vec::new();
    let mut skipped = false;
    // The same photo's record twice (a results file given twice, or
    // overlapping runs) would make two resources with one fullUrl: kept once.
    let mut seen = std::collections::HashSet::new();
    let mut repeated = 0;
    for f in results_files(&args.results) {
        let (recs, s) = image_records(std::slice::from_ref(&f))?;
        skipped |= s;
        // Overlay paths are relative to their own results folder.
        let folder = f.parent().map(Path::to_path_buf).unwrap_or_default();
        for mut r in recs {
            if !seen.insert((r.input.path.clone(), r.input.sha256.clone())) {
                repeated += 1;
                continue;
            }
            for o in &mut r.overlays {
                o.path = folder.join(&o.path).display().to_string();
            }
            records.push(r);
        }
    }
    if repeated > 0 {
        eprintln!("note: {repeated} record(s) repeat a photo already exported (same path and bytes): exported once");
    }
    let read_overlay = |path: &str| std::fs::read(path).ok();
    let (bundles, unreadable) = report::fhir::bundles(&records, &read_overlay);
    if let Some(first) = unreadable.first() {
        eprintln!(
            "note: {} overlay picture(s) could not be read beside their results and are not in the bundles (first: {first}); keep each results folder's overlays/ beside its results.jsonl",
            unreadable.len()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let stems: Vec<&str> = bundles.keys().map(String::as_str).collect();
    for (name, bundle) in report::unique_file_stems(&stems)
        .iter()
        .zip(bundles.values())
    {
        sink::write_atomic(
            &args.out.join(format!("{name}.json")),
            (serde_json::to_string_pretty(bundle)? + "\n").as_bytes(),
        )?;
    }
    let left_out = records.len()
        - records
            .iter()
            .filter(|r| r.status == report::Status::Ok)
            .count();
    if left_out > 0 {
        eprintln!("note: {left_out} records with an error have no measurements to export");
    }
    eprintln!("{} FHIR bundles in {}", bundles.len(), args.out.display());
    Ok(exit_code(skipped))
}

fn cohort(args: CohortArgs) -> anyhow::Result<ExitCode> {
    use dermascore::cohort;
    let files: Vec<PathBuf> = results_files(&args.results);
    if files.is_empty() {
        anyhow::bail!("no results files given");
    }
    let design = cohort::Design::read(&args.design)?;
    let metrics = cohort::metrics();
    let data = cohort::load(&files, &metrics)?;
    for (file, lines) in &data.unreadable_lines {
        note_unreadable_lines(file, lines);
    }
    if let Some(arm) = &args.reference_arm {
        let arms: std::collections::BTreeSet<&str> =
            design.arm.values().map(String::as_str).collect();
        if !arms.contains(arm.as_str()) {
            eprintln!(
                "error: --reference-arm `{arm}` is not an arm of the design (arms: {})",
                arms.into_iter().collect::<Vec<_>>().join(", ")
            );
            return Ok(ExitCode::from(2));
        }
    }
    let result = cohort::analyse(&data, &design, args.reference_arm.as_deref());
    for note in &result.notes {
        eprintln!("note: {note}");
    }
    for (why, n) in &data.skipped {
        eprintln!("note: {n} records skipped ({why})");
    }
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let mut csv = Vec::new();
            cohort::write_csv(&result.rows, &mut csv)?;
            sink::write_atomic(&dir.join("cohort.csv"), &csv)?;
            let json = cohort::CohortDocument {
                schema_version: dermascore::SCHEMA_VERSION,
                records: data.records,
                analysed_by: &data.analysed_by,
                arms: &result.arms,
                timepoints: &result.timepoints,
                missing: &result.missing,
                notes: &result.notes,
                rows: &result.rows,
            };
            sink::write_atomic(
                &dir.join("cohort.json"),
                report::pretty_json(&json)?.as_bytes(),
            )?;
            if args.html {
                sink::write_atomic(
                    &dir.join("cohort.html"),
                    cohort::html::render(&result, "dermascore cohort report").as_bytes(),
                )?;
            }
        }
        None => cohort::write_csv(&result.rows, &mut std::io::stdout().lock())?,
    }
    eprintln!(
        "{} records read, of {} patients ({} in the design); {} arms, {} time points, {} statistics; peak memory {:.0} MiB",
        data.records,
        data.visits.len(),
        data.visits.keys().filter(|p| design.arm.contains_key(*p)).count(),
        result.arms.len(),
        result.timepoints.len(),
        result.rows.len(),
        dermascore::memory::peak_mib().unwrap_or(f64::NAN)
    );
    // Refused duplicates are input errors: the statistics stand without
    // them, but the run says so in its exit code; so does a run that could
    // use no record at all.
    let nothing_used = data.visits.is_empty();
    if nothing_used {
        eprintln!("error: no record could be used (see the notes above): no statistics");
    }
    Ok(exit_code(!data.duplicates.is_empty() || nothing_used))
}

fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let files: Vec<PathBuf> = results_files(&args.shards);
    let mut exporter: Box<dyn Exporter> = match &args.out {
        Some(path) => Box::new(AtomicJsonLinesFile::create(path)?),
        None => Box::new(JsonLines::new(std::io::BufWriter::new(
            std::io::stdout().lock(),
        ))),
    };
    let merged = dermascore::merge::merge(&files, exporter.as_mut())?;
    exporter.finish()?;
    for w in &merged.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "merged {} shard files: {} images, {} inputs missing; peak memory {:.0} MiB",
        files.len(),
        merged.images,
        merged.missing,
        dermascore::memory::peak_mib().unwrap_or(f64::NAN)
    );
    Ok(if merged.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let file = if args.results.is_dir() {
        args.results.join(batch::RESULTS_NAME)
    } else {
        args.results.clone()
    };
    let report = dermascore::merge::verify(&file, args.models.as_deref())?;
    for line in &report.problems {
        println!("{line}");
    }
    println!(
        "{}: {} inputs checked, {} changed or missing, {} without a record; models {}; tool {}: {}",
        file.display(),
        report.inputs_checked,
        report.inputs_changed,
        report.inputs_missing,
        if report.models_match {
            "unchanged"
        } else {
            "CHANGED"
        },
        if report.tool_matches {
            "same version"
        } else {
            "DIFFERENT version"
        },
        if report.comparable() {
            "a rerun would be comparable"
        } else {
            "a rerun would NOT be comparable"
        }
    );
    Ok(if report.comparable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Image records written to stdout in input order as soon as each one and
/// every one before it are done: a batch is never held back whole.
struct InOrder {
    /// Input indices in output order.
    order: Vec<u64>,
    next: usize,
    waiting: std::collections::BTreeMap<u64, report::ImageRecord>,
    out: JsonLines<std::io::Stdout>,
    error: Option<std::io::Error>,
}

impl InOrder {
    fn new(order: Vec<u64>) -> Self {
        Self {
            order,
            next: 0,
            waiting: Default::default(),
            out: JsonLines::new(std::io::stdout()),
            error: None,
        }
    }

    fn push(&mut self, record: report::ImageRecord) {
        self.waiting.insert(record.input.index, record);
        while let Some(r) = self
            .order
            .get(self.next)
            .and_then(|i| self.waiting.remove(i))
        {
            self.next += 1;
            if self.error.is_none() {
                // Stdout is line-buffered: each record leaves at its newline.
                self.error = self.out.write(&Record::Image(Box::new(r))).err();
            }
        }
    }

    /// The exporter for the summary, once every record was written.
    fn finish(mut self) -> anyhow::Result<Box<dyn Exporter>> {
        // Records whose turn never came (none should remain), in order.
        for (_, r) in std::mem::take(&mut self.waiting) {
            self.out.write(&Record::Image(Box::new(r)))?;
        }
        match self.error {
            Some(e) => Err(e).context("writing records to stdout"),
            None => Ok(Box::new(self.out)),
        }
    }
}

/// The options that shape a record (not the plan's: plans are made again
/// for every record, resumed or not), files by their sha256.
fn run_settings(
    args: &AnalyzeArgs,
) -> anyhow::Result<std::collections::BTreeMap<&'static str, String>> {
    let file = |p: &Option<PathBuf>| -> anyhow::Result<String> {
        Ok(match p {
            Some(p) => std::fs::File::open(p)
                .and_then(dermascore::models::hex_sha256_of)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
            None => "none".into(),
        })
    };
    Ok([
        ("manifest (sha256)", file(&args.manifest)?),
        ("device profile (sha256)", file(&args.device_profile)?),
        ("patch mask (sha256)", file(&args.patch_mask)?),
        ("overlays", args.overlays.to_string()),
        ("overlay size (px)", args.overlay_size.to_string()),
        ("landmarks", args.landmarks.to_string()),
        ("patch", args.patch.to_string()),
        (
            "px per mm",
            args.px_per_mm
                .map_or("from the photo".into(), |v| v.get().to_string()),
        ),
        ("device", format!("{:?}", args.device).to_lowercase()),
        ("max megapixels", args.max_megapixels.to_string()),
        ("pseudonymised", args.pseudonymise.is_some().to_string()),
    ]
    .into_iter()
    .collect())
}

/// Records the run's settings in `dir`; with `--resume`, first refuses a
/// folder whose earlier records were made with other settings (reusing
/// them would mix two kinds of record under this run's command line).
fn check_run_settings(
    dir: &std::path::Path,
    now: &std::collections::BTreeMap<&'static str, String>,
    resume: bool,
) -> anyhow::Result<()> {
    let path = dir.join(SETTINGS_NAME);
    if resume {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let before: std::collections::BTreeMap<String, String> = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let differ: Vec<String> = now
                .iter()
                .filter(|(k, v)| before.get(**k) != Some(*v))
                .map(|(k, v)| {
                    format!(
                        "{k}: {} then, {v} now",
                        before.get(*k).map_or("not recorded", String::as_str)
                    )
                })
                .collect();
            if !differ.is_empty() {
                anyhow::bail!(
                    "--resume: the records in {} were made with other settings ({}); rerun without --resume, or into another folder",
                    dir.display(),
                    differ.join("; ")
                );
            }
        }
    }
    std::fs::create_dir_all(dir)?;
    sink::write_atomic(&path, serde_json::to_string_pretty(now)?.as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(())
}

fn analyze(mut args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let mut items = ingest::discover(&args.inputs)?;
    let mut not_sittings = Vec::new();
    if let Some(manifest) = &args.manifest {
        let (rows, notes) =
            dermascore::session::sittings_from_manifest(ingest::read_manifest(manifest)?);
        not_sittings = notes;
        items.extend(rows);
    }
    let profile = match &args.device_profile {
        Some(path) => Some(dermascore::session::DeviceProfile::read(path)?),
        None => None,
    };
    if let Some(profile) = &profile {
        let (grouped, ignored) = dermascore::session::apply(items, profile);
        items = grouped;
        if !ignored.is_empty() {
            eprintln!(
                "note: the device profile `{}` ignores {} file(s): {}",
                profile.name,
                ignored.len(),
                ignored
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if items.is_empty() {
        if args.inputs.is_empty() && args.manifest.is_none() {
            anyhow::bail!("no photos given: pass files, directories or --manifest");
        }
        anyhow::bail!(
            "no photos found in {} (directories are searched for .{} files; a manifest lists its own)",
            args.inputs
                .iter()
                .map(|p| p.display().to_string())
                .chain(args.manifest.iter().map(|m| m.display().to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            ingest::IMAGE_EXTENSIONS.join(", .")
        );
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let threads = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pseudonymiser = match &args.pseudonymise {
        Some(path) => {
            let key = std::fs::read(path)
                .with_context(|| format!("reading key file {}", path.display()))?;
            let p = Pseudonymiser::from_key(&key).ok_or_else(|| {
                anyhow::anyhow!("{}: the key must be at least 16 bytes", path.display())
            })?;
            Some(std::sync::Arc::new(p))
        }
        None => None,
    };
    let pseudonymising = pseudonymiser.is_some();
    for note in &not_sittings {
        let shown = match &pseudonymiser {
            Some(p) => p.pseudonym(&note.patient_id),
            None => note.patient_id.clone(),
        };
        eprintln!("note: {}", note.message(&shown));
    }
    args.plan.pseudonymiser = pseudonymiser.clone();
    let shard = match args.shard.as_deref() {
        Some("auto") => Some(Shard::from_env().map_err(anyhow::Error::msg)?),
        Some(s) => Some(s.parse::<Shard>().map_err(anyhow::Error::msg)?),
        None => None,
    };
    let options = Options {
        px_per_mm: args.px_per_mm,
        device: args.device,
        limits: DecodeLimits {
            max_pixels: args.max_megapixels.saturating_mul(1_000_000),
            ..DecodeLimits::default()
        },
        memory_budget_mib: (args.memory_budget > 0).then_some(args.memory_budget),
        models_dir: args.models.clone(),
        output_dir: args.out.clone(),
        overlays: args.overlays,
        overlay_max_side: args.overlay_size,
        landmarks: args.landmarks,
        patch: args.patch.then(|| dermascore::pipeline::PatchOptions {
            mask: args.patch_mask.clone(),
        }),
        pseudonymiser,
        ..Options::default()
    };
    let analyzer = Analyzer::new(options)?;

    let progress = if std::io::stderr().is_terminal() && !args.quiet {
        let bar =
            ProgressBar::with_draw_target(Some(items.len() as u64), ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template(
            "{bar:40} {pos}/{len} photos {elapsed} (eta {eta})",
        )?);
        bar
    } else {
        ProgressBar::hidden()
    };
    let planning = if args.with_plan {
        Some(Planning::load(&args.plan)?)
    } else {
        None
    };
    // Without --out, records go to stdout as they finish, in input order.
    let stream = args.out.is_none().then(|| {
        std::sync::Mutex::new(InOrder::new(
            items
                .iter()
                .enumerate()
                .filter(|(_, it)| shard.is_none_or(|s| s.contains(it)))
                .map(|(i, _)| i as u64)
                .collect(),
        ))
    });
    let on_done = |r: &report::ImageRecord| {
        if let Some(e) = &r.error {
            if !args.quiet {
                progress.suspend(|| eprintln!("{}: {}", r.input.path, e.message));
            }
        } else if args.verbose {
            progress.suspend(|| eprintln!("{}: ok, {:.0} ms", r.input.path, r.timing.total_ms));
        }
        progress.inc(1);
        if let Some(stream) = &stream {
            let mut r = r.clone();
            if let Some(p) = &planning {
                r.plan = p.plan_for(&r);
            }
            if let Ok(mut s) = stream.lock() {
                s.push(r);
            }
        }
    };
    let batch_options = BatchOptions {
        threads,
        shard,
        out_dir: args.out.clone(),
        resume: args.resume,
        working_directory: if pseudonymising {
            None
        } else {
            std::env::current_dir().ok()
        },
        command_line: {
            let argv: Vec<String> = std::env::args().collect();
            if pseudonymising {
                Pseudonymiser::command_line(&argv)
            } else {
                argv
            }
        },
    };
    if let Some(dir) = &args.out {
        check_run_settings(dir, &run_settings(&args)?, args.resume)?;
    }
    let mut result = batch::run(&analyzer, items, &batch_options, &on_done)?;
    result.summary.device_profile = profile.map(|p| dermascore::report::DeviceProfileRef {
        name: p.name,
        sha256: p.sha256,
    });
    if let Some(p) = &planning {
        for r in result.records.iter_mut() {
            r.plan = p.plan_for(r);
        }
        p.warn_unmatched(result.records.iter());
        result.summary.protocol_sha256 = Some(dermascore::models::hex_sha256(p.text.as_bytes()));
    }
    progress.finish_and_clear();

    let mut exporter: Box<dyn Exporter> = match (&args.out, stream) {
        (Some(dir), _) => {
            let mut file = AtomicJsonLinesFile::create(&dir.join(batch::RESULTS_NAME))
                .context("creating results file")?;
            for r in result.records {
                file.write(&Record::Image(Box::new(r)))?;
            }
            Box::new(file)
        }
        (None, Some(stream)) => {
            let stream = stream
                .into_inner()
                .map_err(|_| anyhow::anyhow!("a worker failed while writing records"))?;
            stream.finish()?
        }
        (None, None) => Box::new(JsonLines::new(std::io::stdout())),
    };
    let summary = result.summary;
    let failed = summary.failed;
    if !args.quiet {
        eprintln!(
            "{} photos: {} ok, {} failed, {} resumed, {:.0} ms/photo",
            summary.images,
            summary.ok,
            summary.failed,
            summary.run.resumed,
            summary.run.wall_ms_per_image
        );
    }
    exporter.write(&Record::Summary(summary))?;
    exporter.finish().context("writing results")?;
    if let Some(dir) = &args.out {
        // The results file is complete: the journal is no longer needed.
        Journal::remove(dir).context("removing the journal")?;
        if args.with_report {
            let report = CompareArgs {
                results: vec![dir.clone()],
                mdc: None,
                plan: PlanOptions {
                    protocol: args.plan.protocol.clone(),
                    intake: args.plan.intake.clone(),
                    pseudonymiser: args.plan.pseudonymiser.clone(),
                },
                out: dir.join("report"),
                photos_withheld: pseudonymising,
            };
            if pseudonymising {
                eprintln!("note: a pseudonymised run's records withhold the photos' paths, so its patient reports carry no photos");
            }
            // A report that could not show every visit's photo is a partial
            // result: exit 1, as for a photo that failed.
            if patient_reports(report)? != ExitCode::SUCCESS {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(exit_code(failed > 0))
}
