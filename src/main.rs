//! The `dermascore` command line: a thin layer over the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use dermascore::ingest::{self, DecodeLimits};
use dermascore::report::sink::{AtomicJsonLinesFile, Exporter, JsonLines};
use dermascore::report::{self, Record};
use dermascore::runtime::Device;
use dermascore::units::PxPerMm;
use dermascore::{Analyzer, Options};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
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
    /// Print the JSON Schema of the results records.
    Schema,
    /// Measure pore and pigment accuracy (synthetic set and the real labelled close-up), beside classical baselines.
    Evaluate(EvaluateArgs),
}

#[derive(clap::Args)]
struct EvaluateArgs {
    /// Evaluation set written by `python3 datasets/synth_skin.py eval --out DIR`.
    #[arg(long, value_name = "DIR")]
    synthetic: PathBuf,
    /// Folder with cheek_input.png, cheek_pore_label.png and cheek_roi_mask.png.
    #[arg(long, value_name = "DIR")]
    real_pores: Option<PathBuf>,
    /// Scale of the real close-up (its eyes are closed, so it cannot come from the iris).
    #[arg(long, value_name = "PX_PER_MM", requires = "real_pores")]
    real_px_per_mm: Option<PxPerMm>,
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
    /// Write DIR/results.jsonl (atomically) instead of printing to stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also write an overlay PNG per photo under DIR/overlays/ (needs --out).
    #[arg(long, requires = "out")]
    overlays: bool,
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
    /// Refuse images with more pixels than this (decompression-bomb guard).
    #[arg(long, default_value_t = 100)]
    max_megapixels: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Schema => schema(),
        Command::Evaluate(args) => evaluate(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn schema() -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&report::json_schema())?);
    Ok(ExitCode::SUCCESS)
}

fn evaluate(args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let real = match (&args.real_pores, args.real_px_per_mm) {
        (Some(dir), Some(s)) => Some((dir.as_path(), s)),
        (Some(_), None) => anyhow::bail!("--real-pores needs --real-px-per-mm"),
        _ => None,
    };
    let figures = dermascore::evaluate::run(&args.synthetic, real, args.models.as_deref())?;
    if let Some(path) = &args.json {
        dermascore::report::sink::write_atomic(path, serde_json::to_string_pretty(&figures)?.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn analyze(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let mut items = ingest::discover(&args.inputs)?;
    if let Some(manifest) = &args.manifest {
        items.extend(ingest::read_manifest(manifest)?);
    }
    if items.is_empty() {
        anyhow::bail!("no photos given: pass files, directories or --manifest");
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let threads = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let options = Options {
        px_per_mm: args.px_per_mm,
        device: args.device,
        limits: DecodeLimits {
            max_pixels: args.max_megapixels.saturating_mul(1_000_000),
            ..DecodeLimits::default()
        },
        models_dir: args.models.clone(),
        output_dir: args.out.clone(),
        overlays: args.overlays,
        landmarks: args.landmarks,
        patch: args.patch.then(|| dermascore::pipeline::PatchOptions { mask: args.patch_mask.clone() }),
        ..Options::default()
    };
    let analyzer = Analyzer::new(options)?;

    let progress = if std::io::stderr().is_terminal() {
        let bar =
            ProgressBar::with_draw_target(Some(items.len() as u64), ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template(
            "{bar:40} {pos}/{len} photos {elapsed} (eta {eta})",
        )?);
        bar
    } else {
        ProgressBar::hidden()
    };
    let on_done = |r: &report::ImageRecord| {
        if let Some(e) = &r.error {
            progress.suspend(|| eprintln!("{}: {}", r.input.path, e.message));
        }
        progress.inc(1);
    };
    let (records, summary) = analyzer.run_batch(&items, threads, &on_done)?;
    progress.finish_and_clear();

    let mut exporter: Box<dyn Exporter> = match &args.out {
        Some(dir) => Box::new(
            AtomicJsonLinesFile::create(&dir.join("results.jsonl"))
                .context("creating results file")?,
        ),
        None => Box::new(JsonLines::new(std::io::stdout().lock())),
    };
    for r in records {
        exporter.write(&Record::Image(Box::new(r)))?;
    }
    let failed = summary.failed;
    eprintln!(
        "{} photos: {} ok, {} failed, {:.0} ms/photo",
        summary.images, summary.ok, summary.failed, summary.wall_ms_per_image
    );
    exporter.write(&Record::Summary(summary))?;
    exporter.finish().context("writing results")?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
