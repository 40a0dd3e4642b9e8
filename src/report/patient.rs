//! The patient report: one self-contained HTML file per patient (no
//! scripts, no network, images embedded) — each visit's photo with zones and
//! findings, before/after crops per zone, trend charts per concern against
//! the measurement's noise, and the current plan with its reasons.

use crate::compare::{FollowUp, PatientComparison};
use crate::pipeline::VisitPictures;
use crate::plan::{Plan, PlanOutcome, DISCLAIMER};
use crate::zones::ZoneName;
use base64::Engine;
use image::{imageops, RgbImage};
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn data_uri(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A crop as a JPEG data URI, `height` pixels high (encoded fresh: no EXIF).
fn crop_uri(img: &RgbImage, height: u32) -> Option<String> {
    let w = (img.width() as f32 * height as f32 / img.height().max(1) as f32)
        .round()
        .max(1.0) as u32;
    let small = imageops::resize(img, w, height, imageops::FilterType::Triangle);
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 88)
        .encode_image(&small)
        .ok()?;
    Some(data_uri("image/jpeg", &bytes))
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2733;background:#f6f7f9;margin:0}
main{max-width:1080px;margin:0 auto;padding:24px 32px 48px;background:#fff}
header{border-bottom:3px solid #2f6f8f;padding-bottom:12px;margin-bottom:20px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;color:#2f6f8f;margin:28px 0 10px}
.muted{color:#5a6672;font-size:13px}.num{white-space:nowrap}.badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;font-size:13px;margin-right:8px}
.proceed{background:#dff3e4;color:#1e6b34}.caution{background:#fff1d6;color:#8a5a00}.defer{background:#fde0df;color:#9b1c1c}.unassessed{background:#e4e8ec;color:#33404c}
.grid{display:flex;flex-wrap:wrap;gap:16px}.card{border:1px solid #dde3e8;border-radius:8px;padding:10px;background:#fff}
.card img{display:block;max-width:500px;width:100%;height:auto;border-radius:4px}.card>strong,.card svg{display:block}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{border-bottom:1px solid #e4e8ec;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f7}.pair img{height:120px;margin-right:6px;border-radius:4px}.up{color:#9b1c1c}.down{color:#1e6b34}
footer{margin-top:32px;font-size:12px;color:#5a6672;border-top:1px solid #e4e8ec;padding-top:10px}
.rule{color:#5a6672;font-size:11px;white-space:nowrap}.legend{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:12px;color:#33404c;margin:8px 0 0}
.legend span{display:inline-flex;align-items:center;gap:6px}.sw{display:inline-block;width:14px;height:14px;border-radius:3px;border:1px solid #c5ced6}
.ring{display:inline-block;width:10px;height:10px;border-radius:50%;border:2px solid}
@page{margin:14mm 12mm 16mm}
@media print{body{background:#fff}main{max-width:none;padding:0}h2,h3{break-after:avoid}ul{break-before:avoid}
.card,tr,.legend,.pair img{break-inside:avoid}.grid{gap:10px}.card img{max-width:210px}
.pair{white-space:nowrap}.pair img{height:90px}.new-page{break-before:page}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}.notes{font-size:12px;color:#8a4b00;margin:4px 0 0;padding-left:16px}";

/// What the overlays draw, as the report's legend says it.
const LEGEND: &str = "<div class=\"legend\"><span><i class=\"sw\" style=\"background:#f0c080\"></i>tinted: a measured zone (each its own colour)</span><span><i class=\"sw\" style=\"background:#fff\"></i>untinted inside an outline: left out (eyes, brows, lips, clipped, turned more than 60° from the camera, or a zone no measurement read, e.g. a fifth of it hair)</span><span><i class=\"ring\" style=\"border-color:#005aff\"></i>pore</span><span><i class=\"sw\" style=\"background:#fff;border:2px solid #ff9600\"></i>pigmented spot (outline)</span><span><i class=\"sw\" style=\"background:repeating-linear-gradient(45deg,#00c8e6 0 2px,#fff 2px 4px)\"></i>hair, left out</span><span><i class=\"sw\" style=\"background:repeating-linear-gradient(45deg,#e600c8 0 2px,#fff 2px 4px)\"></i>object over the skin, left out</span><span><i class=\"sw\" style=\"background:radial-gradient(#fff 40%,#999 41%)\"></i>white stipple: glare, left out</span><span><i class=\"sw\" style=\"background:repeating-linear-gradient(-45deg,#b0b0b0 0 1px,#fff 1px 4px)\"></i>white hatch: left out of the pigmentation (skin folds, skin turned more than 50°)</span><span><i class=\"ring\" style=\"border-color:#e600c8\"></i>acne scar</span><span><i class=\"ring\" style=\"border-color:#ff2828\"></i>iris (scale)</span><span>white bar: 10 mm</span></div>";

/// A plan's verdict as a badge ([`Plan::verdict`]).
fn plan_badge(plan: &Plan) -> String {
    match (plan.outcome, plan.verdict()) {
        (PlanOutcome::Proceed, verdict) => {
            format!("<span class=\"badge proceed\">{verdict}</span>")
        }
        (o, _) => outcome_badge(o).to_string(),
    }
}

fn outcome_badge(o: PlanOutcome) -> &'static str {
    match o {
        PlanOutcome::Proceed => "<span class=\"badge proceed\">Proceed</span>",
        PlanOutcome::Caution => "<span class=\"badge caution\">Caution</span>",
        PlanOutcome::Defer => "<span class=\"badge defer\">Defer</span>",
        PlanOutcome::NotAssessable => "<span class=\"badge unassessed\">Not assessable</span>",
    }
}

fn trend_svg(p: &PatientComparison, metric: &str) -> Option<String> {
    // Each visit's value, and whether it was taken differently from the
    // baseline (then not comparable: drawn hollow).
    let pts: Vec<(usize, f64, bool)> = p
        .visits
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            p.changes
                .iter()
                .find(|c| c.metric == metric && &c.visit_date == d)
                .map(|c| (i, c.value, !c.capture_warnings.is_empty()))
        })
        .collect();
    if pts.len() < 2 {
        return None;
    }
    let mdc = p
        .changes
        .iter()
        .find(|c| c.metric == metric)
        .and_then(|c| c.mdc95)
        .unwrap_or(0.0);
    let (label, unit) = p
        .changes
        .iter()
        .find(|c| c.metric == metric)
        .map(|c| (c.label.clone(), c.unit.clone()))
        .unwrap_or_default();
    let base = pts[0].1;
    // Every charted metric is a share or a 0–100 score: no axis below 0.
    let lo = pts.iter().map(|p| p.1).fold(base - mdc, f64::min).max(0.0);
    let hi = pts.iter().map(|p| p.1).fold(base + mdc, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (w, h, pad, left) = (420.0, 200.0, 40.0, 64.0);
    // Visits placed by their dates (evenly when a date cannot be read).
    let at: Vec<f64> = p
        .visits
        .iter()
        .map(|d| crate::ingest::days(d).map(|v| v as f64))
        .collect::<Option<_>>()
        .unwrap_or_else(|| (0..p.visits.len()).map(|i| i as f64).collect());
    let (first, last) = (at[0], at[at.len() - 1]);
    let x = |i: usize| left + (at[i] - first) / (last - first).max(1.0) * (w - left - pad);
    let y = |v: f64| h - pad - (v - lo) / span * (h - 2.0 * pad);
    let title = if unit.is_empty() {
        label.clone()
    } else {
        format!("{label} ({unit})")
    };
    let mut s = format!("<div class=\"card\"><strong>{}</strong><svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">", esc(&title), esc(&title));
    // The value axis: its range and the baseline, with light grid lines.
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{pad}\" x2=\"{left}\" y2=\"{}\" stroke=\"#8a96a3\"/>",
        h - pad
    );
    // The baseline's tick, unless it would sit on the range's ends.
    let near_end = (base - lo).min(hi - base) < 0.08 * span;
    for v in [Some(lo), (!near_end).then_some(base), Some(hi)]
        .into_iter()
        .flatten()
    {
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#e4e8ec\"/><text x=\"{2}\" y=\"{3:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#5a6672\">{v:.1}</text>",
            y(v),
            w - pad,
            left - 6.0,
            y(v) + 3.5
        );
    }
    // The baseline's noise band: changes inside it are not changes.
    let _ = write!(
        s,
        "<rect x=\"{left}\" y=\"{:.1}\" width=\"{}\" height=\"{:.1}\" fill=\"#e8f0f5\"/>",
        y(base + mdc),
        w - left - pad,
        (y(base - mdc) - y(base + mdc)).max(1.0)
    );
    let path: Vec<String> = pts
        .iter()
        .map(|&(i, v, _)| format!("{:.1},{:.1}", x(i), y(v)))
        .collect();
    let _ = write!(
        s,
        "<polyline fill=\"none\" stroke=\"#2f6f8f\" stroke-width=\"2.5\" points=\"{}\"/>",
        path.join(" ")
    );
    for &(i, v, differs) in &pts {
        let fill = if differs { "#ffffff" } else { "#2f6f8f" };
        let _ = write!(s, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{fill}\" stroke=\"#2f6f8f\" stroke-width=\"1.5\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{v:.1}</text>", x(i), y(v), x(i), y(v) - 8.0);
    }
    let hollow = if pts.iter().any(|p| p.2) {
        " Hollow points: taken differently from the baseline (scale, exposure, colour or pose), so not comparable with it."
    } else {
        ""
    };
    for (i, d) in p.visits.iter().enumerate() {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x(i),
            h - 12.0,
            esc(d)
        );
    }
    let _ = write!(s, "</svg><div class=\"muted\">Shaded: the baseline ± the minimal detectable change ({mdc:.2}{}): a change inside it is within the measurement's own noise.{hollow}</div></div>", if unit.is_empty() { String::new() } else { format!(" {unit}") });
    Some(s)
}

/// A titled list of rules and their evidence; empty when there are none.
fn reason_list(title: &str, reasons: &[crate::plan::Reason]) -> String {
    if reasons.is_empty() {
        return String::new();
    }
    let mut s = format!("<h3>{title}</h3><ul>");
    for r in reasons {
        let _ = write!(
            s,
            "<li>{} <span class=\"rule\">[{}]</span></li>",
            esc(&r.evidence),
            esc(&r.rule)
        );
    }
    s.push_str("</ul>");
    s
}

/// The face-level readings shown for the latest visit, by concern: the
/// plan's rule for it, its written name, and (metric, digits after the
/// point).
type ConcernReadings = (&'static str, &'static str, &'static [(&'static str, usize)]);
const LATEST_READINGS: [ConcernReadings; 4] = [
    (
        "pores",
        "Pores",
        &[
            ("pores.face.density_per_cm2", 0),
            ("pores.face.median_diameter_mm", 2),
            ("pores.face.coverage_pct", 1),
            ("pores.face.severity", 0),
        ],
    ),
    (
        "pigmentation",
        "Pigmentation",
        &[
            ("pigmentation.face.pigmented_pct", 1),
            ("pigmentation.face.mmasi_estimate", 1),
            ("pigmentation.face.mmasi_severity", 0),
        ],
    ),
    ("colour", "Skin colour", &[("colour.face.ita_deg", 0)]),
    (
        "acne_scars",
        "Acne scars",
        &[
            ("acne_scars.face.count", 0),
            ("acne_scars.face.scarred_area_pct", 1),
            ("acne_scars.face.mean_depth_mm", 2),
            ("acne_scars.face.max_depth_mm", 2),
            ("acne_scars.face.severity", 0),
        ],
    ),
];

/// What the latest visit measured, face by concern, with what each number
/// can be trusted for; a concern that was not measured gives the plan's
/// reason. Shown at every visit count, so a first consultation has its
/// numbers too.
fn latest_readings(p: &PatientComparison) -> String {
    use crate::measure::{colour::ItaCategory, DepthMode};
    let Some(last) = p.visits.last() else {
        return String::new();
    };
    let value = |metric: &str| {
        p.changes
            .iter()
            .find(|c| &c.visit_date == last && c.metric == metric)
    };
    let not_assessed = |rule: &str| {
        p.latest_plan.as_ref().and_then(|plan| {
            plan.not_assessed
                .iter()
                .find(|r| r.rule == rule)
                .map(|r| r.evidence.clone())
        })
    };
    let depth = p.captures.last().and_then(|c| c.acne_scar_depth);
    let mut rows = String::new();
    for (concern, name, metrics) in LATEST_READINGS {
        let found: Vec<_> = metrics
            .iter()
            .filter_map(|&(m, digits)| Some((value(m)?, digits)))
            .collect();
        if found.is_empty() {
            if let Some(why) = not_assessed(concern) {
                let _ = write!(
                    rows,
                    "<tr><td>{name}</td><td>not measured</td><td>{}</td></tr>",
                    esc(&why)
                );
            }
            continue;
        }
        let mut readings = Vec::new();
        let mut notes = Vec::new();
        for (c, digits) in found {
            notes.extend(
                c.reading_warnings
                    .iter()
                    .filter(|w| w.contains(crate::compare::PHOTOS_DISAGREE))
                    .map(|w| format!("{}: {w}", c.label.replace(", face", ""))),
            );
            match c.metric.as_str() {
                "pigmentation.face.pigmented_pct" => notes.push("unvalidated on real lesions (against hand outlines of real macules and freckles the spots overlapped at Dice 0.13–0.20): examine any pigmented lesion before treating it; the zones do not cover the temples, the jaw or the sides of the face".to_string()),
                "pores.face.severity" => notes.push("the severity is not anchored to a normal range (real normal skin reads high on it): follow it over visits".to_string()),
                "colour.face.ita_deg" => notes.push(format!(
                    "{}; a colour measurement, not a Fitzpatrick type",
                    crate::plan::category_key(ItaCategory::from_ita(c.value)).replace('_', " ")
                )),
                "acne_scars.face.count" => notes.extend(match depth {
                    Some(DepthMode::Measured) => Some("measured from the multi-light capture set".to_string()),
                    Some(DepthMode::Estimated) if c.value == 0.0 => Some("estimated from one photo, which reports only clear depressions: none found does not rule scars out".to_string()),
                    Some(DepthMode::Estimated) => Some("estimated from one photo: unconfirmed, never sets a needle depth".to_string()),
                    None => None,
                }),
                _ => {}
            }
            let unit = if c.unit.is_empty() || c.unit == "°" {
                c.unit.clone()
            } else {
                format!("\u{a0}{}", c.unit)
            };
            let label = if c.label.is_empty() {
                &c.metric
            } else {
                &c.label
            };
            readings.push(format!(
                "{} <span class=\"num\">{:.*}{}</span>",
                esc(&label.replace(", face", "")),
                digits,
                c.value,
                esc(&unit)
            ));
        }
        let _ = write!(
            rows,
            "<tr><td>{name}</td><td>{}</td><td>{}</td></tr>",
            readings.join(" · "),
            esc(&notes.join("; "))
        );
    }
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "<h3>Measured at the latest visit ({})</h3><table><tr><th>Concern</th><th>Readings</th><th>Note</th></tr>{rows}</table>",
        esc(last)
    )
}

/// `<li>` elements of HTML already escaped.
fn list_items(items: impl Iterator<Item = String>) -> String {
    items.map(|i| format!("<li>{i}</li>")).collect()
}

/// A change's written label (its metric's key when it has none) and its
/// unit as a suffix (" %"; empty for scores).
fn label_and_unit(c: &crate::compare::Change) -> (&str, String) {
    let label = if c.label.is_empty() {
        &c.metric
    } else {
        &c.label
    };
    let unit = if c.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", c.unit)
    };
    (label, unit)
}

fn plan_section(plan: &Plan) -> String {
    let mut s = format!("<p>{} ", plan_badge(plan));
    if let (Some(n), Some(wk)) = (plan.sessions, plan.interval_weeks) {
        let _ = write!(
            s,
            "{n} sessions, {wk} weeks apart; maintenance every {} months.",
            plan.maintenance_months.unwrap_or(0)
        );
    } else if plan.outcome == PlanOutcome::Defer {
        s.push_str(
            "No treatment now: a contraindication below defers it. Plan again once it is resolved.",
        );
    } else if plan.outcome == PlanOutcome::NotAssessable {
        s.push_str(
            "Nothing could be assessed on this photo (see below): no plan can be made from it.",
        );
    } else {
        s.push_str("No measured zone needs treatment: each reading is below the protocol's treatment threshold or within the range it reads on normal skin.");
        if !plan.not_assessed.is_empty() {
            s.push_str(
                " Not everything could be assessed: see \"Not assessed on this photo\" below.",
            );
        }
    }
    s.push_str("</p>");
    if let (Some(ita), Some(cat)) = (plan.ita_deg, plan.ita_category) {
        let _ = write!(s, "<p class=\"muted\">Measured skin colour: ITA {ita:.0}° ({}). ITA is a colour measurement, not a Fitzpatrick type.", crate::plan::category_key(cat).replace('_', " "));
        if let Some(f) = plan.fitzpatrick {
            let _ = write!(
                s,
                " Fitzpatrick type from the intake: {}.",
                crate::plan::roman(f)
            );
        }
        if let Some(used) = plan.skin_tone_category.filter(|&u| u != cat) {
            let _ = write!(
                s,
                " Skin-tone rules applied: {}.",
                crate::plan::category_key(used).replace('_', " ")
            );
        }
        s.push_str("</p>");
    }
    if !plan.zones.is_empty() {
        s.push_str("<table><tr><th>Zone</th><th>Treated for</th><th>Severity</th><th>Needle depth</th><th>Why</th></tr>");
        for z in &plan.zones {
            let why: Vec<String> = z
                .rationale
                .iter()
                .map(|r| {
                    format!(
                        "{} <span class=\"rule\">[{}]</span>",
                        esc(&r.evidence),
                        esc(&r.rule)
                    )
                })
                .collect();
            let _ = write!(s, "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.0} ± {:.0}</td><td><strong>{} mm</strong></td><td>{}</td></tr>", z.zone.label(), z.concern.as_str(), z.severity, z.severity_uncertainty, z.needle_depth_mm, why.join("<br>"));
        }
        s.push_str("</table>");
    }
    if plan.sessions.is_some() {
        s.push_str(&reason_list(
            "How the course was set",
            &plan.course_rationale,
        ));
    }
    if !plan.findings.is_empty() {
        s.push_str("<h3>Contraindications and cautions</h3><ul>");
        for f in &plan.findings {
            let _ = write!(
                s,
                "<li>{} {} <span class=\"rule\">[{}]</span></li>",
                outcome_badge(f.outcome),
                esc(&f.evidence),
                esc(&f.rule)
            );
        }
        s.push_str("</ul>");
    }
    s.push_str(&reason_list(
        "Shown, not acted on (unconfirmed estimates)",
        &plan.unconfirmed,
    ));
    s.push_str(&reason_list(
        "Not treated unless the patient asks (within the normal range, or no normal range established)",
        &plan.within_normal,
    ));
    s.push_str(&reason_list(
        "Not assessed on this photo",
        &plan.not_assessed,
    ));
    s
}

/// A CSS string literal holding `s` (quotes, backslashes, line breaks and
/// `<` escaped, so nothing can close the string or the style element).
fn css_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' | '<' | '>' | '\n' | '\r' => {
                let _ = write!(out, "\\{:X} ", u32::from(c));
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Printed, every page's foot carries the patient, the visits and the page.
fn page_margins(p: &PatientComparison) -> String {
    let who = format!("Patient {} · visits {}", p.patient_id, p.visits.join(", "));
    format!(
        "@page{{@bottom-left{{content:{};font:10px system-ui,sans-serif;color:#5a6672}}@bottom-right{{content:\"page \" counter(page) \" of \" counter(pages);font:10px system-ui,sans-serif;color:#5a6672}}}}",
        css_string(&who)
    )
}

/// Renders one patient's report. `pictures` holds each visit's pictures (or
/// None where the photo could not be re-read), in visit order. `tool` is
/// the build writing the report: its version heads the page, its commit is
/// in the footer.
pub fn render(
    p: &PatientComparison,
    pictures: &[Option<VisitPictures>],
    tool: &super::ToolInfo,
) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>Skin assessment — {}</title><style>{STYLE}{}</style></head><body><main>",
        esc(&p.patient_id),
        page_margins(p)
    );
    let _ = write!(
        s,
        "<header><h1>Skin assessment</h1><div>Patient <strong>{}</strong> · {} visit(s): {}</div><div class=\"muted\">Measured from photographs by dermascore {} on this computer; no photo left it.</div></header>",
        esc(&p.patient_id),
        p.visits.len(),
        esc(&p.visits.join(", ")),
        esc(&tool.version)
    );
    s.push_str("<h2>Summary</h2>");
    if let Some(plan) = &p.latest_plan {
        let _ = write!(s, "<p>Plan at the latest visit: {}", plan_badge(plan));
        if let Some(f) = p.follow_up {
            let what = match f {
                FollowUp::Continue => "continue the course",
                FollowUp::AdjustDepth => {
                    "review the depth: no change beyond the measurement's noise yet"
                }
                FollowUp::Maintenance => "move to maintenance",
                FollowUp::Defer => "treatment deferred",
                FollowUp::NotAssessable => "not assessable: nothing could be measured",
                FollowUp::NoTreatmentIndicated => "no treatment indicated by the measurements",
            };
            let _ = write!(
                s,
                " Follow-up: <strong>{what}</strong> ({}).",
                esc(&p.follow_up_reason)
            );
        }
        s.push_str("</p>");
    }
    let last = p.visits.last();
    let key: Vec<&crate::compare::Change> = p
        .changes
        .iter()
        .filter(|c| {
            Some(&c.visit_date) == last
                && c.change_from_baseline.is_some()
                && (c.metric.contains(".face.") || c.metric.contains("cheek.pigmented"))
        })
        .filter(|c| {
            c.metric.ends_with("severity")
                || c.metric.ends_with("pigmented_pct")
                || c.metric.ends_with("coverage_pct")
        })
        .collect();
    // Every other reading that moved beyond its noise at the latest visit:
    // the summary's rows are the face's, but a zone can change alone.
    let others: Vec<String> = p
        .changes
        .iter()
        .filter(|c| {
            Some(&c.visit_date) == last
                && c.exceeds_mdc == Some(true)
                && c.capture_warnings.is_empty()
                && !key.iter().any(|k| k.metric == c.metric)
        })
        .map(|c| {
            let d = c.change_from_baseline.unwrap_or(0.0);
            let (label, unit) = label_and_unit(c);
            let caveat = if c.reading_warnings.is_empty() {
                String::new()
            } else {
                format!(
                    " (but {}: confirm at the next visit)",
                    c.reading_warnings.join("; ")
                )
            };
            esc(&format!(
                "{label}: {:.1} → {:.1}{unit} ({d:+.1}){caveat}",
                c.value - d,
                c.value
            ))
        })
        .collect();
    if !key.is_empty() {
        s.push_str("<table><tr><th>Measure</th><th>Baseline → latest</th><th>Change</th><th>Beyond noise?</th></tr>");
        for c in key {
            let d = c.change_from_baseline.unwrap_or(0.0);
            let verdict = match (c.exceeds_mdc, c.capture_warnings.is_empty()) {
                (_, false) => format!("cannot tell: {}", esc(&c.capture_warnings.join("; "))),
                (Some(true), _) if !c.reading_warnings.is_empty() => format!(
                    "yes, but {}: confirm at the next visit",
                    esc(&c.reading_warnings.join("; "))
                ),
                (Some(true), _) => "yes".into(),
                (Some(false), _) => "no — within measurement noise".into(),
                (None, _) => "no noise estimate".into(),
            };
            let (label, unit) = label_and_unit(c);
            // A change of a percentage is in percentage points; one
            // within the noise is not coloured as a rise or a fall.
            let change_unit = if c.unit == "%" {
                " points"
            } else {
                unit.as_str()
            };
            let class = match (c.exceeds_mdc, d > 0.0) {
                (Some(true), true) => "up",
                (Some(true), false) => "down",
                _ => "flat",
            };
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{:.1} → {:.1}{}</td><td class=\"{class} num\">{:+.1}{}</td><td>{verdict}</td></tr>",
                esc(label),
                c.value - d,
                c.value,
                esc(&unit),
                d,
                esc(change_unit)
            );
        }
        s.push_str("</table>");
    }
    if !others.is_empty() {
        let _ = write!(
            s,
            "<p>{} more reading{} changed beyond the measurement's noise: see Trends.</p>",
            others.len(),
            if others.len() == 1 { "" } else { "s" }
        );
    }
    s.push_str("<h2>Visits</h2><div class=\"grid\">");
    for (i, d) in p.visits.iter().enumerate() {
        let cap = &p.captures[i];
        let img = pictures.get(i).and_then(|v| v.as_ref()).map(|v| {
            let relief = v.relief_png.as_ref().map_or(String::new(), |png| {
                format!(
                    "<img alt=\"{} relief: depth below the skin surface in mm, scars circled\" src=\"{}\"><div class=\"muted\">relief from the multi-light set: depth below the skin surface (mm), scars circled</div>",
                    esc(d),
                    data_uri("image/png", png)
                )
            });
            format!(
                "<img alt=\"{} with zones\" src=\"{}\">{relief}",
                esc(d),
                data_uri("image/png", &v.overlay_png)
            )
        });
        let several = (cap.photos > 1).then(|| {
            format!(
                "{} photos at this visit: each reading is their mean; the picture, scale and plan are the first photo's",
                cap.photos
            )
        });
        let notes = if cap.quality_notes.is_empty() && several.is_none() {
            String::new()
        } else {
            format!(
                "<ul class=\"notes\">{}</ul>",
                list_items(several.iter().chain(&cap.quality_notes).map(|n| esc(n)))
            )
        };
        let _ = write!(
            s,
            "<div class=\"card\">{}<div><strong>{}</strong></div><div class=\"muted\">scale {} · pose yaw {}</div>{notes}</div>",
            img.unwrap_or_else(|| "<div class=\"muted\">photo not available</div>".into()),
            esc(d),
            match (cap.px_per_mm, cap.px_per_mm_uncertainty) {
                (Some(v), Some(u)) => format!("{v:.2} px/mm ± {:.0} %", 100.0 * u),
                (Some(v), None) => format!("{v:.2} px/mm"),
                (None, _) => "unknown".into(),
            },
            cap.yaw_deg.map_or("unknown".into(), |v| format!("{v:.0}°"))
        );
    }
    s.push_str("</div>");
    s.push_str(LEGEND);
    if let (Some(Some(first)), Some(Some(lastp))) = (pictures.first(), pictures.last()) {
        if p.visits.len() > 1 {
            s.push_str("<h2 class=\"new-page\">Before and after, by zone</h2><table><tr><th>Zone</th><th>Baseline and latest</th></tr>");
            for zone in ZoneName::ALL {
                let (Some(a), Some(b)) = (
                    first.zone_crops.iter().find(|z| z.0 == zone),
                    lastp.zone_crops.iter().find(|z| z.0 == zone),
                ) else {
                    continue;
                };
                if let (Some(ua), Some(ub)) = (crop_uri(&a.1, 120), crop_uri(&b.1, 120)) {
                    let _ = write!(s, "<tr><td>{}</td><td class=\"pair\"><img alt=\"baseline\" src=\"{ua}\"><img alt=\"latest\" src=\"{ub}\"></td></tr>", zone.label());
                }
            }
            s.push_str("</table>");
        }
    }
    let charts: Vec<String> = [
        "pigmentation.face.mmasi_severity",
        "pigmentation.face.pigmented_pct",
        "pores.face.severity",
        "pores.face.coverage_pct",
    ]
    .iter()
    .filter_map(|m| trend_svg(p, m))
    .collect();
    if !charts.is_empty() || !others.is_empty() {
        let _ = write!(
            s,
            "<h2>Trends</h2><div class=\"grid\">{}</div>",
            charts.join("")
        );
    }
    if !others.is_empty() {
        let _ = write!(
            s,
            "<p>Also beyond the measurement's noise at the latest visit:</p><ul>{}</ul>",
            list_items(others.iter().cloned())
        );
    }
    if let Some(plan) = &p.latest_plan {
        s.push_str("<h2 class=\"new-page\">Treatment plan</h2>");
        s.push_str(&latest_readings(p));
        s.push_str(&plan_section(plan));
    } else {
        s.push_str(&latest_readings(p));
    }
    let _ = writeln!(
        s,
        "<footer>{} Measurements are raw and unadjusted; compare a patient only with themselves under the same capture. Generated offline by dermascore {}.</footer></main></body></html>",
        esc(DISCLAIMER),
        esc(&tool.written())
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn css_strings_cannot_close_their_string_or_the_style() {
        let s = css_string("a\"b\\c</style><script>\nx");
        assert_eq!(s, "\"a\\22 b\\5C c\\3C /style\\3E \\3C script\\3E \\A x\"");
        assert!(!s[1..s.len() - 1].contains('"'));
        assert!(!s.contains('<'));
    }
}
