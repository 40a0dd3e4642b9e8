//! Plans, visit comparison and the patient report, on the demo cohort.

use crate::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo")
}

fn analyze_demo(out: &Path, extra: &[&str]) {
    let o = bin()
        .arg("analyze")
        .arg(demo())
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    expect_ok(&o);
}

/// The demo analysed with plans under `dir`, then `report`: its output
/// and the report folder.
fn demo_report(dir: &Path) -> (Output, PathBuf) {
    let out = dir.join("out");
    analyze_demo(&out, &["--plan"]);
    let rep = dir.join("report");
    let o = run_out("report", &out, &rep);
    expect_ok(&o);
    (o, rep)
}

/// What limits a visit's photo is in the report beside it: a photo with
/// two people (the largest face measured) says so, and P002's summary
/// points to the readings that changed beyond noise besides the face's.
#[test]
fn reports_show_each_photo_s_quality_findings_and_every_change_beyond_noise() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    visit_photo(
        &input,
        "TP01/2026-01-10",
        &shared("faces/two_people.jpg"),
        "front.jpg",
    );
    let out = dir.path().join("out");
    let o = bin()
        .arg("analyze")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .args(["--plan", "--report", "-q"])
        .output()
        .unwrap();
    expect_ok(&o);
    let html = std::fs::read_to_string(out.join("report/TP01.html")).unwrap();
    assert!(
        html.contains("faces in the photo; the largest was analysed"),
        "the report hides the photo's quality findings"
    );
    let (_, rep) = demo_report(dir.path());
    let p002 = std::fs::read_to_string(rep.join("P002.html")).unwrap();
    assert!(
        p002.contains("changed beyond the measurement&#39;s noise: see Trends")
            || p002.contains("changed beyond the measurement's noise: see Trends"),
        "no pointer to the other changes"
    );
    // The spots planted on P002's cheeks shrink between the visits
    // (datasets/demo/ground_truth.json).
    assert!(
        p002.contains("Pigmented skin, left cheek"),
        "a zone's change beyond noise is missing"
    );
}

/// A reading within its own uncertainty of the zone's normal limit is not
/// a finding to needle for (a "vivid" camera's contrast lifted normal
/// noses just over theirs); one clearly above it is treated once the
/// clinician confirms the pigmentation (photo pigment readings are not
/// validated on real skin: unseen normal faces read above the perioral
/// limit from the shadow under the nose).
#[test]
fn a_zone_is_treated_only_when_clearly_above_its_normal_limit_and_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    analyze_demo(&out, &[]);
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let mut rec: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| {
            r["type"] == "image"
                && r["input"]["path"].as_str().unwrap().contains("P002")
                && r["pigmentation"]["measured"] == true
        })
        .unwrap();
    // The default protocol's right-cheek limit is 35.
    let intake = dir.path().join("intake.csv");
    std::fs::write(
        &intake,
        "patient_id,pigmentation_confirmed\nP002,right_cheek\n",
    )
    .unwrap();
    let elsewhere = dir.path().join("elsewhere.csv");
    std::fs::write(
        &elsewhere,
        "patient_id,pigmentation_confirmed\nP002,left_cheek; nose\n",
    )
    .unwrap();
    let plan_with = |rec: &mut Value, value: f64, uncertainty: f64, args: &[&Path]| -> Value {
        let zones = rec["pigmentation"]["zones"].as_array_mut().unwrap();
        let cheek = zones
            .iter_mut()
            .find(|z| z["zone"] == "right_cheek")
            .unwrap();
        cheek["metrics"]["severity"] =
            serde_json::json!({"value": value, "uncertainty": uncertainty});
        let file = dir.path().join("edited.jsonl");
        std::fs::write(&file, format!("{rec}\n")).unwrap();
        let o = bin().arg("plan").arg(&file).args(args).output().unwrap();
        expect_ok(&o);
        let line: Value = serde_json::from_slice(&o.stdout).unwrap();
        line["plan"].clone()
    };
    let treated = |plan: &Value| {
        plan["zones"]
            .as_array()
            .unwrap()
            .iter()
            .any(|z| z["zone"] == "right_cheek" && z["concern"] == "pigmentation")
    };
    let confirmed = [Path::new("--intake"), intake.as_path()];
    let plan = plan_with(&mut rec, 40.0, 10.0, &confirmed);
    assert!(!treated(&plan), "40 ± 10 against a limit of 35: {plan}");
    assert!(
        plan["within_normal"]
            .to_string()
            .contains("not clearly above"),
        "{plan}"
    );
    let plan = plan_with(&mut rec, 40.0, 2.0, &[]);
    assert!(!treated(&plan), "unconfirmed, 40 ± 2: {plan}");
    assert!(
        plan["unconfirmed"]
            .to_string()
            .contains("pigmentation_confirmed"),
        "{plan}"
    );
    let plan = plan_with(&mut rec, 40.0, 2.0, &confirmed);
    assert!(
        treated(&plan),
        "confirmed, 40 ± 2 against a limit of 35: {plan}"
    );
    // The rationale says whose confirmation let the reading set the depth.
    assert!(
        plan["zones"]
            .to_string()
            .contains("intake.pigmentation_confirmed"),
        "{plan}"
    );
    // Confirmed in other zones only: this one stays unconfirmed.
    let plan = plan_with(
        &mut rec,
        40.0,
        2.0,
        &[Path::new("--intake"), elsewhere.as_path()],
    );
    assert!(!treated(&plan), "confirmed elsewhere: {plan}");
    assert!(
        plan["unconfirmed"].to_string().contains("right_cheek"),
        "{plan}"
    );
    // A bare yes would confirm every zone: refused, naming the row.
    let yes = dir.path().join("yes.csv");
    std::fs::write(&yes, "patient_id,pigmentation_confirmed\nP002,yes\n").unwrap();
    let file = dir.path().join("edited.jsonl");
    let o = bin()
        .arg("plan")
        .arg(&file)
        .arg("--intake")
        .arg(&yes)
        .output()
        .unwrap();
    expect_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("name the zones"), "{err}");
}

#[test]
fn the_protocol_prints_and_bad_protocols_are_rejected_with_the_line() {
    let o = bin().arg("protocol").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.contains("[zone_cap_mm]") && text.contains("isotretinoin_months"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("p.toml");
    std::fs::write(&bad, text.replace("nose = 0.5", "nose = 9.0")).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("nose = 0.5"))
        .unwrap()
        + 1;
    let o = bin()
        .arg("analyze")
        .arg("--plan")
        .arg("--protocol")
        .arg(&bad)
        .arg(shared("faces/obama.jpg"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("line {line}")) && err.contains("9"),
        "{err}"
    );
}

#[test]
fn plans_carry_depths_caps_rationale_and_contraindications() {
    let dir = tempfile::tempdir().unwrap();
    let intake = dir.path().join("intake.csv");
    let visit = dir.path().join("in/P9/2026-04-01");
    std::fs::create_dir_all(&visit).unwrap();
    std::fs::copy(shared("pores/cheek_input.png"), visit.join("cheek.png")).unwrap();
    let analyze = |intake_row: &str| {
        std::fs::write(
            &intake,
            format!("patient_id,pregnant,herpes_history,requests\n{intake_row}\n"),
        )
        .unwrap();
        let o = bin()
            .arg("analyze")
            .arg(dir.path().join("in"))
            .args(["--plan", "--px-per-mm", "12.6", "--intake"])
            .arg(&intake)
            .output()
            .unwrap();
        expect_ok(&o);
        records(&o)
    };
    // The close-up is normal skin: its pores are within the range the
    // measurement reads on normal skin, so nothing is needled...
    let recs = analyze("P9,no,yes,");
    let plan = &recs[0]["plan"];
    assert!(plan["zones"].as_array().unwrap().is_empty(), "{plan}");
    let normal = plan["within_normal"].as_array().unwrap();
    assert!(
        normal.iter().any(|r| r["rule"]
            .as_str()
            .unwrap()
            .starts_with("normal_limit.pores.")),
        "{plan}"
    );
    // ...unless the patient asks, and then the rationale says so.
    let recs = analyze("P9,no,yes,pores");
    let plan = &recs[0]["plan"];
    assert!(
        recs[1]["protocol_sha256"].as_str().unwrap().len() == 64,
        "the summary pins the protocol"
    );
    let zones = plan["zones"].as_array().unwrap();
    assert!(!zones.is_empty(), "requested pore treatment: {plan}");
    for z in zones {
        assert_eq!(z["concern"], "pores", "only the requested concern: {z}");
        assert!(
            z["rationale"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["rule"] == "intake.requests"),
            "{z}"
        );
    }
    for z in zones {
        let depth = z["needle_depth_mm"].as_f64().unwrap();
        let cap = match z["zone"].as_str().unwrap() {
            "nose" | "right_periorbital" | "left_periorbital" => 0.5,
            "forehead" | "perioral" => 0.75,
            _ => 2.0,
        };
        assert!(depth > 0.0 && depth <= cap, "{z}");
        assert!(!z["rationale"].as_array().unwrap().is_empty());
        assert!(z["severity_uncertainty"].as_f64().unwrap() > 0.0, "{z}");
    }
    let rules: Vec<&str> = plan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"rules.herpes_history"), "{rules:?}");
    assert!(plan["disclaimer"]
        .as_str()
        .unwrap()
        .contains("does not replace"));
    // At 12.6 px/mm scars are estimated from the one photo, so they are
    // assessed; pores and pigmentation too.
    assert!(!plan["not_assessed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["rule"] == "acne_scars"));
    assert_eq!(recs[0]["acne_scars"]["depth_mode"], "estimated");
    // A deferral (pregnancy) withholds the depths and the course: nothing
    // to needle by mistake while it stands.
    let recs = analyze("P9,yes,no,pores");
    let plan = &recs[0]["plan"];
    assert_eq!(plan["outcome"], "defer", "{plan}");
    assert!(plan["zones"].as_array().unwrap().is_empty(), "{plan}");
    assert!(
        plan["sessions"].is_null() && plan["interval_weeks"].is_null(),
        "{plan}"
    );
    assert_eq!(
        plan["course_rationale"][0]["rule"], "outcome.defer",
        "{plan}"
    );
}

#[test]
fn darker_measured_skin_gets_conservative_depth_longer_interval_and_pih_caution() {
    // The same close-up, darkened: the measured ITA moves to a darker
    // category, and the protocol's skin-tone adjustments must follow it.
    let dir = tempfile::tempdir().unwrap();
    let img = image::open(shared("pores/cheek_input.png"))
        .unwrap()
        .to_rgb8();
    let dark = image::RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y).0;
        image::Rgb([
            (p[0] as f32 * 0.7) as u8,
            (p[1] as f32 * 0.55) as u8,
            (p[2] as f32 * 0.42) as u8,
        ])
    });
    let path = dir.path().join("dark.png");
    dark.save(&path).unwrap();
    // Without normal limits, so that the normal close-up gets a plan whose
    // depths the skin tone can adjust.
    let protocol = dir.path().join("no_normal_limits.toml");
    let text = dermascore::plan::protocol::DEFAULT;
    let cut = text.find("\n[normal_limit.").unwrap();
    std::fs::write(&protocol, &text[..cut]).unwrap();
    let protocol = protocol.to_str().unwrap();
    let args = ["--plan", "--px-per-mm", "12.6", "--protocol", protocol];
    let light = one_image(&shared("pores/cheek_input.png"), &args);
    let darker = one_image(&path, &args);
    let (lp, dp) = (&light["plan"], &darker["plan"]);
    assert!(
        ["brown", "dark"].contains(&dp["ita_category"].as_str().unwrap()),
        "{}",
        dp["ita_category"]
    );
    assert!(dp["interval_weeks"].as_u64().unwrap() > lp["interval_weeks"].as_u64().unwrap());
    assert!(dp["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"].as_str().unwrap().ends_with("pih_caution")));
    let cheek = |p: &Value| {
        p["zones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["zone"] == "right_cheek")
            .map(|z| z["needle_depth_mm"].as_f64().unwrap())
    };
    if let (Some(l), Some(d)) = (cheek(lp), cheek(dp)) {
        assert!(d < l, "depth {d} mm for darker skin vs {l} mm");
    }
}

/// The labelled close-up (12.6 px/mm) with `papules` round red papules
/// painted on the cheeks (2.5 mm across, haemoglobin added: green and blue
/// absorbed), and, with `flush`, nose and cheeks reddened as a sunburn or a
/// flare would redden them.
fn reddened_closeup(dir: &Path, papules: usize, flush: bool) -> PathBuf {
    let mut img = image::open(shared("pores/cheek_input.png"))
        .unwrap()
        .to_rgb8();
    let centres = [
        (380.0, 1250.0),
        (470.0, 1420.0),
        (300.0, 1500.0),
        (1150.0, 1250.0),
        (1250.0, 1420.0),
        (1330.0, 1520.0),
    ];
    let radius = 1.25 * 12.6;
    for (x, y, p) in img.enumerate_pixels_mut() {
        let (fx, fy) = (x as f64, y as f64);
        let mut absorb = 0.0f64;
        for &(cx, cy) in &centres[..papules] {
            let r = (fx - cx).hypot(fy - cy) / radius;
            if r < 1.0 {
                absorb = absorb.max(0.5 * (1.0 + (std::f64::consts::PI * r).cos()));
            }
        }
        let mut g = 1.0 - 0.3 * absorb;
        let mut b = 1.0 - 0.2 * absorb;
        if flush {
            // Rows 1050–1450 (nose, cheeks; not the mouth), ramped over 50 rows.
            let w =
                ((fy - 1000.0) / 100.0).clamp(0.0, 1.0) * ((1500.0 - fy) / 100.0).clamp(0.0, 1.0);
            g *= 1.0 - 0.28 * w;
            b *= 1.0 - 0.2 * w;
        }
        p.0[1] = (f64::from(p.0[1]) * g).round() as u8;
        p.0[2] = (f64::from(p.0[2]) * b).round() as u8;
    }
    let path = dir.join(format!("cheek_{papules}_{flush}.png"));
    img.save(&path).unwrap();
    path
}

fn plan_rules(photo: &Path) -> (Vec<String>, String) {
    let rec = one_image(photo, &["--plan", "--px-per-mm", "12.6"]);
    let rules = rec["plan"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    (rules, rec["plan"]["outcome"].as_str().unwrap().to_string())
}

#[test]
fn photo_based_contraindications_fire_on_planted_redness_and_not_on_the_real_skin() {
    let dir = tempfile::tempdir().unwrap();
    let photo_rules = |rules: &[String]| -> Vec<String> {
        rules
            .iter()
            .filter(|r| {
                [
                    "rules.inflamed_lesions",
                    "rules.widespread_erythema",
                    "rules.suspected_sunburn",
                ]
                .contains(&r.as_str())
            })
            .cloned()
            .collect()
    };
    // The real close-up: normal skin, no active acne.
    let (rules, _) = plan_rules(&reddened_closeup(dir.path(), 0, false));
    assert!(photo_rules(&rules).is_empty(), "{rules:?}");
    // Two papules stay under the protocol's three.
    let (rules, _) = plan_rules(&reddened_closeup(dir.path(), 2, false));
    assert!(photo_rules(&rules).is_empty(), "{rules:?}");
    let (rules, outcome) = plan_rules(&reddened_closeup(dir.path(), 6, false));
    assert_eq!(
        photo_rules(&rules),
        vec!["rules.inflamed_lesions"],
        "{rules:?}"
    );
    assert_eq!(outcome, "defer");
    let (rules, outcome) = plan_rules(&reddened_closeup(dir.path(), 0, true));
    assert_eq!(
        photo_rules(&rules),
        vec!["rules.widespread_erythema", "rules.suspected_sunburn"],
        "{rules:?}"
    );
    assert_eq!(outcome, "defer");
}

#[test]
fn compare_finds_the_planted_improvement_and_flags_capture_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    analyze_demo(&out, &[]);
    let cmp = dir.path().join("cmp");
    let o = run_out("compare", &out, &cmp);
    expect_ok(&o);
    let text = std::fs::read_to_string(cmp.join("compare.json")).unwrap();
    // The file is what its committed schema's type describes.
    let typed: dermascore::compare::CompareDocument = serde_json::from_str(&text).unwrap();
    assert_eq!(typed.schema_version, dermascore::SCHEMA_VERSION);
    let doc: Value = serde_json::from_str(&text).unwrap();
    let p2 = doc["patients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["patient_id"] == "P002")
        .unwrap();
    // Planted: 3 spots per cheek of 90 mm² at baseline, 25 mm² at follow-up.
    // Both cheeks improve, each beyond its MDC (README, Demo ground truth).
    // Until skin turned more than 50° was left out of the pigmentation the
    // right cheek's change was within noise (about -2 points: its outer
    // band's shading read as spots at both visits).
    let mut beyond = Vec::new();
    for cheek in ["right_cheek", "left_cheek"] {
        let c = p2["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["metric"] == format!("pigmentation.{cheek}.pigmented_pct")
                    && !c["change_from_baseline"].is_null()
            })
            .unwrap();
        println!(
            "P002 {cheek}: {:+.2} points (MDC {:.2})",
            c["change_from_baseline"].as_f64().unwrap(),
            c["mdc95"].as_f64().unwrap()
        );
        assert!(c["change_from_baseline"].as_f64().unwrap() < 0.0, "{c}");
        if c["exceeds_mdc"] == true {
            beyond.push(cheek);
        }
    }
    assert_eq!(beyond, ["right_cheek", "left_cheek"]);
    assert!(
        std::fs::read_to_string(cmp.join("changes.csv"))
            .unwrap()
            .lines()
            .count()
            > 10
    );
    assert!(
        std::fs::read_to_string(cmp.join("zones.csv"))
            .unwrap()
            .lines()
            .count()
            > 10
    );

    // A follow-up shot at a very different scale cannot show a significant change.
    let mismatch = dir.path().join("mismatch");
    for (date, scale) in [("2026-01-15", 1.0f32), ("2026-03-12", 0.8)] {
        let d = mismatch.join("PX").join(date);
        std::fs::create_dir_all(&d).unwrap();
        let img = image::open(shared("faces/obama.jpg")).unwrap().to_rgb8();
        let (w, h) = (
            (img.width() as f32 * scale) as u32,
            (img.height() as f32 * scale) as u32,
        );
        image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
            .save(d.join("front.png"))
            .unwrap();
    }
    let mout = dir.path().join("mout");
    let o = run_out("analyze", &mismatch, &mout);
    assert_eq!(o.status.code(), Some(0));
    let mcmp = dir.path().join("mcmp");
    assert_eq!(run_out("compare", &mout, &mcmp).status.code(), Some(0));
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(mcmp.join("compare.json")).unwrap()).unwrap();
    let later: Vec<&Value> = doc["patients"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["visit_date"] == "2026-03-12")
        .collect();
    assert!(!later.is_empty());
    for c in later {
        assert!(c["exceeds_mdc"].is_null(), "{c}");
        assert!(
            c["capture_warnings"][0]
                .as_str()
                .unwrap()
                .contains("scale differs"),
            "{c}"
        );
    }
}

/// Renders a patient report in headless Chromium and fails on a blank or
/// broken page, and prints it (A4, Letter) with nothing cut by a page
/// break. Chromium comes from Debian's `chromium` package (.ci/run installs
/// it); outside CI a missing browser skips the rendering with a notice.
#[test]
fn patient_report_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rep) = demo_report(dir.path());
    let html_path = rep.join("P002.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.contains("Treatment plan")
            && html.contains("Before and after")
            && html.contains("<svg")
    );
    assert!(
        html.contains("data:image/png;base64,"),
        "photos are embedded"
    );
    // Written labels, not the metrics' keys; a legend for the overlays; and
    // printed pages that carry the patient and their number.
    assert!(!html.contains("<td>pigmentation."), "raw metric keys");
    assert!(html.contains("Pigmented skin, "));
    assert!(html.contains("class=\"legend\""));
    assert!(html.contains("@bottom-left{content:\"Patient P002"));
    assert!(html.contains("counter(pages)"));
    assert!(!html.contains("relief from the multi-light set"));
    // The capture set's report shows its height map too.
    let s001 = std::fs::read_to_string(rep.join("S001.html")).unwrap();
    assert!(
        s001.contains("relief from the multi-light set"),
        "no relief map in the capture set's report"
    );
    for attr in ["src=\"http", "href=\"http", "url(http", "<script"] {
        assert!(
            !html.contains(attr),
            "the report must be self-contained ({attr})"
        );
    }
    let Some(browser) = crate::print::chromium() else {
        return;
    };
    // On paper (A4 and Letter): few pages, nothing cut by a page break.
    crate::print::assert_prints_whole(browser, &html_path, 4);
    let shot = dir.path().join("shot.png");
    crate::print::chromium_run(
        browser,
        &html_path,
        &dir.path().join("profile"),
        &[
            "--window-size=1200,1800".into(),
            format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(shot.is_file(), "no screenshot");
    let img = image::open(&shot).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (1200, 1800));
    // Not blank: real content has many distinct colours and contrast.
    let mut colours = std::collections::HashSet::new();
    let (mut sum, mut sq, mut n) = (0f64, 0f64, 0f64);
    for p in img.pixels() {
        colours.insert(p.0);
        let l = f64::from(p.0[0]) * 0.299 + f64::from(p.0[1]) * 0.587 + f64::from(p.0[2]) * 0.114;
        sum += l;
        sq += l * l;
        n += 1.0;
    }
    let sd = (sq / n - (sum / n).powi(2)).sqrt();
    println!("screenshot: {} colours, luma SD {sd:.1}", colours.len());
    assert!(
        colours.len() > 2000 && sd > 20.0,
        "the page looks blank or broken ({} colours, SD {sd:.1})",
        colours.len()
    );
}

/// A first consultation (one visit) has no changes to show, but its report
/// still gives what was measured, and says what each number can be trusted
/// for: a one-photo scar count, a pore severity without a normal range, a
/// concern that could not be measured.
#[test]
fn a_report_shows_the_latest_visit_s_readings_and_what_each_is_worth() {
    let dir = tempfile::tempdir().unwrap();
    let (_, rep) = demo_report(dir.path());
    let read = |p: &str| std::fs::read_to_string(rep.join(format!("{p}.html"))).unwrap();
    let section = |html: &str| {
        let start = html
            .find("Measured at the latest visit")
            .expect("no readings section");
        html[start..start + html[start..].find("</table>").unwrap()].to_string()
    };
    // B001: one visit of a real face at clinical resolution.
    let b001 = section(&read("B001"));
    for want in [
        "Pore density <span class=\"num\">",
        "Pigmented skin <span class=\"num\">",
        "Skin colour, ITA <span class=\"num\">",
        "not anchored to a normal range",
        "estimated from one photo",
    ] {
        assert!(b001.contains(want), "B001 lacks {want:?}: {b001}");
    }
    assert!(read("B001").contains("no normal range is established for this reading"));
    // S001: a multi-light set measures its scars.
    let s001 = section(&read("S001"));
    assert!(
        s001.contains("Acne scars (count) <span class=\"num\">6<")
            && s001.contains("measured from the multi-light capture set"),
        "{s001}"
    );
    // P001: below every concern's resolution; each says why, no number.
    let p001 = section(&read("P001"));
    assert_eq!(p001.matches("not measured").count(), 3, "{p001}");
    assert!(p001.contains("resolution 0.56 px/mm"), "{p001}");
}

/// A photo outside a PATIENT/DATE layout or manifest belongs to no
/// patient; asking for reports says so instead of writing none unexplained.
#[test]
fn reports_name_the_photos_that_belong_to_no_patient() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let photo = shared("faces/alex-lacamoire.png");
    let o = run(
        &["--plan", "--report", "--out", out.to_str().unwrap()],
        &[&photo],
    );
    expect_ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("1 photo(s) have no patient and visit date")
            && err.contains("alex-lacamoire.png")
            && err.contains("--manifest"),
        "{err}"
    );
    // The demo's photos all have a patient: no such notice.
    let (o, _) = demo_report(&dir.path().join("demo"));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("no patient and visit date"));
}

/// A visit photo stored upside down (no EXIF orientation), which the face
/// detector misses, is measured upright and drawn upright in the report.
#[test]
fn an_upside_down_visit_photo_is_reported_upright() {
    let dir = tempfile::tempdir().unwrap();
    let visit = dir.path().join("photos/P7/2026-12-01");
    std::fs::create_dir_all(&visit).unwrap();
    image::imageops::rotate180(&image::open(shared("faces/obama.jpg")).unwrap().to_rgb8())
        .save(visit.join("face.jpg"))
        .unwrap();
    let out = dir.path().join("out");
    let o = bin()
        .args(["analyze", "--plan", "--report", "--out"])
        .arg(&out)
        .arg(dir.path().join("photos"))
        .output()
        .unwrap();
    expect_ok(&o);
    let html = std::fs::read_to_string(out.join("report/P7.html")).unwrap();
    assert!(
        !html.contains("photo not available"),
        "no picture of the visit"
    );
    assert!(html.contains("Measured at the latest visit"));
    let rec = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert!(rec.contains("photo_turned"));
}

#[test]
fn repeatability_measures_the_readable_photos_and_names_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    let face = std::fs::read(shared("faces/obama.jpg")).unwrap();
    std::fs::write(photos.join("a_face.jpg"), &face).unwrap();
    std::fs::copy(shared("faces/biden.jpg"), photos.join("a_second_face.jpg")).unwrap();
    std::fs::write(photos.join("b_truncated.jpg"), &face[..face.len() / 3]).unwrap();
    std::fs::write(photos.join("c_notes.jpg"), b"not a photo").unwrap();
    let table = dir.path().join("mdc.json");
    let o = run_out("repeatability", &photos, &table);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(o.status.code(), Some(1), "some inputs failed: {stderr}");
    for bad in ["b_truncated.jpg", "c_notes.jpg"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(bad) && l.contains("skipped")),
            "{bad} not named: {stderr}"
        );
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&table).unwrap()).unwrap();
    assert_eq!(doc["photos"].as_array().unwrap().len(), 2, "{doc}");
    // Each readable face was re-captured 8 times: their pigmented shares vary.
    let m = &doc["metrics"]["pigmentation.face.pigmented_pct"];
    assert_eq!(m["photos"], 2, "{m}");
    // A metric that only one photo's readings inform gets no MDC.
    let metrics = doc["metrics"].as_object().unwrap();
    assert!(
        metrics.values().all(|m| m["photos"].as_u64().unwrap() >= 2),
        "{doc}"
    );
    let (sem, mdc) = (m["sem"].as_f64().unwrap(), m["mdc95"].as_f64().unwrap());
    assert!(sem > 0.0 && sem < 5.0, "{m}");
    // Both written to six significant digits.
    assert!((mdc - 1.96 * 2f64.sqrt() * sem).abs() <= 2e-5 * mdc, "{m}");
}

#[test]
fn plan_compare_and_cohort_name_unreadable_results_and_stop_on_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = run_out("analyze", &shared("faces/obama.jpg"), &out);
    expect_ok(&o);
    let results = out.join("results.jsonl");
    let mut text = std::fs::read_to_string(&results).unwrap();
    text.push_str("{\"type\": \"image\", \"written_by\": \"another version\"}\n");
    std::fs::write(&results, text).unwrap();
    let last_line = std::fs::read_to_string(&results).unwrap().lines().count();

    // plan: the good record is planned, the bad line named, exit 1.
    let o = bin().arg("plan").arg(&out).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("1 line skipped") && err.contains(&format!("line {last_line}")),
        "{err}"
    );
    assert_eq!(records(&o).len(), 1, "one plan for the one readable record");
    let line: dermascore::plan::PlanLine =
        serde_json::from_value(records(&o)[0].clone()).expect("a plan line of its schema's type");
    assert_eq!(line.kind, dermascore::plan::PlanLineType::Plan);

    // compare: the same, and a results file that is not there stops it.
    let o = run_out("compare", &out, &dir.path().join("cmp"));
    expect_exit(&o, 1);
    let o = run_out(
        "compare",
        &dir.path().join("nowhere"),
        &dir.path().join("cmp2"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nowhere"));

    // cohort: counted among the skipped records, and the line named.
    let design = dir.path().join("design.csv");
    std::fs::write(&design, "patient_id,arm\nP1,a\n").unwrap();
    let o = bin()
        .arg("cohort")
        .arg(&out)
        .arg("--design")
        .arg(&design)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("1 records skipped (lines that are not schema"),
        "{err}"
    );
    assert!(err.contains(&format!("line {last_line}")), "{err}");
}

#[test]
fn spreadsheet_exports_never_carry_a_formula() {
    // A patient id that a spreadsheet would run as a formula.
    let dir = tempfile::tempdir().unwrap();
    let id = "=HYPERLINK(\"http://example.invalid\",\"x\")";
    let manifest = dir.path().join("visits.csv");
    std::fs::write(
        &manifest,
        format!(
            "path,patient_id,visit_date\n{a},\"{q}\",2026-01-01\n{b},\"{q}\",2026-02-01\n",
            a = shared("faces/obama.jpg").display(),
            b = shared("faces/obama-1080p.jpg").display(),
            q = id.replace('"', "\"\"")
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = bin()
        .arg("analyze")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    expect_ok(&o);
    let cmp = dir.path().join("cmp");
    let o = bin()
        .arg("compare")
        .arg(&out)
        .arg("--out")
        .arg(&cmp)
        .output()
        .unwrap();
    expect_ok(&o);
    for name in ["changes.csv", "zones.csv"] {
        let text = std::fs::read_to_string(cmp.join(name)).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut rows = 0;
        for rec in reader.records() {
            let rec = rec.unwrap();
            for cell in rec.iter() {
                assert!(
                    !cell.starts_with(['=', '+', '@']),
                    "{name}: a formula cell {cell}"
                );
            }
            assert!(rec.iter().any(|c| c == format!("'{id}")), "{name}: {rec:?}");
            rows += 1;
        }
        assert!(rows > 0, "{name} is empty");
    }
}

#[test]
fn patients_whose_names_fold_to_one_file_name_get_a_report_each() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    for id in ["José", "Josè"] {
        visit_photo(
            &input,
            &format!("{id}/2026-01-01"),
            &shared("faces/obama.jpg"),
            "front.jpg",
        );
    }
    let out = dir.path().join("out");
    expect_ok(&run_out("analyze", &input, &out));
    let rep = dir.path().join("report");
    let o = run_out("report", &out, &rep);
    expect_ok(&o);
    let html: Vec<String> = std::fs::read_dir(&rep)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html"))
        .collect();
    assert_eq!(html.len(), 2, "{html:?}");
    let texts: Vec<String> = html
        .iter()
        .map(|n| std::fs::read_to_string(rep.join(n)).unwrap())
        .collect();
    assert!(texts.iter().any(|t| t.contains("José")) && texts.iter().any(|t| t.contains("Josè")));
}

#[test]
fn reports_and_verify_find_relative_photos_from_any_folder() {
    // analyze run inside the clinic's folder with relative paths; report and
    // verify run from elsewhere.
    let dir = tempfile::tempdir().unwrap();
    let clinic = dir.path().join("clinic");
    visit_photo(
        &clinic,
        "in/P1/2026-01-01",
        &shared("faces/obama.jpg"),
        "front.jpg",
    );
    visit_photo(
        &clinic,
        "in/P1/2026-02-01",
        &shared("faces/obama-1080p.jpg"),
        "front.jpg",
    );
    let o = bin()
        .current_dir(&clinic)
        .args(["analyze", "in", "--out", "out"])
        .output()
        .unwrap();
    expect_ok(&o);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let o = bin()
        .current_dir(&elsewhere)
        .arg("report")
        .arg(clinic.join("out"))
        .arg("--out")
        .arg("rep")
        .output()
        .unwrap();
    expect_ok(&o);
    let html = std::fs::read_to_string(elsewhere.join("rep/P1.html")).unwrap();
    assert!(html.contains("data:image/png;base64,"), "photos found");
    assert!(!html.contains("not available"));
    let o = bin()
        .current_dir(&elsewhere)
        .arg("verify")
        .arg(clinic.join("out"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// `export fhir`: one Bundle per patient and visit, Observations in UCUM
/// units with SNOMED CT body sites, unvalidated scar estimates marked
/// preliminary; the bundles validate against the FHIR resource models
/// (tests/fhir/validate.py with the pinned fhir.resources, which .ci/run
/// installs into target/venv-fhir; outside CI the validation is skipped with
/// a notice when that environment is missing).
#[test]
fn fhir_export_codes_units_and_body_sites_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    analyze_demo(&out, &["--plan", "--overlays"]);
    let fhir = dir.path().join("fhir");
    expect_ok(&export_fhir(&out, &fhir));
    let mut names: Vec<String> = std::fs::read_dir(&fhir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.contains(&"P002_2026-01-15.json".to_string()),
        "{names:?}"
    );
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(fhir.join("P002_2026-01-15.json")).unwrap())
            .unwrap();
    assert_eq!(bundle["type"], "transaction");
    let resources: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let of = |kind: &str| {
        resources
            .iter()
            .filter(|r| r["resourceType"] == kind)
            .count()
    };
    assert_eq!(
        (of("Patient"), of("Device"), of("DiagnosticReport")),
        (1, 1, 1)
    );
    let patient = resources
        .iter()
        .find(|r| r["resourceType"] == "Patient")
        .unwrap();
    assert_eq!(patient["identifier"][0]["value"], "P002");
    // The patient and the device recur in every visit's bundle: created
    // only if no resource carries their identifier yet.
    for e in bundle["entry"].as_array().unwrap() {
        let kind = e["resource"]["resourceType"].as_str().unwrap();
        if kind == "Patient" || kind == "Device" {
            let id = &e["resource"]["identifier"][0];
            assert_eq!(
                e["request"]["ifNoneExist"],
                format!(
                    "identifier={}|{}",
                    id["system"].as_str().unwrap(),
                    id["value"].as_str().unwrap()
                ),
                "{e}"
            );
        }
    }
    // FHIR JSON has no empty arrays, in any bundle (P001's visits measured
    // nothing: no `result`).
    fn no_empty_arrays(v: &Value, at: &str) {
        match v {
            Value::Array(a) => {
                assert!(!a.is_empty(), "empty array at {at}");
                a.iter().for_each(|x| no_empty_arrays(x, at));
            }
            Value::Object(o) => o
                .iter()
                .for_each(|(k, x)| no_empty_arrays(x, &format!("{at}.{k}"))),
            _ => {}
        }
    }
    // Every fullUrl is unique in its bundle (bdl-7), even when the same
    // results are given twice.
    let twice = dir.path().join("fhir-twice");
    let o = bin()
        .args(["export", "fhir"])
        .arg(&out)
        .arg(&out)
        .arg("--out")
        .arg(&twice)
        .output()
        .unwrap();
    expect_ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("exported once"));
    for folder in [&fhir, &twice] {
        for name in &names {
            let b: Value =
                serde_json::from_str(&std::fs::read_to_string(folder.join(name)).unwrap()).unwrap();
            no_empty_arrays(&b, name);
            let urls: Vec<&str> = b["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["fullUrl"].as_str().unwrap())
                .collect();
            let unique: std::collections::BTreeSet<&str> = urls.iter().copied().collect();
            assert_eq!(unique.len(), urls.len(), "{name}: a fullUrl repeats");
        }
    }
    let units = ["/cm2", "mm", "%", "{score}", "mm2", "{scars}"];
    let observations: Vec<&&Value> = resources
        .iter()
        .filter(|r| r["resourceType"] == "Observation")
        .collect();
    assert!(!observations.is_empty());
    for o in &observations {
        let q = &o["valueQuantity"];
        assert_eq!(q["system"], "http://unitsofmeasure.org");
        assert!(units.contains(&q["code"].as_str().unwrap()), "{q}");
        assert_eq!(q["code"], q["unit"]);
        assert!(q["value"].as_f64().unwrap().is_finite());
        let site = &o["bodySite"];
        if site["text"] == "forehead" {
            assert_eq!(site["coding"][0]["system"], "http://snomed.info/sct");
            assert_eq!(site["coding"][0]["code"], "52795006");
        }
        if o["code"]["coding"][0]["code"]
            .as_str()
            .unwrap()
            .starts_with("acne-scar")
        {
            assert_eq!(
                o["status"], "preliminary",
                "one-photo scar estimates are unvalidated"
            );
        }
    }
    let report = resources
        .iter()
        .find(|r| r["resourceType"] == "DiagnosticReport")
        .unwrap();
    assert_eq!(
        report["result"].as_array().unwrap().len(),
        observations.len()
    );
    // Each overlay travels inside the bundle: a PNG, base64, of its size.
    let media: Vec<&&Value> = resources
        .iter()
        .filter(|r| r["resourceType"] == "Media")
        .collect();
    assert!(!media.is_empty());
    for m in &media {
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(m["content"]["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{}", m["content"]["title"]);
        assert_eq!(m["content"]["size"], png.len());
        assert!(m["content"].get("url").is_none());
    }
    assert_eq!(report["media"].as_array().unwrap().len(), media.len());
    // The plan's outcome as a report writes it, with its reasons.
    let conclusion = report["conclusion"].as_str().unwrap();
    assert!(
        conclusion.contains("plan Caution (") && conclusion.contains("intake"),
        "{conclusion}"
    );

    let python = std::env::var_os("DERMASCORE_FHIR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv-fhir/bin/python")
        });
    if !python.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must validate the FHIR bundles: {} is missing (.ci/run installs it)",
            python.display()
        );
        eprintln!(
            "notice: FHIR validation skipped: no {} (python3 -m venv target/venv-fhir && target/venv-fhir/bin/pip install -r tests/fhir/requirements.txt)",
            python.display()
        );
        return;
    }
    let v = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fhir/validate.py"))
        .arg(&fhir)
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

/// Each metric's `record_field` (what `dermascore metrics` prints) leads to
/// the value the metric reads, in real records: the names in CSVs and
/// compare.json can be traced to the results record.
#[test]
fn every_metric_names_where_the_record_holds_it() {
    fn resolve<'a>(mut v: &'a Value, path: &str) -> Option<&'a Value> {
        for part in path.split('.') {
            v = match part.split_once('[') {
                Some((key, zone)) => v[key]
                    .as_array()?
                    .iter()
                    .find(|z| z["zone"] == zone.trim_end_matches(']'))?,
                None => v.get(part)?,
            };
        }
        Some(v)
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    analyze_demo(&out, &[]);
    let mut text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    // A face sharp enough for pores.
    let close = run(&[], &[&shared("pores/cheek_input.png")]);
    text.push_str(&String::from_utf8_lossy(&close.stdout));
    let printed: Value =
        serde_json::from_slice(&bin().arg("metrics").output().unwrap().stdout).unwrap();
    let metrics = dermascore::cohort::metrics();
    assert_eq!(printed.as_array().unwrap().len(), metrics.len());
    let mut found = vec![0usize; metrics.len()];
    for line in text.lines() {
        let json: Value = serde_json::from_str(line).unwrap();
        if json["type"] != "image" {
            continue;
        }
        let rec: dermascore::report::ImageRecord = serde_json::from_str(line).unwrap();
        for (k, m) in metrics.iter().enumerate() {
            assert_eq!(printed[k]["record_field"], m.record_field.as_str());
            let at = resolve(&json, &m.record_field).and_then(Value::as_f64);
            match (m.value(&rec), at) {
                (Some(a), Some(b)) => {
                    assert!(
                        (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                        "{}: {a} vs {b}",
                        m.name
                    );
                    found[k] += 1;
                }
                (None, None) => {}
                (a, b) => panic!("{}: the metric reads {a:?}, the record holds {b:?}", m.name),
            }
        }
    }
    let never: Vec<&str> = metrics
        .iter()
        .zip(&found)
        .filter(|(_, &n)| n == 0)
        .map(|(m, _)| m.name.as_str())
        .collect();
    // Each kind of metric (zone metrics with the zone taken out) is
    // checked on at least one record: the close-up has no chin, say.
    let kind = |name: &str| {
        let mut parts: Vec<&str> = name.split('.').collect();
        parts[1] = if parts[1] == "face" { "face" } else { "{zone}" };
        parts.join(".")
    };
    let checked: std::collections::BTreeSet<String> = metrics
        .iter()
        .zip(&found)
        .filter(|(_, &n)| n > 0)
        .map(|(m, _)| kind(&m.name))
        .collect();
    let unchecked: Vec<&&str> = never
        .iter()
        .filter(|n| !checked.contains(&kind(n)))
        .collect();
    assert!(unchecked.is_empty(), "no record here has {unchecked:?}");
}

/// Every output, as the tool writes it on the demo, validates against its
/// committed JSON Schema (the files integrators get): records with plans,
/// `plan`'s lines, `compare.json`, `cohort.json` and the MDC table. The
/// schemas admit no undeclared field, so a renamed or misspelt one fails.
#[test]
fn every_output_validates_against_its_committed_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let validator = |name: &str| {
        let file = root.join(format!("schema/{name}.schema.json"));
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let check = |name: &str, what: &str, doc: &Value| {
        let errors: Vec<String> = validator(name)
            .iter_errors(doc)
            .take(5)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{what} against {name}: {errors:#?}");
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    analyze_demo(&out, &["--plan"]);
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 9, "{} lines", lines.len());
    for (i, line) in lines.iter().enumerate() {
        check("results", &format!("results.jsonl line {}", i + 1), line);
    }
    let o = bin().arg("plan").arg(&out).output().unwrap();
    expect_ok(&o);
    let plans = records(&o);
    assert!(!plans.is_empty());
    for (i, line) in plans.iter().enumerate() {
        check("plan", &format!("plan line {}", i + 1), line);
    }
    let cmp = dir.path().join("cmp");
    expect_ok(&run_out("compare", &out, &cmp));
    let doc = |p: PathBuf| -> Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    check("compare", "compare.json", &doc(cmp.join("compare.json")));
    let cohort = dir.path().join("cohort");
    let o = bin()
        .arg("cohort")
        .arg(&out)
        .arg("--design")
        .arg(demo().join("design.csv"))
        .arg("--out")
        .arg(&cohort)
        .output()
        .unwrap();
    expect_ok(&o);
    check("cohort", "cohort.json", &doc(cohort.join("cohort.json")));
    check("mdc", "models/mdc.json", &doc(root.join("models/mdc.json")));
    // The check can fail: an undeclared field, and a number where a text is.
    let image = lines.iter().find(|l| l["scale"].is_object()).unwrap();
    // An error record (a text file named .jpg) validates too.
    let bad = dir.path().join("notes.jpg");
    std::fs::write(&bad, "not a photo").unwrap();
    let o = run(&[], &[&bad]);
    for line in records(&o) {
        check("results", "an error record", &line);
    }
    // ...and a status that contradicts the error field, either way.
    let results = validator("results");
    let mut ok_with_error = image.clone();
    ok_with_error["error"] = serde_json::json!({"code": "no_face", "message": "x"});
    assert!(!results.is_valid(&ok_with_error), "ok with an error passed");
    let mut error_without = image.clone();
    error_without["status"] = "error".into();
    assert!(
        !results.is_valid(&error_without),
        "error without an error passed"
    );
    for (field, value) in [("/scale/px_per_mmm", 5), ("/input/path", 5)] {
        let mut record = image.clone();
        let (parent, key) = field.rsplit_once('/').unwrap();
        record.pointer_mut(parent).unwrap()[key] = value.into();
        assert!(
            !validator("results").is_valid(&record),
            "{field} = {value} must not validate"
        );
    }
}

/// A concern the first visit could not measure (30 cm: too few px/mm for
/// scars) and a later one could (15 cm) is compared from its first reading
/// on, not dropped; a visit whose photo is a copy of an earlier visit's
/// says so and claims no change.
#[test]
fn later_first_readings_are_kept_and_copied_visits_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    visit_photo(
        &photos,
        "P5/2026-01-01",
        &shared("distance/30cm.jpg"),
        "a.jpg",
    );
    visit_photo(
        &photos,
        "P5/2026-02-01",
        &shared("distance/15cm.jpg"),
        "b.jpg",
    );
    visit_photo(
        &photos,
        "P5/2026-03-01",
        &shared("distance/15cm.jpg"),
        "c.jpg",
    );
    let out = dir.path().join("out");
    expect_ok(&run_out("analyze", &photos, &out));
    let cmp = dir.path().join("cmp");
    let o = bin()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&cmp)
        .output()
        .unwrap();
    expect_ok(&o);
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(cmp.join("compare.json")).unwrap()).unwrap();
    let changes = doc["patients"][0]["changes"].as_array().unwrap();
    let scars: Vec<&Value> = changes
        .iter()
        .filter(|c| c["metric"] == "acne_scars.face.count")
        .collect();
    let dates: Vec<&str> = scars
        .iter()
        .map(|c| c["visit_date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-02-01", "2026-03-01"], "{scars:?}");
    assert!(scars[0]["change_from_baseline"].is_null());
    let copy = scars[1];
    assert!(
        copy["capture_warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w
                .as_str()
                .unwrap()
                .contains("same photo file as the 2026-02-01 visit")),
        "{copy}"
    );
    assert!(copy["exceeds_mdc"].is_null(), "{copy}");
    let html = std::fs::read_to_string(cmp.join("P5.html")).unwrap();
    assert!(
        html.contains("Acne scars"),
        "the latest visit's scar reading is shown"
    );
}

/// `report` without the intake the analysis had says that its plans are
/// made without it, rather than silently dropping a deferral.
#[test]
fn replanning_without_the_intake_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    visit_photo(
        &photos,
        "P8/2026-01-01",
        &shared("faces/obama.jpg"),
        "a.jpg",
    );
    let intake = dir.path().join("intake.csv");
    std::fs::write(&intake, "patient_id,pregnant\nP8,yes\n").unwrap();
    let out = dir.path().join("out");
    let (intake_arg, out_arg) = (intake.to_str().unwrap(), out.to_str().unwrap());
    expect_ok(&run(
        &["--plan", "--intake", intake_arg, "--out", out_arg],
        &[&photos],
    ));
    let again = |args: &[&str]| {
        let o = bin()
            .arg("report")
            .arg(&out)
            .args(args)
            .arg("--out")
            .arg(dir.path().join("rep"))
            .output()
            .unwrap();
        expect_ok(&o);
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(again(&[]).contains("1 record(s) hold plans made with an intake"));
    assert!(!again(&["--intake", intake.to_str().unwrap()]).contains("made with an intake"));
}

/// A plan free to proceed that has nothing to treat is written "No
/// treatment indicated", never a bare "Proceed".
#[test]
fn a_plan_with_nothing_to_treat_does_not_read_as_a_go_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    visit_photo(
        &photos,
        "P6/2026-01-01",
        &shared("tones/001_03.jpg"),
        "a.jpg",
    );
    let intake = dir.path().join("intake.csv");
    std::fs::write(
        &intake,
        "patient_id,pregnant,breastfeeding,anticoagulants,bleeding_disorder,keloid_history,herpes_history,active_infection,autoimmune_skin_disease,chemotherapy_or_radiation,uncontrolled_diabetes,isotretinoin_last_dose,last_peel,last_laser,last_filler,fitzpatrick\nP6,no,no,no,no,no,no,no,no,no,no,,,,,II\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let (intake_arg, out_arg) = (intake.to_str().unwrap(), out.to_str().unwrap());
    expect_ok(&run(
        &[
            "--plan", "--report", "--intake", intake_arg, "--out", out_arg,
        ],
        &[&photos],
    ));
    let rec: Value = serde_json::from_str(
        std::fs::read_to_string(out.join("results.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rec["plan"]["outcome"], "proceed", "{}", rec["plan"]);
    assert!(rec["plan"]["zones"].as_array().unwrap().is_empty());
    let html = std::fs::read_to_string(out.join("report/P6.html")).unwrap();
    assert!(html.contains(">No treatment indicated<"));
    assert!(!html.contains(">Proceed<"));
}

/// Two photos of one visit are averaged; when they disagree beyond the
/// reading's noise (here: two different people) the report and
/// compare.json say so, and the visit says how many photos it holds.
/// Tones: Face Research Lab London Set, DeBruine & Jones (2017), CC BY 4.0,
/// https://doi.org/10.6084/m9.figshare.5047666.v5
#[test]
fn a_visit_s_photos_that_disagree_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    visit_photo(
        &photos,
        "P4/2026-01-01",
        &shared("tones/001_03.jpg"),
        "a.jpg",
    );
    visit_photo(
        &photos,
        "P4/2026-01-01",
        &shared("tones/082_03.jpg"),
        "b.jpg",
    );
    let out = dir.path().join("out");
    expect_ok(&run(
        &["--report", "--out", out.to_str().unwrap()],
        &[&photos],
    ));
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report/compare.json")).unwrap())
            .unwrap();
    let p = &doc["patients"][0];
    assert_eq!(p["captures"][0]["photos"], 2);
    let ita = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "colour.face.ita_deg")
        .unwrap();
    assert!(
        ita["reading_warnings"]
            .to_string()
            .contains(dermascore::compare::PHOTOS_DISAGREE),
        "{ita}"
    );
    let html = std::fs::read_to_string(out.join("report/P4.html")).unwrap();
    assert!(html.contains("2 photos at this visit"));
    assert!(html.contains(dermascore::compare::PHOTOS_DISAGREE));
}
