//! Pores, pigmentation, scores, patch mode, and stability under lighting.

use crate::*;
// The lighting changes, as `dermascore evaluate` makes them.
use dermascore::evaluate::LIGHTING_CHANGES;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn score_ok(s: &Value) {
    let v = s["value"].as_f64().unwrap();
    let u = s["uncertainty"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&v), "score {v}");
    assert!((0.0..=100.0).contains(&u), "uncertainty {u}");
}

#[test]
fn low_resolution_faces_get_no_pore_numbers_and_say_why() {
    let rec = one_image(&shared("faces/obama.jpg"), &[]);
    let pores = &rec["pores"];
    assert_eq!(pores["measured"], false);
    assert!(pores["face"].is_null());
    assert!(pores["zones"].as_array().unwrap().is_empty());
    let why = pores["reason"].as_str().unwrap();
    assert!(why.contains("px/mm") && why.contains("12"), "{why}");
    assert_eq!(pores["detection_threshold_mm"], 0.25);
}

#[test]
fn faces_get_colour_pigmentation_and_an_mmasi_estimate_per_zone() {
    let rec = one_image(&shared("faces/obama.jpg"), &[]);
    let p = &rec["pigmentation"];
    assert_eq!(p["measured"], true, "{p}");
    let ita = p["colour"]["ita_deg"].as_f64().unwrap();
    assert!((-60.0..=80.0).contains(&ita));
    assert!(p["colour"]["ita_category"].is_string());
    let zones = p["zones"].as_array().unwrap();
    assert_eq!(zones.len(), 8);
    for z in zones {
        let m = &z["metrics"];
        let pct = m["pigmented_pct"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&pct));
        assert!(m["area_grade"].as_u64().unwrap() <= 6);
        assert!(m["darkness_grade"].as_u64().unwrap() <= 4);
        // Area in mm² agrees with % of the zone's measured area (each
        // written to six significant digits).
        let area = m["pigmented_area_mm2"].as_f64().unwrap();
        let zone_mm2 = m["measured_area_cm2"].as_f64().unwrap() * 100.0;
        assert!((area / zone_mm2 * 100.0 - pct).abs() <= 2e-5 * pct.max(1e-3));
        score_ok(&m["severity"]);
    }
    let mmasi = &p["mmasi"];
    assert_eq!(mmasi["estimate"], true);
    let v = mmasi["value"].as_f64().unwrap();
    assert!((0.0..=24.0).contains(&v));
    assert_eq!(mmasi["regions"].as_array().unwrap().len(), 4);
    score_ok(&p["mmasi_severity"]);
}

#[test]
fn close_up_with_scale_measures_pores_in_physical_units() {
    // The eyes are closed, so the scale comes from the command line.
    let rec = one_image(&shared("pores/cheek_input.png"), &["--px-per-mm", "12.6"]);
    let pores = &rec["pores"];
    assert_eq!(pores["measured"], true, "{pores}");
    let face = &pores["face"];
    let count = face["count"].as_u64().unwrap();
    assert!(count > 100, "a pore-rich close-up: {count} pores");
    let density = face["density_per_cm2"].as_f64().unwrap();
    assert!((10.0..=500.0).contains(&density), "density {density}/cm²");
    let median = face["median_diameter_mm"].as_f64().unwrap();
    assert!(
        (0.25..=1.0).contains(&median),
        "median diameter {median} mm"
    );
    assert!(face["p90_diameter_mm"].as_f64().unwrap() >= median);
    let coverage = face["coverage_pct"].as_f64().unwrap();
    assert!(coverage > 0.0 && coverage < 50.0);
    score_ok(&face["severity"]);
    // Cheeks have pores; every measured zone reports its own numbers.
    let cheek = pores["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone"] == "right_cheek")
        .unwrap();
    assert!(cheek["metrics"]["count"].as_u64().unwrap() > 10);
}

/// The real cheek close-up analysed with `--patch` at its 12.6 px/mm,
/// measuring only the mask's pixels.
fn cheek_patch(mask: &Path) -> Value {
    one_image(
        &shared("pores/cheek_input.png"),
        &[
            "--patch",
            "--px-per-mm",
            "12.6",
            "--patch-mask",
            mask.to_str().unwrap(),
        ],
    )
}

#[test]
fn patch_mode_measures_the_frame_or_the_mask_without_a_face() {
    let dir = tempfile::tempdir().unwrap();
    let photo = shared("pores/cheek_input.png");
    let rec = one_image(&photo, &["--patch", "--px-per-mm", "12.6"]);
    assert_eq!(rec["status"], "ok");
    assert!(rec["face"].is_null());
    assert_eq!(rec["scale"]["source"], "user");
    assert!(rec["quality"]["pose_ok"].is_null() && rec["quality"]["eyes_open"].is_null());
    assert_eq!(rec["zones"].as_array().unwrap().len(), 1);
    assert_eq!(rec["zones"][0]["name"], "patch");
    assert_eq!(rec["pores"]["measured"], true);
    assert_eq!(rec["pores"]["zones"][0]["zone"], "patch");
    let whole = rec["pores"]["face"]["measured_area_cm2"].as_f64().unwrap();

    // The ROI mask restricts the measurement to its pixels.
    let roi = image::open(shared("pores/cheek_roi_mask.png"))
        .unwrap()
        .to_luma8();
    let mask = dir.path().join("roi.png");
    roi.save(&mask).unwrap();
    let masked = cheek_patch(&mask);
    let part = masked["pores"]["face"]["measured_area_cm2"]
        .as_f64()
        .unwrap();
    // Measured: the mask's pixels (less clipped ones and hair, a few %),
    // and of the whole frame all but its hair (brows, lashes, scalp hair).
    let cm2 = |px: f64| px / (12.6f64 * 12.6 * 100.0);
    let roi_cm2 = cm2(roi.pixels().filter(|p| p.0[0] > 0).count() as f64);
    assert!(
        part <= roi_cm2 && part > 0.95 * roi_cm2,
        "masked area {part} cm² vs the mask's {roi_cm2} cm²"
    );
    let hair = rec["zones"][0]["hair_pct"].as_f64().unwrap();
    let frame_cm2 = cm2(f64::from(roi.width() * roi.height()));
    assert!(hair > 1.0, "the frame's brows and hair: {hair} %");
    assert!(
        (whole / (frame_cm2 * (1.0 - hair / 100.0)) - 1.0).abs() < 0.05,
        "whole {whole} cm² vs frame {frame_cm2} cm² less {hair} % hair"
    );

    // A mask of the wrong size is that photo's error, not a crash.
    let small = dir.path().join("small.png");
    image::GrayImage::new(10, 10).save(&small).unwrap();
    let bad = cheek_patch(&small);
    assert_eq!(bad["status"], "error");
    assert_eq!(bad["error"]["code"], "mask_mismatch");

    // --patch without a scale is a usage error.
    let out = run(&["--patch"], &[&photo]);
    assert_eq!(out.status.code(), Some(2));
}

/// Zone edges are not pores: the same skin cut into 4 mm stripes (two thirds
/// of each stripe within 1.3 mm of an edge, beyond which the model sees the
/// zone's median) reads the same pore coverage as in one piece. A model that
/// finds pores along zone edges fails this (the earlier one read 19 % more
/// in stripes; the current one 1.5 %).
#[test]
fn zone_edges_do_not_look_like_pores() {
    let dir = tempfile::tempdir().unwrap();
    let roi = image::open(shared("pores/cheek_roi_mask.png"))
        .unwrap()
        .to_luma8();
    // 4 mm stripes at 12.6 px/mm, every other one left out.
    let stripes = image::GrayImage::from_fn(roi.width(), roi.height(), |x, y| {
        let on = roi.get_pixel(x, y).0[0] > 0 && (f64::from(x) / 12.6 / 4.0) as u32 % 2 == 0;
        image::Luma([if on { 255 } else { 0 }])
    });
    let whole = dir.path().join("roi.png");
    let cut = dir.path().join("stripes.png");
    roi.save(&whole).unwrap();
    stripes.save(&cut).unwrap();
    let coverage = |mask: &Path| {
        let rec = cheek_patch(mask);
        rec["pores"]["face"]["coverage_pct"].as_f64().unwrap()
    };
    let (one_piece, in_stripes) = (coverage(&whole), coverage(&cut));
    println!("pore coverage: ROI {one_piece:.2} %, ROI in 4 mm stripes {in_stripes:.2} %");
    assert!(
        (in_stripes / one_piece - 1.0).abs() < 0.12,
        "coverage {in_stripes:.2} % in stripes vs {one_piece:.2} % in one piece"
    );
}

/// The photo relit in linear light (exposure and colour cast), saved as PNG.
fn relight(src: &Path, dst: &Path, gains: [f64; 3]) {
    let photo = dermascore::ingest::Photo::from_decoded(image::open(src).unwrap());
    let relit = dermascore::measure::colour::relight_photo(&photo, gains);
    match relit.deep {
        Some(deep) => deep.save(dst).unwrap(),
        None => relit.rgb.save(dst).unwrap(),
    }
}

/// A pigmented share (%) and its `area_steady` flag.
type Share = (f64, bool);

/// The pigmented share of the face and of each measured zone, and the
/// face's severity score with its stated uncertainty.
fn pigmented_pct(path: &Path, args: &[&str]) -> (Share, Vec<(String, Share)>, (f64, f64)) {
    let rec = one_image(path, args);
    assert_eq!(
        rec["pigmentation"]["measured"], true,
        "{}",
        rec["pigmentation"]
    );
    let share = |m: &Value| {
        (
            m["pigmented_pct"].as_f64().unwrap(),
            m["area_steady"].as_bool().unwrap(),
        )
    };
    let zones = rec["pigmentation"]["zones"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|z| !z["metrics"].is_null())
        .map(|z| {
            (
                z["zone"].as_str().unwrap().to_string(),
                share(&z["metrics"]),
            )
        })
        .collect();
    let severity = &rec["pigmentation"]["face"]["severity"];
    (
        share(&rec["pigmentation"]["face"]),
        zones,
        (
            severity["value"].as_f64().unwrap(),
            severity["uncertainty"].as_f64().unwrap(),
        ),
    )
}

/// How strictly the whole reading is held to the limit.
#[derive(Clone, Copy, PartialEq)]
enum Whole {
    /// Always within 10 %.
    Within10Pct,
    /// Within 10 % when marked `area_steady`; a reading that moves more
    /// must have been marked unsteady.
    AsFlagged,
}

/// The same photo at ±15 % exposure and under a mild colour cast: the
/// pigmented area moves by less than 10 % (relative) as `whole` says, and
/// so does that of every zone marked `area_steady`; the severity score moves
/// by no more than its stated uncertainty. Returns how many zones were
/// marked steady.
fn assert_stable(photo: &Path, args: &[&str], whole: Whole) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let ((base, base_steady), base_zones, (score, score_sd)) = pigmented_pct(photo, args);
    assert!(base > 0.0, "the baseline photo must have pigmented skin");
    let steady: Vec<_> = base_zones
        .iter()
        .filter(|(_, (b, s))| *s && *b > 0.0)
        .collect();
    for (_, name, gains) in LIGHTING_CHANGES {
        let p = dir.path().join(format!("{name}.png"));
        relight(photo, &p, gains);
        let ((v, _), zones, (s, _)) = pigmented_pct(&p, args);
        // Scores are rounded to 0.1 point.
        assert!(
            (s - score).abs() <= score_sd + 0.1,
            "{name}: severity {s} vs {score} ± {score_sd}"
        );
        for (zone, (b, _)) in &steady {
            let z = zones.iter().find(|z| &z.0 == zone).map_or(0.0, |z| z.1 .0);
            println!("  {zone} (marked steady): {z:.2} % vs {b:.2} %");
            assert!(
                (z - b).abs() / b < 0.10,
                "{name}: {zone}, marked steady, moved from {b:.2} % to {z:.2} %"
            );
        }
        let change = (v - base).abs() / base;
        println!(
            "{}: {name} pigmented {v:.2} % vs {base:.2} % ({:+.1} %; marked steady: {base_steady})",
            photo.display(),
            100.0 * (v - base) / base
        );
        if whole == Whole::Within10Pct || base_steady {
            assert!(
                change < 0.10,
                "{name}: pigmented area {v:.2} % vs {base:.2} % ({:.1} % change)",
                100.0 * change
            );
        }
    }
    steady.len()
}

/// A 40 mm patch of faint spots: it may move by 10 % or more, but then it
/// must have been marked unsteady.
#[test]
fn pigmented_area_is_stable_under_exposure_and_colour_cast_synthetic() {
    assert_stable(
        &fixture("spots_6pxmm.png"),
        &["--patch", "--px-per-mm", "6"],
        Whole::AsFlagged,
    );
}

/// A 16-bit close-up of faint spots, marked unsteady, relit at 16 bits:
/// measured at 16 bits, its area stays within 10 % (relighting an 8-bit
/// file re-rounds its levels, which moves such areas; see README).
#[test]
fn pigmented_area_of_a_16_bit_close_up_is_stable_under_exposure_and_colour_cast() {
    let photo = fixture("spots_16bit_6pxmm.png");
    let args = ["--patch", "--px-per-mm", "6"];
    let png = one_image(&photo, &args);
    assert_eq!(png["input"]["color"], "rgb16");
    assert_stable(&photo, &args, Whole::Within10Pct);
    // A 16-bit TIFF of the same pixels reads the same.
    let dir = tempfile::tempdir().unwrap();
    let tiff = dir.path().join("spots.tif");
    image::open(&photo).unwrap().save(&tiff).unwrap();
    let from_tiff = one_image(&tiff, &args);
    assert_eq!(from_tiff["input"]["color"], "rgb16");
    assert_eq!(
        from_tiff["pigmentation"]["face"],
        png["pigmentation"]["face"]
    );
}

/// The face models see each crop at one mean skin colour in linear light,
/// so the iris scale (hence every mm and mm²) barely moves with exposure or
/// white balance. Without that normalisation it moved 1.3 % (obama) and
/// 1.5 % (obama-1080p).
#[test]
fn iris_scale_does_not_move_with_exposure_or_colour_cast() {
    let dir = tempfile::tempdir().unwrap();
    for face in ["obama.jpg", "obama-1080p.jpg"] {
        let photo = shared(&format!("faces/{face}"));
        let scale = |p: &Path| one_image(p, &[])["scale"]["px_per_mm"].as_f64().unwrap();
        let base = scale(&photo);
        for (_, name, gains) in LIGHTING_CHANGES {
            let p = dir.path().join(format!("{name}.png"));
            relight(&photo, &p, gains);
            let moved = (scale(&p) / base - 1.0).abs();
            assert!(
                moved < 0.01,
                "{face} {name}: scale moved {:.2} %",
                100.0 * moved
            );
        }
    }
}

/// A patch whose spots stand out from the skin's own mottling: marked
/// steady, so it must stay within 10 % (the faces' zones are all marked
/// unsteady, so this is where the flag's promise is tested).
#[test]
fn pigmented_area_marked_steady_stays_within_10_pct() {
    let steady = assert_stable(
        &fixture("spots_steady_6pxmm.png"),
        &["--patch", "--px-per-mm", "6"],
        Whole::AsFlagged,
    );
    assert_eq!(steady, 1, "the patch must be marked area_steady");
}

#[test]
fn pigmented_area_is_stable_under_exposure_and_colour_cast_real_faces() {
    for face in [
        "obama.jpg",
        "biden.jpg",
        "lin-manuel-miranda.png",
        "obama_partial_face.jpg",
    ] {
        assert_stable(&shared(&format!("faces/{face}")), &[], Whole::Within10Pct);
    }
}

#[test]
fn planted_spots_are_found_with_the_right_area() {
    let rec = one_image(
        &fixture("spots_6pxmm.png"),
        &["--patch", "--px-per-mm", "6"],
    );
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("spots_6pxmm.json")).unwrap())
            .unwrap();
    let true_area: f64 = truth["spots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["labelled"] == true)
        .map(|s| s["area_mm2"].as_f64().unwrap())
        .sum();
    let face = &rec["pigmentation"]["face"];
    let area = face["pigmented_area_mm2"].as_f64().unwrap();
    println!(
        "planted {true_area:.1} mm², measured {area:.1} mm², {} spots",
        face["spot_count"]
    );
    assert!(face["spot_count"].as_u64().unwrap() >= 2);
    assert!(
        (area / true_area - 1.0).abs() < 0.5,
        "measured {area:.1} mm² vs planted {true_area:.1} mm²"
    );
    assert!(
        face["mean_delta_l"].as_f64().unwrap() > 0.0,
        "spots are darker than the baseline"
    );
    assert!(
        face["mean_delta_melanin"].as_f64().unwrap() > 0.0,
        "and carry more melanin"
    );
}

/// The pigment model against the committed hand outlines: each region is
/// scored (a folder of regions, or one region's folder), and a folder with
/// no outlines is an error.
#[test]
fn real_pigment_outlines_are_scored_per_region() {
    shared("closeups/bioskin/1.jpg");
    shared("closeups/bioskin/2.jpg");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("figures.json");
    let photos = root.join("../shared/photos");
    let o = bin()
        .args(["evaluate", "--real-pigment"])
        .arg(root.join("datasets/real_pigment"))
        .arg("--photos")
        .arg(&photos)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let regions = v["pigment_real_outlines"].as_object().unwrap();
    let names: Vec<&str> = regions.keys().map(String::as_str).collect();
    assert_eq!(names, ["cheek_freckles", "temple_macule"]);
    for (name, r) in regions {
        let dice = r["measured"]["dice"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&dice), "{name}: {r}");
        assert!(r["true_area_mm2"].as_f64().unwrap() > 1.0, "{name}: {r}");
    }
    // The freckles' image is the one named in their outlines.
    assert_eq!(regions["cheek_freckles"]["image"], "closeups/bioskin/1.jpg");

    let o = bin()
        .args(["evaluate", "--real-pigment"])
        .arg(root.join("datasets/real_pigment/temple_macule"))
        .arg("--photos")
        .arg(&photos)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("bioskin/2.jpg region"));

    let empty = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["evaluate", "--real-pigment"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no outlines.json"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
