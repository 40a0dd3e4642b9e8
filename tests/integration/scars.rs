//! Acne scars: the multi-light demo capture set (measured), single photos
//! (estimated), capture sets from a manifest, and the null-with-reason cases.

use crate::{bin, expect_ok, one_image, records, run, shared};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn demo_set() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/S001/2026-11-02")
}

/// The scars planted in the demo set: (type, centre x, y in pixels, width mm, depth mm).
fn planted() -> Vec<(String, f64, f64, f64, f64)> {
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(demo_set().join("scar_ground_truth.json")).unwrap(),
    )
    .unwrap();
    let px = truth["px_per_mm"].as_f64().unwrap();
    truth["scars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["type"].as_str().unwrap().to_string(),
                s["cx_mm"].as_f64().unwrap() * px,
                s["cy_mm"].as_f64().unwrap() * px,
                s["width_mm"].as_f64().unwrap(),
                s["depth_mm"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// For each planted scar, the depth of the found scar centred within half
/// its width (at least 0.75 mm) of it, if any.
fn matched_depths(rec: &Value, px_per_mm: f64) -> Vec<(String, f64, Option<f64>)> {
    let found = rec["acne_scars"]["face"]["scars"].as_array().unwrap();
    planted()
        .into_iter()
        .map(|(kind, x, y, width, depth)| {
            let radius = (width / 2.0).max(0.75) * px_per_mm;
            let hit = found.iter().find(|s| {
                let c = &s["centre_px"];
                (c[0].as_f64().unwrap() - x).hypot(c[1].as_f64().unwrap() - y) <= radius
            });
            (kind, depth, hit.map(|s| s["depth_mm"].as_f64().unwrap()))
        })
        .collect()
}

#[test]
fn demo_capture_set_measures_scar_depth_in_millimetres() {
    let o = run(&["--plan"], &[&demo_set()]);
    expect_ok(&o);
    let recs = records(&o);
    assert_eq!(
        recs.len(),
        2,
        "four photos of one capture set make one record"
    );
    let rec = &recs[0];
    assert_eq!(rec["status"], "ok");
    assert_eq!(rec["scale"]["source"], "device");
    let scars = &rec["acne_scars"];
    assert_eq!(scars["measured"], true, "{scars}");
    assert_eq!(scars["depth_mode"], "measured");
    assert_eq!(scars["capture"]["photos"].as_array().unwrap().len(), 4);
    // Four lights leave too few readings beside the normal's three to fit
    // fill light and shine: none is fitted, and the record says so by null.
    for zone in scars["zones"].as_array().unwrap() {
        assert!(zone["reflectance"].is_null(), "{zone}");
        assert!(
            zone.as_object().unwrap().contains_key("reflectance"),
            "{zone}"
        );
    }
    let matched = matched_depths(rec, 10.0);
    for (kind, truth, found) in &matched {
        let found = found.unwrap_or_else(|| panic!("planted {kind} not found: {scars}"));
        assert!(
            (found - truth).abs() <= 0.15,
            "{kind}: measured {found} mm, planted {truth} mm"
        );
    }
    let count = scars["face"]["count"].as_u64().unwrap();
    assert!(
        count <= matched.len() as u64 + 2,
        "{count} scars for 6 planted"
    );
    // The plan treats the scars and says how their depth was obtained.
    let zones = rec["plan"]["zones"].as_array().unwrap();
    let patch = zones.iter().find(|z| z["concern"] == "acne_scars").unwrap();
    let why = patch["rationale"].to_string();
    assert!(
        why.contains("depth.acne_scars") && why.contains("measured from the multi-light set"),
        "{why}"
    );
}

#[test]
fn one_photo_gives_estimated_scars_with_an_uncertainty() {
    let rec = one_image(
        &demo_set().join("cheek_L0.jpg"),
        &["--patch", "--px-per-mm", "10"],
    );
    let scars = &rec["acne_scars"];
    assert_eq!(scars["depth_mode"], "estimated", "{scars}");
    assert!(scars["depth_uncertainty_mm"].as_f64().unwrap() >= 0.1);
    // One photo reports only scars that its shading shows plainly (the
    // price of not inventing scars on real skin): here the deep ones.
    let matched = matched_depths(&rec, 10.0);
    let found = matched.iter().filter(|(_, _, f)| f.is_some()).count();
    assert!(
        found >= 3,
        "{found} of 6 planted scars found from one photo: {scars}"
    );
    for (kind, depth, hit) in &matched {
        assert!(
            *depth < 0.5 || hit.is_some(),
            "a {depth} mm deep {kind} was missed: {scars}"
        );
    }
    let reported = scars["face"]["count"].as_u64().unwrap() as usize;
    assert_eq!(
        reported, found,
        "every scar reported is a planted one: {scars}"
    );
    let zone = &scars["zones"][0];
    assert_eq!(zone["zone"], "patch");
    let m = &zone["metrics"];
    let sev = m["severity"]["value"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&sev));
    assert!((1..=4).contains(&m["goodman_baron_grade"].as_u64().unwrap()));
}

#[test]
fn low_resolution_faces_get_no_scar_numbers_and_say_why() {
    let rec = one_image(&shared("faces/obama.jpg"), &[]);
    let scars = &rec["acne_scars"];
    assert_eq!(scars["measured"], false);
    assert!(scars["face"].is_null() && scars["depth_mode"].is_null());
    assert!(
        scars["reason"].as_str().unwrap().contains("px/mm"),
        "{scars}"
    );
}

fn manifest(dir: &Path, rows: &[String]) -> PathBuf {
    let path = dir.join("visits.csv");
    let mut text = String::from("path,patient_id,visit_date,capture_set,light_dir\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn light_rows(photos: &[PathBuf]) -> Vec<String> {
    let lights = [
        "0.6124 0.3536 0.7071",
        "-0.3536 0.6124 0.7071",
        "-0.6124 -0.3536 0.7071",
        "0.3536 -0.6124 0.7071",
    ];
    photos
        .iter()
        .zip(lights)
        .map(|(p, l)| format!("{},S9,2026-05-01,cheek,{l}", p.display()))
        .collect()
}

#[test]
fn manifest_capture_sets_group_photos_and_bad_rows_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let photos: Vec<PathBuf> = (0..4)
        .map(|k| demo_set().join(format!("cheek_L{k}.jpg")))
        .collect();
    let good = manifest(dir.path(), &light_rows(&photos));
    let o = bin()
        .args(["analyze", "--patch", "--px-per-mm", "10", "--manifest"])
        .arg(&good)
        .output()
        .unwrap();
    expect_ok(&o);
    let recs = records(&o);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["acne_scars"]["depth_mode"], "measured");
    assert_eq!(recs[0]["acne_scars"]["capture"]["capture_set"], "cheek");

    for (rows, says) in [
        (light_rows(&photos[..2]), "at least 3 lights"),
        (
            vec![format!("{},S9,2026-05-01,cheek,", photos[0].display())],
            "needs a light_dir",
        ),
        (
            vec![format!(
                "{},S9,2026-05-01,cheek,0 0 -1",
                photos[0].display()
            )],
            "towards the camera",
        ),
    ] {
        let bad = manifest(dir.path(), &rows);
        let o = bin()
            .args(["analyze", "--manifest"])
            .arg(&bad)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("line 2") && err.contains(says), "{err}");
    }
}

/// The demo capture set copied to `dir` as S001/2026-11-02, with its light-2
/// photo written by `write_l2` (given the path) instead of copied.
fn demo_set_with_l2_replaced(dir: &Path, write_l2: impl FnOnce(&Path)) {
    let set = dir.join("S001/2026-11-02");
    std::fs::create_dir_all(&set).unwrap();
    for f in [
        "capture.json",
        "cheek_L0.jpg",
        "cheek_L1.jpg",
        "cheek_L3.jpg",
    ] {
        std::fs::copy(demo_set().join(f), set.join(f)).unwrap();
    }
    write_l2(&set.join("cheek_L2.jpg"));
}

/// Analyses the set in `dir`, whose first photo must still be analysed
/// while the set is not used: the reason the scars give.
fn unused_set_reason(dir: &Path) -> String {
    let o = run(&[], &[dir]);
    expect_ok(&o);
    let rec = &records(&o)[0];
    assert_eq!(rec["status"], "ok", "the first photo is still analysed");
    let scars = &rec["acne_scars"];
    assert_eq!(scars["measured"], false);
    scars["reason"].as_str().unwrap().to_string()
}

#[test]
fn a_broken_photo_in_a_capture_set_leaves_scars_null_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    demo_set_with_l2_replaced(dir.path(), |l2| {
        let bytes = std::fs::read(demo_set().join("cheek_L2.jpg")).unwrap();
        std::fs::write(l2, &bytes[..bytes.len() / 3]).unwrap();
    });
    let why = unused_set_reason(dir.path());
    assert!(
        why.contains("capture set") && why.contains("cheek_L2.jpg"),
        "{why}"
    );
}

#[test]
fn a_capture_set_photo_with_transparent_pixels_is_named_and_the_set_not_used() {
    let dir = tempfile::tempdir().unwrap();
    demo_set_with_l2_replaced(dir.path(), |l2| {
        // The same photo as a PNG (read by content, whatever its name)
        // with a transparent corner.
        let img = image::open(demo_set().join("cheek_L2.jpg"))
            .unwrap()
            .to_rgba8();
        let cut = image::RgbaImage::from_fn(img.width(), img.height(), |x, y| {
            let mut p = *img.get_pixel(x, y);
            if x < 20 && y < 20 {
                p.0[3] = 0;
            }
            p
        });
        cut.save_with_format(l2, image::ImageFormat::Png).unwrap();
    });
    let why = unused_set_reason(dir.path());
    assert!(
        why.contains("cheek_L2.jpg") && why.contains("transparent pixels"),
        "{why}"
    );
}

#[test]
fn a_bad_sidecar_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["cheek_L0.jpg", "cheek_L1.jpg"] {
        std::fs::copy(demo_set().join(f), dir.path().join(f)).unwrap();
    }
    for (text, says) in [
        (
            r#"{"capture_set": "x", "photos": [{"file": "cheek_L0.jpg", "light_dir": [0, 0, 1]}]}"#,
            "at least 3 lights",
        ),
        (
            r#"{"capture_set": "x", "close_up": true, "photos": [{"file": "cheek_L0.jpg", "light_dir": [1, 0, 1]}, {"file": "cheek_L1.jpg", "light_dir": [0, 1, 1]}, {"file": "cheek_L1.jpg", "light_dir": [-1, 0, 1]}]}"#,
            "px_per_mm",
        ),
        ("{not json", "capture.json"),
    ] {
        std::fs::write(dir.path().join("capture.json"), text).unwrap();
        let o = run(&[], &[dir.path()]);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("capture.json") && err.contains(says), "{err}");
    }
}

/// A side-lit photo is partly clipped or dark by nature: its readings are
/// left out where they are unusable, and the others measure that skin.
#[test]
fn a_blown_out_or_half_dark_photo_in_a_capture_set_is_used_where_it_is_readable() {
    // L2 at 4x exposure: most of the skin clips.
    let blown = tempfile::tempdir().unwrap();
    demo_set_with_l2_replaced(blown.path(), |l2| {
        let mut img = image::open(demo_set().join("cheek_L2.jpg"))
            .unwrap()
            .into_rgb8();
        for p in img.pixels_mut() {
            for c in p.0.iter_mut() {
                *c = c.saturating_mul(4);
            }
        }
        img.save(l2).unwrap();
    });
    // L2 black over its left half.
    let half = tempfile::tempdir().unwrap();
    demo_set_with_l2_replaced(half.path(), |l2| {
        let mut img = image::open(demo_set().join("cheek_L2.jpg"))
            .unwrap()
            .into_rgb8();
        let w = img.width();
        for (x, _, p) in img.enumerate_pixels_mut() {
            if x < w / 2 {
                p.0 = [0, 0, 0];
            }
        }
        img.save(l2).unwrap();
    });
    for (dir, clipped) in [(blown.path(), true), (half.path(), false)] {
        let o = run(&[], &[dir]);
        expect_ok(&o);
        let rec = &records(&o)[0];
        assert_eq!(rec["status"], "ok");
        let scars = &rec["acne_scars"];
        assert_eq!(scars["measured"], true, "{scars}");
        let l2 = scars["capture"]["photos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["path"].as_str().unwrap().ends_with("cheek_L2.jpg"))
            .unwrap();
        let (field, floor) = if clipped {
            ("clipped_pct", 50.0)
        } else {
            ("dark_pct", 40.0)
        };
        assert!(l2[field].as_f64().unwrap() > floor, "{l2}");
        // The wider planted scars are still found, and no flood of false
        // ones. (Where only three lights are usable, nothing shadowed can be
        // left out: the steep walls of narrow ice-picks may be lost.)
        let matched = matched_depths(rec, 10.0);
        for (kind, truth, found) in matched.iter().filter(|(k, _, _)| k != "ice_pick") {
            let found = found.unwrap_or_else(|| panic!("{kind} not found: {matched:?}"));
            assert!((found - truth).abs() <= 0.15, "{matched:?}");
        }
        let count = scars["face"]["count"].as_u64().unwrap();
        assert!(count <= matched.len() as u64 + 2, "{count}: {scars}");
    }
}

/// A sidecar's `modality` is the set's light: declared UV, the record says
/// so and nothing colour- or relief-based is measured; a misspelt light is
/// refused naming the file.
#[test]
fn a_sidecar_declares_the_sets_light() {
    let dir = tempfile::tempdir().unwrap();
    demo_set_with_l2_replaced(dir.path(), |l2| {
        std::fs::copy(demo_set().join("cheek_L2.jpg"), l2).unwrap();
    });
    let sidecar = dir.path().join("S001/2026-11-02/capture.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    doc["modality"] = "uv".into();
    std::fs::write(&sidecar, doc.to_string()).unwrap();
    let o = run(&[], &[dir.path()]);
    let rec = &records(&o)[0];
    let light = &rec["quality"]["light"];
    assert_eq!(
        (light["modality"].as_str(), light["declared"].as_bool()),
        (Some("uv"), Some(true))
    );
    assert_eq!(light["shows_skin_colour"], false);
    assert_eq!(
        rec["acne_scars"]["measured"], false,
        "no relief from UV photos"
    );
    assert_eq!(rec["pigmentation"]["measured"], false);

    doc["modality"] = "infrared".into();
    std::fs::write(&sidecar, doc.to_string()).unwrap();
    let o = run(&[], &[dir.path()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("capture.json") && err.contains("infrared"),
        "{err}"
    );
}

/// Near lights in a sidecar (`light_pos_mm`, `intensity`): the demo set's
/// lights placed 20 m away along their directions (so its photos still
/// fit them), with one photo darkened to half its light and declared at
/// half intensity. The scars are measured as from the plain set, and the
/// record carries each light as declared.
#[test]
fn a_sidecar_with_near_lights_and_intensities_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    demo_set_with_l2_replaced(dir.path(), |l2| {
        let img = image::open(demo_set().join("cheek_L2.jpg"))
            .unwrap()
            .into_rgb8();
        let half = |v: u8| {
            let c = f64::from(v) / 255.0;
            let lin = if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            } * 0.5;
            let s = if lin <= 0.003_130_8 {
                12.92 * lin
            } else {
                1.055 * lin.powf(1.0 / 2.4) - 0.055
            };
            (s * 255.0).round() as u8
        };
        let mut dark = img.clone();
        for p in dark.pixels_mut() {
            p.0 = p.0.map(half);
        }
        dark.save_with_format(l2, image::ImageFormat::Png).unwrap();
    });
    let sidecar = dir.path().join("S001/2026-11-02/capture.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    for p in doc["photos"].as_array_mut().unwrap() {
        let d: Vec<f64> = p["light_dir"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let o = p.as_object_mut().unwrap();
        o.remove("light_dir");
        o.insert(
            "light_pos_mm".into(),
            serde_json::json!(d.iter().map(|v| v * 20000.0).collect::<Vec<_>>()),
        );
        if o["file"] == "cheek_L2.jpg" {
            o.insert("intensity".into(), 0.5.into());
        }
    }
    std::fs::write(&sidecar, doc.to_string()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run(
        &["--overlays", "--out", out.path().to_str().unwrap()],
        &[dir.path()],
    );
    expect_ok(&o);
    let text = std::fs::read_to_string(out.path().join("results.jsonl")).unwrap();
    let rec: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let rec = &rec;
    let scars = &rec["acne_scars"];
    assert_eq!(scars["measured"], true, "{scars}");
    let photos = scars["capture"]["photos"].as_array().unwrap();
    let l2 = photos
        .iter()
        .find(|p| p["path"].as_str().unwrap().ends_with("cheek_L2.jpg"))
        .unwrap();
    assert_eq!(l2["intensity"], 0.5);
    assert!(l2["light_pos_mm"].is_array(), "{l2}");
    assert_eq!(scars["capture"]["analysed_image"], "all_lights_average");
    for (kind, truth, found) in matched_depths(rec, 10.0) {
        let found = found.unwrap_or_else(|| panic!("planted {kind} not found: {scars}"));
        assert!((found - truth).abs() <= 0.15, "{kind}: {found} vs {truth}");
    }
    // The height map is written beside the other overlays.
    let relief = rec["overlays"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "relief")
        .unwrap_or_else(|| panic!("no relief overlay: {}", rec["overlays"]));
    let png = image::open(out.path().join(relief["path"].as_str().unwrap()))
        .unwrap()
        .into_rgb8();
    // Depressions are drawn in blue to violet over grey skin.
    let blue = png
        .pixels()
        .filter(|p| i32::from(p.0[2]) - i32::from(p.0[0]) > 80)
        .count();
    assert!(blue > 200, "{blue} blue pixels");
}

/// A zone whose multi-light readings do not fit the lights as declared (the
/// fitted fill above 8 %, `reflectance.taken_out` false) is measured and
/// shown, but its scars set no needle depth: the demo set's record as
/// measured plans the patch for its scars; the same record with the patch's
/// fit marked as not fitting plans nothing for them and says why.
#[test]
fn scars_read_under_lights_that_do_not_fit_set_no_needle_depth() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&["--out", out.path().to_str().unwrap()], &[&demo_set()]);
    expect_ok(&o);
    let text = std::fs::read_to_string(out.path().join("results.jsonl")).unwrap();
    let plan_of = |text: &str| -> Value {
        let results = out.path().join("edited.jsonl");
        std::fs::write(&results, text).unwrap();
        let o = bin().args(["plan"]).arg(&results).output().unwrap();
        expect_ok(&o);
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap()
    };
    let scar_zones = |plan: &Value| -> usize {
        plan["plan"]["zones"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|z| z["concern"] == "acne_scars")
            .count()
    };
    let as_measured = plan_of(&text);
    assert_eq!(scar_zones(&as_measured), 1, "{as_measured}");

    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let zone = &mut lines[0]["acne_scars"]["zones"][0];
    assert!(zone["metrics"]["count"].as_u64().unwrap() > 0, "{zone}");
    zone["reflectance"] = serde_json::json!({
        "ambient_share": 0.3, "shine": 0.0, "shininess": 4.0, "taken_out": false
    });
    let edited: Vec<String> = lines.iter().map(Value::to_string).collect();
    let misfit = plan_of(&(edited.join("\n") + "\n"));
    assert_eq!(scar_zones(&misfit), 0, "{misfit}");
    let why = misfit["plan"]["unconfirmed"].to_string();
    assert!(
        why.contains("acne_scars.light_fit") && why.contains("30 % ambient fill"),
        "{why}"
    );
    // With the clinician's grade the zone is planned, and its rationale
    // rests on the grade, not on the measurement.
    let intake = out.path().join("intake.csv");
    std::fs::write(&intake, "patient_id,acne_scar_grade\nS001,3\n").unwrap();
    let o = bin()
        .args(["plan", "--intake", intake.to_str().unwrap()])
        .arg(out.path().join("edited.jsonl"))
        .output()
        .unwrap();
    expect_ok(&o);
    let graded: Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(scar_zones(&graded), 1, "{graded}");
    let rationale = graded["plan"]["zones"][0]["rationale"].to_string();
    assert!(
        rationale.contains("acne_scars.light_fit")
            && rationale.contains("Goodman & Baron grade 3")
            && !rationale.contains("measured from a multi-light capture set"),
        "{rationale}"
    );
}

/// A photo that does not fit its set (dimmed over half of the skin, as by
/// a flash that fired late: still read as skin, not left out as dark)
/// makes depressions that vanish when it is left out. They are dropped,
/// the photo is named, and the set's scars set no needle depth. The demo
/// set itself holds with each of its four photos left out.
#[test]
fn a_photo_that_does_not_fit_its_set_is_named_and_its_depressions_dropped() {
    let scar_zones = |rec: &Value| -> usize {
        rec["plan"]["zones"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|z| z["concern"] == "acne_scars")
            .count()
    };
    let o = run(&["--plan"], &[&demo_set()]);
    expect_ok(&o);
    let rec = &records(&o)[0];
    let check = &rec["acne_scars"]["zones"][0]["light_check"];
    assert_eq!(check["photos_checked"], 4, "{check}");
    assert_eq!(check["depressions_dropped"], 0, "{check}");
    assert_eq!(scar_zones(rec), 1, "{}", rec["plan"]);

    let dir = tempfile::tempdir().unwrap();
    demo_set_with_l2_replaced(dir.path(), |l2| {
        let mut img = image::open(demo_set().join("cheek_L2.jpg"))
            .unwrap()
            .into_rgb8();
        let w = img.width();
        for (x, _, p) in img.enumerate_pixels_mut() {
            if x >= w / 2 {
                p.0 = p.0.map(|c| (f32::from(c) * 0.3).round() as u8);
            }
        }
        img.save(l2).unwrap();
    });
    let o = run(&["--plan"], &[dir.path()]);
    expect_ok(&o);
    let rec = &records(&o)[0];
    let check = &rec["acne_scars"]["zones"][0]["light_check"];
    assert!(
        check["depressions_dropped"].as_u64().unwrap() > 0,
        "{check}"
    );
    assert_eq!(check["photo_not_fitting"], 2, "{check}");
    assert_eq!(scar_zones(rec), 0, "{}", rec["plan"]);
    let why = rec["plan"]["unconfirmed"].to_string();
    assert!(
        why.contains("acne_scars.light_check")
            && why.contains("does not hold together")
            && why.contains("cheek_L2.jpg"),
        "{why}"
    );
}

/// Three lights leave none to spare: a photo that does not fit the set
/// cannot be told from relief, so the scars are shown and set no depth.
#[test]
fn scars_from_three_lights_set_no_needle_depth() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("S001/2026-11-02");
    std::fs::create_dir_all(&set).unwrap();
    for f in ["cheek_L0.jpg", "cheek_L1.jpg", "cheek_L2.jpg"] {
        std::fs::copy(demo_set().join(f), set.join(f)).unwrap();
    }
    let mut sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(demo_set().join("capture.json")).unwrap())
            .unwrap();
    sidecar["photos"].as_array_mut().unwrap().truncate(3);
    std::fs::write(set.join("capture.json"), sidecar.to_string()).unwrap();
    let o = run(&["--plan"], &[dir.path()]);
    expect_ok(&o);
    let rec = &records(&o)[0];
    let scars = &rec["acne_scars"];
    assert_eq!(scars["depth_mode"], "measured", "{scars}");
    assert!(scars["face"]["count"].as_u64().unwrap() > 0, "{scars}");
    assert!(scars["zones"][0]["light_check"].is_null(), "{scars}");
    let plan = &rec["plan"];
    assert!(
        plan["zones"]
            .as_array()
            .unwrap()
            .iter()
            .all(|z| z["concern"] != "acne_scars"),
        "{plan}"
    );
    let why = plan["unconfirmed"].to_string();
    assert!(why.contains("a set of 3 lights has none to spare"), "{why}");
}

/// A face set's sidecar `px_per_mm` is the device's calibration: it stands
/// for the face's own estimate (it was read and then ignored).
#[test]
fn a_face_sets_sidecar_scale_is_the_devices() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["a.jpg", "b.jpg", "c.jpg"] {
        std::fs::copy(shared("faces/obama.jpg"), dir.path().join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("capture.json"),
        r#"{"capture_set": "face", "px_per_mm": 1.7, "photos": [
            {"file": "a.jpg", "light_dir": [0, 0, 1]},
            {"file": "b.jpg", "light_dir": [0.5, 0, 0.87]},
            {"file": "c.jpg", "light_dir": [0, 0.5, 0.87]}]}"#,
    )
    .unwrap();
    let o = run(&[], &[dir.path()]);
    expect_ok(&o);
    let rec = &records(&o)[0];
    assert_eq!(rec["scale"]["source"], "device", "{}", rec["scale"]);
    assert_eq!(rec["scale"]["px_per_mm"], 1.7, "{}", rec["scale"]);
    assert!(!rec["face"].is_null(), "still a face: {}", rec["face"]);
}

/// A measured record made before the set check (no `light_check`) is
/// re-planned without setting a depth from its scars, and says why.
#[test]
fn records_from_before_the_set_check_set_no_needle_depth() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&["--out", out.path().to_str().unwrap()], &[&demo_set()]);
    expect_ok(&o);
    let text = std::fs::read_to_string(out.path().join("results.jsonl")).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines[0]["acne_scars"]["zones"][0]["light_check"] = Value::Null;
    let edited: Vec<String> = lines.iter().map(Value::to_string).collect();
    let results = out.path().join("old.jsonl");
    std::fs::write(&results, edited.join("\n") + "\n").unwrap();
    let o = bin().args(["plan"]).arg(&results).output().unwrap();
    expect_ok(&o);
    let plan: Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    assert!(
        plan["plan"]["zones"]
            .as_array()
            .unwrap()
            .iter()
            .all(|z| z["concern"] != "acne_scars"),
        "{plan}"
    );
    let why = plan["plan"]["unconfirmed"].to_string();
    assert!(why.contains("before schema 3.2.0"), "{why}");
}
