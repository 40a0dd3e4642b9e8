//! Merge and cohort statistics at trial scale (`cargo bench --bench cohort`):
//! 100,000 image records (12,500 patients × 4 visits × 2 repeat captures, two
//! arms) in 4 shard files, made from real records of the demo cohort with
//! their patient, visit, position and metric values varied. Times the release
//! binary's `merge` and `cohort` and reports their peak memory.

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const PATIENTS: usize = 12_500;
const VISITS: [&str; 4] = ["2026-01-05", "2026-02-02", "2026-03-02", "2026-04-27"];
const CAPTURES: usize = 2;
const SHARDS: usize = 4;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = root.join("target/release/dermascore");
    assert!(
        exe.is_file(),
        "build the release binary first: cargo build --release"
    );
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let st = Command::new(&exe)
        .arg("analyze")
        .arg(root.join("datasets/demo"))
        .arg("--out")
        .arg(&demo)
        .status()
        .unwrap();
    assert!(st.success());
    let lines: Vec<Value> = std::fs::read_to_string(demo.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (templates, summary) = (&lines[..lines.len() - 1], &lines[lines.len() - 1]);

    let total = PATIENTS * VISITS.len() * CAPTURES;
    let mut files: Vec<_> = (0..SHARDS)
        .map(|s| {
            std::io::BufWriter::new(
                std::fs::File::create(dir.path().join(format!("shard{s}.jsonl"))).unwrap(),
            )
        })
        .collect();
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f64 / 10_000.0 - 0.5
    };
    let mut bytes = 0usize;
    let mut index = 0u64;
    for p in 0..PATIENTS {
        for (v, date) in VISITS.iter().enumerate() {
            for c in 0..CAPTURES {
                let mut r = templates[(p + v + c) % templates.len()].clone();
                r["subject"]["patient_id"] = format!("S{p:05}").into();
                r["subject"]["visit_date"] = (*date).into();
                r["input"]["path"] = format!("cohort/S{p:05}/{date}/capture{c}.jpg").into();
                r["input"]["index"] = index.into();
                // Treatment arm improves over visits; everyone varies a little.
                let effect = if p % 2 == 1 {
                    1.0 - 0.08 * v as f64
                } else {
                    1.0
                };
                if let Some(f) = r["pigmentation"]["face"].as_object_mut() {
                    if let Some(x) = f.get("pigmented_pct").and_then(Value::as_f64) {
                        f.insert(
                            "pigmented_pct".into(),
                            (x * effect * (1.0 + 0.1 * noise())).into(),
                        );
                    }
                }
                let line = serde_json::to_string(&r).unwrap();
                bytes += line.len() + 1;
                let f = &mut files[index as usize % SHARDS];
                f.write_all(line.as_bytes()).unwrap();
                f.write_all(b"\n").unwrap();
                index += 1;
            }
        }
    }
    for (s, f) in files.iter_mut().enumerate() {
        let mut sm = summary.clone();
        sm["shard"] = serde_json::json!({"index": s, "count": SHARDS});
        sm["inputs_total"] = (total as u64).into();
        f.write_all(serde_json::to_string(&sm).unwrap().as_bytes())
            .unwrap();
        f.write_all(b"\n").unwrap();
        f.flush().unwrap();
    }
    // Shard files must be in input order: index % SHARDS keeps each sorted.
    let design = dir.path().join("design.csv");
    let mut d = String::from("patient_id,arm\n");
    for p in 0..PATIENTS {
        d.push_str(&format!(
            "S{p:05},{}\n",
            if p % 2 == 1 { "treatment" } else { "control" }
        ));
    }
    std::fs::write(&design, d).unwrap();

    let shard_paths: Vec<_> = (0..SHARDS)
        .map(|s| dir.path().join(format!("shard{s}.jsonl")))
        .collect();
    let merged = dir.path().join("merged.jsonl");
    let t = Instant::now();
    let out = Command::new(&exe)
        .arg("merge")
        .args(&shard_paths)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    let merge_s = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merge_log = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let t = Instant::now();
    let out = Command::new(&exe)
        .arg("cohort")
        .arg(&merged)
        .arg("--design")
        .arg(&design)
        .arg("--out")
        .arg(dir.path().join("cohort"))
        .output()
        .unwrap();
    let cohort_s = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cohort_log = String::from_utf8_lossy(&out.stderr).trim().to_string();
    println!(
        "{total} records, {:.0} MB of JSON Lines in {SHARDS} shards",
        bytes as f64 / 1e6
    );
    println!("  merge:  {merge_s:6.1} s   ({merge_log})");
    println!(
        "  cohort: {cohort_s:6.1} s   ({})",
        cohort_log.lines().last().unwrap_or_default()
    );
}
