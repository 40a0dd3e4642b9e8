//! The library without the CLI, as a researcher's own program would use it:
//! analyse the photos under a folder and write the results file that
//! `dermascore analyze --out` writes (one image record per photo, then the
//! summary), which `cohort`, `compare`, `report` and `verify` read.
//!
//! `cargo run --release --example analyze_folder -- PHOTOS_DIR results.jsonl`

use dermascore::batch::{self, BatchOptions};
use dermascore::report::sink::{AtomicJsonLinesFile, Exporter};
use dermascore::{ingest, Analyzer, Options, Record};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [photos, out] = args.as_slice() else {
        eprintln!("usage: analyze_folder PHOTOS_DIR results.jsonl");
        std::process::exit(2);
    };
    // Directories are searched as the CLI searches them; PATIENT/DATE/
    // layouts fill each record's patient and visit.
    let items = ingest::discover(&[PathBuf::from(photos)])?;
    // The defaults are the CLI's: the built-in models (sha256-checked), the
    // scale from the iris, a 1 GiB memory budget.
    let analyzer = Analyzer::new(Options::default())?;
    let options = BatchOptions {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..BatchOptions::default()
    };
    let result = batch::run(&analyzer, items, &options, &|r| {
        let outcome = r.error.as_ref().map_or("ok", |e| e.message.as_str());
        eprintln!("{}: {outcome}", r.input.path);
    })?;
    // Records are wrapped as `Record`s, which carry the `type` field the
    // tool's own readers expect; the file appears atomically at `finish`.
    let mut file = Box::new(AtomicJsonLinesFile::create(&PathBuf::from(out))?);
    for r in result.records {
        file.write(&Record::Image(Box::new(r)))?;
    }
    file.write(&Record::Summary(result.summary))?;
    file.finish()?;
    Ok(())
}
