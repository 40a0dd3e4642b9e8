//! A self-contained HTML cohort report: for each face-level metric, tables
//! a trial can cite (each arm at each time point; change from baseline with
//! its 95 % CI and p; the difference in change against the reference arm;
//! test–retest reliability) and per-arm trajectories (mean and 95 % CI of
//! the mean), then the missing visits and notes. No scripts, no network.

use super::{CohortResult, Row};
use std::fmt::Write;

const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One statistic of one row kind, e.g. the change's `p_paired_t`.
fn get(
    rows: &[Row],
    analysis: &str,
    arm: &str,
    tp: &str,
    metric: &str,
    s: &str,
) -> Option<(f64, usize)> {
    rows.iter()
        .find(|r| {
            r.analysis == analysis
                && r.arm == arm
                && r.timepoint == tp
                && r.metric == metric
                && r.statistic == s
        })
        .map(|r| (r.value, r.n))
}

fn num(v: Option<(f64, usize)>) -> String {
    v.map_or("—".into(), |(x, _)| format!("{x:.3}"))
}

fn p_value(v: Option<(f64, usize)>) -> String {
    match v {
        Some((p, _)) if p < 0.001 => "&lt; 0.001".into(),
        Some((p, _)) => format!("{p:.3}"),
        None => "—".into(),
    }
}

/// The tables for one metric: what a results section would quote.
fn tables(res: &CohortResult, metric: &str) -> String {
    let rows = &res.rows;
    let mut s = String::from("<table><tr><th>arm</th><th>time point</th><th>n</th><th>mean (SD)</th><th>median [IQR]</th><th>change from baseline [95 % CI]</th><th>p (paired t)</th><th>p (Wilcoxon)</th><th>d<sub>z</sub></th></tr>");
    for arm in &res.arms {
        for tp in &res.timepoints {
            let Some((mean, n)) = get(rows, "describe", arm, tp, metric, "mean") else {
                continue;
            };
            let d = |st: &str| get(rows, "describe", arm, tp, metric, st);
            let c = |st: &str| get(rows, "change", arm, tp, metric, st);
            let change = match (c("mean_change"), c("ci95_low"), c("ci95_high")) {
                (Some((m, n)), Some((lo, _)), Some((hi, _))) => {
                    format!("{m:+.3} [{lo:+.3}, {hi:+.3}] (n {n})")
                }
                _ => "—".into(),
            };
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{n}</td><td>{mean:.3} ({})</td><td>{} [{}, {}]</td><td>{change}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(arm),
                esc(tp),
                num(d("sd")),
                num(d("median")),
                num(d("q1")),
                num(d("q3")),
                p_value(c("p_paired_t")),
                p_value(c("p_wilcoxon")),
                num(c("cohen_dz")),
            );
        }
    }
    s.push_str("</table>");
    let between: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.analysis == "between_arms"
                && r.metric == metric
                && r.statistic == "difference_in_change"
        })
        .collect();
    if !between.is_empty() {
        s.push_str("<table><tr><th>arm − reference</th><th>time point</th><th>n</th><th>difference in change [95 % CI]</th><th>p (Welch)</th></tr>");
        for r in between {
            let b = |st: &str| get(rows, "between_arms", &r.arm, &r.timepoint, metric, st);
            let _ = write!(
                s,
                "<tr><td>{} − {}</td><td>{}</td><td>{}</td><td>{:+.3} [{}, {}]</td><td>{}</td></tr>",
                esc(&r.arm),
                esc(&r.reference_arm),
                esc(&r.timepoint),
                r.n,
                r.value,
                num(b("ci95_low")),
                num(b("ci95_high")),
                p_value(b("p_welch")),
            );
        }
        s.push_str("</table>");
    }
    if let Some((icc, n)) = get(rows, "reliability", "*", "*", metric, "icc_3_1") {
        let _ = write!(
            s,
            "<p class=\"muted\">Test–retest (repeat captures of one visit): ICC(3,1) {icc:.3}, SEM {} ({n} pairs).</p>",
            num(get(rows, "reliability", "*", "*", metric, "sem"))
        );
    }
    s
}

fn chart(res: &CohortResult, metric: &str) -> Option<String> {
    let (w, h, pad) = (520.0, 240.0, 44.0);
    let mut pts: Vec<(usize, usize, f64, f64, f64)> = Vec::new(); // arm, tp, mean, lo, hi
    for (ai, arm) in res.arms.iter().enumerate() {
        for (ti, tp) in res.timepoints.iter().enumerate() {
            let Some((m, n)) = get(&res.rows, "describe", arm, tp, metric, "mean") else {
                continue;
            };
            let sd = get(&res.rows, "describe", arm, tp, metric, "sd").map_or(0.0, |x| x.0);
            let half = if n > 1 {
                let q = statrs::distribution::StudentsT::new(0.0, 1.0, (n - 1) as f64)
                    .map(|t| statrs::distribution::ContinuousCDF::inverse_cdf(&t, 0.975))
                    .unwrap_or(1.96);
                q * sd / (n as f64).sqrt()
            } else {
                0.0
            };
            pts.push((ai, ti, m, m - half, m + half));
        }
    }
    if pts.is_empty() {
        return None;
    }
    // The axis spans the means, with room: a CI from two patients can be
    // ten times wider than the data and would flatten every line, so
    // whiskers that leave the axis are cut at its edge (and the caption says so).
    let mlo = pts.iter().map(|p| p.2).fold(f64::MAX, f64::min);
    let mhi = pts.iter().map(|p| p.2).fold(f64::MIN, f64::max);
    let room = ((mhi - mlo) * 0.5)
        .max(0.1 * mlo.abs().max(mhi.abs()))
        .max(1e-6);
    let lo = pts
        .iter()
        .map(|p| p.3)
        .fold(f64::MAX, f64::min)
        .max(mlo - room);
    let hi = pts
        .iter()
        .map(|p| p.4)
        .fold(f64::MIN, f64::max)
        .min(mhi + room);
    let clipped = pts.iter().any(|p| p.3 < lo || p.4 > hi);
    let pts: Vec<_> = pts
        .into_iter()
        .map(|(a, t, m, l, h)| (a, t, m, l.max(lo), h.min(hi)))
        .collect();
    let span = if hi > lo { hi - lo } else { 1.0 };
    let nt = res.timepoints.len().max(2) as f64;
    let x = |ti: usize| pad + ti as f64 * (w - 2.0 * pad) / (nt - 1.0);
    let y = |v: f64| h - pad - (v - lo) / span * (h - 2.0 * pad);
    let caption = if clipped {
        "Mean and 95 % CI per arm (CIs cut at the axis' ends)"
    } else {
        "Mean and 95 % CI per arm"
    };
    let mut s = format!("<figure><figcaption>{caption}</figcaption><svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\">");
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>",
        h - pad,
        w - pad,
        h - pad
    );
    for (ti, tp) in res.timepoints.iter().enumerate() {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">{}</text>",
            x(ti),
            h - pad + 18.0,
            esc(tp)
        );
    }
    for v in [lo, hi] {
        let _ = write!(
            s,
            "<text x=\"4\" y=\"{:.1}\" font-size=\"11\">{v:.3}</text>",
            y(v) + 4.0
        );
    }
    let mut legend_row = 0.0;
    for (ai, arm) in res.arms.iter().enumerate() {
        let c = COLOURS[ai % COLOURS.len()];
        let mine: Vec<_> = pts.iter().filter(|p| p.0 == ai).collect();
        // An arm without a value for this metric gets no line and no legend.
        if mine.is_empty() {
            continue;
        }
        let path: Vec<String> = mine
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.1), y(p.2)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for p in &mine {
            let _ = write!(s, "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" y2=\"{2:.1}\" stroke=\"{c}\"/><circle cx=\"{0:.1}\" cy=\"{3:.1}\" r=\"3\" fill=\"{c}\"/>", x(p.1), y(p.3), y(p.4), y(p.2));
        }
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"{c}\">{}</text>",
            w - pad - 90.0,
            16.0 + 14.0 * legend_row,
            esc(arm)
        );
        legend_row += 1.0;
    }
    s.push_str("</svg></figure>");
    Some(s)
}

pub fn render(res: &CohortResult, title: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}figure{{display:inline-block;margin:0.5em}}figcaption{{font-weight:bold}}table{{border-collapse:collapse;margin:0.5em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.muted{{color:#555;font-size:0.9em}}@media print{{table,figure{{break-inside:avoid}}h2{{break-after:avoid}}}}</style></head><body><h1>{}</h1>",
        esc(title),
        esc(title)
    );
    s.push_str("<p>Per face-level metric: each arm at each time point, the change from baseline (paired t, Wilcoxon signed-rank, Cohen's d<sub>z</sub>), the difference in change against the reference arm (Welch), and the mean with its 95 % confidence interval per arm. Raw, unadjusted measurements; p-values are not corrected for multiple comparisons. Every number is in <code>cohort.csv</code>.</p>");
    let present: std::collections::BTreeSet<&str> = res
        .rows
        .iter()
        .filter(|r| r.analysis == "describe" && r.metric.contains(".face."))
        .map(|r| r.metric.as_str())
        .collect();
    // In the metrics' own order, each with its written label and unit.
    for m in super::metrics()
        .iter()
        .filter(|m| present.contains(m.name.as_str()))
    {
        let unit = if m.unit.is_empty() {
            String::new()
        } else {
            format!(", {}", m.unit)
        };
        let _ = write!(
            s,
            "<h2>{}{}</h2><p class=\"muted\"><code>{}</code></p>",
            esc(&m.label),
            esc(&unit),
            esc(&m.name)
        );
        s.push_str(&tables(res, &m.name));
        if let Some(c) = chart(res, &m.name) {
            s.push_str(&c);
        }
    }
    s.push_str("<h2>Missing visits</h2><table><tr><th>arm</th><th>time point</th><th>patients without a usable record</th></tr>");
    for (arm, tps) in &res.missing {
        for (tp, pts) in tps {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{} {}</td></tr>",
                esc(arm),
                esc(tp),
                pts.len(),
                esc(&pts.join(", "))
            );
        }
    }
    s.push_str("</table>");
    if !res.notes.is_empty() {
        s.push_str("<h2>Notes</h2><ul>");
        for n in &res.notes {
            let _ = write!(s, "<li>{}</li>", esc(n));
        }
        s.push_str("</ul>");
    }
    s.push_str("</body></html>\n");
    s
}
