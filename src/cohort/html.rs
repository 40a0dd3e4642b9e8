//! A self-contained HTML cohort report: per-arm trajectories (mean and 95 %
//! CI of the mean at each time point) for the face-level metrics, the
//! missing visits, and notes. No scripts, no network.

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

fn stat(rows: &[Row], arm: &str, tp: &str, metric: &str, s: &str) -> Option<(f64, usize)> {
    rows.iter()
        .find(|r| {
            r.analysis == "describe"
                && r.arm == arm
                && r.timepoint == tp
                && r.metric == metric
                && r.statistic == s
        })
        .map(|r| (r.value, r.n))
}

fn chart(res: &CohortResult, metric: &str) -> Option<String> {
    let (w, h, pad) = (520.0, 240.0, 44.0);
    let mut pts: Vec<(usize, usize, f64, f64, f64)> = Vec::new(); // arm, tp, mean, lo, hi
    for (ai, arm) in res.arms.iter().enumerate() {
        for (ti, tp) in res.timepoints.iter().enumerate() {
            let Some((m, n)) = stat(&res.rows, arm, tp, metric, "mean") else {
                continue;
            };
            let sd = stat(&res.rows, arm, tp, metric, "sd").map_or(0.0, |x| x.0);
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
    let lo = pts.iter().map(|p| p.3).fold(f64::MAX, f64::min);
    let hi = pts.iter().map(|p| p.4).fold(f64::MIN, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let nt = res.timepoints.len().max(2) as f64;
    let x = |ti: usize| pad + ti as f64 * (w - 2.0 * pad) / (nt - 1.0);
    let y = |v: f64| h - pad - (v - lo) / span * (h - 2.0 * pad);
    let mut s = format!("<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\">", esc(metric));
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
    for (ai, arm) in res.arms.iter().enumerate() {
        let c = COLOURS[ai % COLOURS.len()];
        let mine: Vec<_> = pts.iter().filter(|p| p.0 == ai).collect();
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
            16.0 + 14.0 * ai as f64,
            esc(arm)
        );
    }
    s.push_str("</svg></figure>");
    Some(s)
}

pub fn render(res: &CohortResult, title: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}figure{{display:inline-block;margin:0.5em}}figcaption{{font-weight:bold}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}</style></head><body><h1>{}</h1>",
        esc(title),
        esc(title)
    );
    s.push_str("<p>Mean and 95 % confidence interval of the mean per arm and time point. Raw, unadjusted measurements.</p>");
    let metrics: std::collections::BTreeSet<&str> = res
        .rows
        .iter()
        .filter(|r| r.analysis == "describe" && r.metric.contains(".face."))
        .map(|r| r.metric.as_str())
        .collect();
    for m in metrics {
        if let Some(c) = chart(res, m) {
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
