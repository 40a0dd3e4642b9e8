//! Statistics for trial cohorts: description, paired change (t-test and
//! Wilcoxon signed-rank), between-arm difference (Welch), and test–retest
//! reliability (ICC(3,1) and the standard error of measurement). Checked
//! against SciPy on fixed data (tests/fixtures/stats_reference.json).

use statrs::distribution::{ContinuousCDF, FisherSnedecor, Normal, StudentsT};

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Describe {
    pub n: usize,
    pub mean: f64,
    pub sd: f64,
    pub median: f64,
    pub q1: f64,
    pub q3: f64,
}

/// Percentile by linear interpolation between order statistics (NumPy's
/// default, Hyndman & Fan type 7). `sorted` must be sorted.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation (n − 1).
pub fn sd(x: &[f64]) -> f64 {
    let m = mean(x);
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() as f64 - 1.0)).sqrt()
}

pub fn describe(x: &[f64]) -> Describe {
    let mut s = x.to_vec();
    s.sort_by(f64::total_cmp);
    Describe {
        n: x.len(),
        mean: mean(x),
        sd: if x.len() > 1 { sd(x) } else { f64::NAN },
        median: percentile(&s, 0.5),
        q1: percentile(&s, 0.25),
        q3: percentile(&s, 0.75),
    }
}

fn t_quantile(p: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df)
        .map(|t| t.inverse_cdf(p))
        .unwrap_or(f64::NAN)
}

fn t_two_sided_p(t: f64, df: f64) -> f64 {
    // statrs panics on a NaN argument; an infinite t (zero spread) is p = 0.
    if t.is_nan() {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    StudentsT::new(0.0, 1.0, df)
        .map(|d| 2.0 * d.sf(t.abs()))
        .unwrap_or(f64::NAN)
}

/// Mean of paired differences with its t-test and 95 % CI.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairedT {
    pub n: usize,
    pub mean_diff: f64,
    pub t: f64,
    pub df: f64,
    pub p: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Cohen's d_z: mean difference over the SD of the differences.
    pub cohen_dz: f64,
}

/// `diffs` are after − before.
pub fn paired_t(diffs: &[f64]) -> Option<PairedT> {
    let n = diffs.len();
    if n < 2 {
        return None;
    }
    let m = mean(diffs);
    let s = sd(diffs);
    let se = s / (n as f64).sqrt();
    let df = (n - 1) as f64;
    let t = m / se;
    let q = t_quantile(0.975, df);
    Some(PairedT {
        n,
        mean_diff: m,
        t,
        df,
        p: t_two_sided_p(t, df),
        ci_low: m - q * se,
        ci_high: m + q * se,
        cohen_dz: m / s,
    })
}

/// Wilcoxon signed-rank test of paired differences (zeros dropped; exact
/// null distribution for n ≤ 50 without ties, else the normal
/// approximation with tie correction and no continuity correction — SciPy's
/// `method="exact"` / `method="approx", correction=False`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Wilcoxon {
    /// Non-zero differences used.
    pub n: usize,
    /// The smaller of the positive and negative rank sums.
    pub statistic: f64,
    pub p: f64,
    pub exact: bool,
    /// Matched-pairs rank-biserial correlation, (W+ − W−) / (W+ + W−).
    pub rank_biserial: f64,
}

/// Average ranks (1-based) of `v`, ties sharing their mean rank.
pub fn rank_average(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

pub fn wilcoxon(diffs: &[f64], force_approx: bool) -> Option<Wilcoxon> {
    let nz: Vec<f64> = diffs.iter().copied().filter(|d| *d != 0.0).collect();
    let n = nz.len();
    if n == 0 {
        return None;
    }
    let abs: Vec<f64> = nz.iter().map(|d| d.abs()).collect();
    let ranks = rank_average(&abs);
    let w_plus: f64 = nz
        .iter()
        .zip(&ranks)
        .filter(|(d, _)| **d > 0.0)
        .map(|(_, r)| r)
        .sum();
    let w_minus: f64 = nz
        .iter()
        .zip(&ranks)
        .filter(|(d, _)| **d < 0.0)
        .map(|(_, r)| r)
        .sum();
    let statistic = w_plus.min(w_minus);
    let ties = {
        let mut s = abs.clone();
        s.sort_by(f64::total_cmp);
        s.windows(2).any(|w| w[0] == w[1])
    };
    let exact = n <= 50 && !ties && !force_approx;
    let p = if exact {
        // Number of subsets of {1..n} with each rank sum: the null distribution of W+.
        let max = n * (n + 1) / 2;
        let mut counts = vec![0f64; max + 1];
        counts[0] = 1.0;
        for r in 1..=n {
            for s in (r..=max).rev() {
                counts[s] += counts[s - r];
            }
        }
        let total = 2f64.powi(n as i32);
        let k = statistic.round() as usize;
        let tail: f64 = counts[..=k.min(max)].iter().sum::<f64>() / total;
        (2.0 * tail).min(1.0)
    } else {
        let nf = n as f64;
        let mean = nf * (nf + 1.0) / 4.0;
        let mut var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0;
        // Tie correction: groups of equal |d|.
        let mut s = abs.clone();
        s.sort_by(f64::total_cmp);
        let mut i = 0;
        while i < s.len() {
            let mut j = i;
            while j + 1 < s.len() && s[j + 1] == s[i] {
                j += 1;
            }
            let t = (j - i + 1) as f64;
            var -= (t * t * t - t) / 48.0;
            i = j + 1;
        }
        let z = (w_plus - mean) / var.sqrt();
        Normal::new(0.0, 1.0)
            .map(|d| 2.0 * d.sf(z.abs()))
            .unwrap_or(f64::NAN)
    };
    Some(Wilcoxon {
        n,
        statistic,
        p,
        exact,
        rank_biserial: (w_plus - w_minus) / (w_plus + w_minus),
    })
}

/// Difference of means `b − a` with Welch's t-test and 95 % CI.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Welch {
    pub diff: f64,
    pub t: f64,
    pub df: f64,
    pub p: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

pub fn welch(a: &[f64], b: &[f64]) -> Option<Welch> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (va, vb) = (
        sd(a).powi(2) / a.len() as f64,
        sd(b).powi(2) / b.len() as f64,
    );
    let se = (va + vb).sqrt();
    let df =
        (va + vb).powi(2) / (va * va / (a.len() as f64 - 1.0) + vb * vb / (b.len() as f64 - 1.0));
    let diff = mean(b) - mean(a);
    let t = diff / se;
    let q = t_quantile(0.975, df);
    Some(Welch {
        diff,
        t,
        df,
        p: t_two_sided_p(t, df),
        ci_low: diff - q * se,
        ci_high: diff + q * se,
    })
}

/// ICC(3,1): two-way mixed effects, consistency, single measurement
/// (Shrout & Fleiss 1979; McGraw & Wong 1996), with its 95 % CI from the F
/// distribution, and the standard error of measurement √MSE.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Icc {
    pub n: usize,
    pub k: usize,
    pub icc: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub sem: f64,
    pub f: f64,
    pub p: f64,
}

/// Upper quantile of F(d1, d2), by bisection on the CDF (stable for all df).
fn f_quantile(p: f64, d1: f64, d2: f64) -> f64 {
    let Ok(f) = FisherSnedecor::new(d1, d2) else {
        return f64::NAN;
    };
    let (mut lo, mut hi) = (0.0, 1.0);
    while f.cdf(hi) < p {
        hi *= 2.0;
        if hi > 1e12 {
            return f64::INFINITY;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f.cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// `rows` are subjects, each with the same number (k ≥ 2) of repeated measurements.
pub fn icc31(rows: &[Vec<f64>]) -> Option<Icc> {
    let n = rows.len();
    let k = rows.first()?.len();
    if n < 2 || k < 2 || rows.iter().any(|r| r.len() != k) {
        return None;
    }
    let (nf, kf) = (n as f64, k as f64);
    let grand = rows.iter().flatten().sum::<f64>() / (nf * kf);
    let ssr = kf * rows.iter().map(|r| (mean(r) - grand).powi(2)).sum::<f64>();
    let ssc = nf
        * (0..k)
            .map(|j| (rows.iter().map(|r| r[j]).sum::<f64>() / nf - grand).powi(2))
            .sum::<f64>();
    let sst = rows
        .iter()
        .flatten()
        .map(|v| (v - grand).powi(2))
        .sum::<f64>();
    let (df_r, df_e) = (nf - 1.0, (nf - 1.0) * (kf - 1.0));
    let msr = ssr / df_r;
    let mse = (sst - ssr - ssc) / df_e;
    let icc = (msr - mse) / (msr + (kf - 1.0) * mse);
    let f = msr / mse;
    let fl = f / f_quantile(0.975, df_r, df_e);
    let fu = f * f_quantile(0.975, df_e, df_r);
    // Identical repeats give mse = 0 (f infinite) or, through rounding, a
    // tiny negative mse: statrs panics outside [0, ∞).
    let p = if f == f64::INFINITY {
        0.0
    } else if f.is_finite() && f >= 0.0 {
        FisherSnedecor::new(df_r, df_e)
            .map(|d| d.sf(f))
            .unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };
    Some(Icc {
        n,
        k,
        icc,
        ci_low: (fl - 1.0) / (fl + kf - 1.0),
        ci_high: (fu - 1.0) / (fu + kf - 1.0),
        sem: mse.sqrt(),
        f,
        p,
    })
}

#[cfg(test)]
mod tests {
    //! Every statistic against SciPy 1.17.1 on the committed fixture
    //! (tests/reference/make_stats_reference.py), to 1e-6; and degenerate
    //! data that must not panic.
    #[test]
    fn degenerate_data_give_nan_or_limits_not_panics() {
        // Identical repeats (e.g. the same scar count on every capture).
        let icc = icc31(&[vec![3.0, 3.0], vec![5.0, 5.0], vec![4.0, 4.0]]).unwrap();
        assert!(icc.p == 0.0 || icc.p.is_nan());
        let all_same = icc31(&[vec![2.0, 2.0], vec![2.0, 2.0]]).unwrap();
        assert!(all_same.icc.is_nan());
        // No change at all, and a constant change.
        let _ = paired_t(&[0.0, 0.0, 0.0]);
        let _ = paired_t(&[1.0, 1.0, 1.0]);
        let _ = wilcoxon(&[1.0, 1.0, 1.0, 1.0], true);
        let _ = wilcoxon(&[0.0, 0.0, 0.0], true);
        let _ = welch(&[1.0, 1.0], &[1.0, 1.0]);
        let _ = welch(&[1.0, 1.0], &[2.0, 2.0]);
    }

    use super::*;
    use serde_json::Value;

    fn reference() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/stats_reference.json")).unwrap()
    }

    fn v(x: &Value) -> Vec<f64> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_f64().unwrap())
            .collect()
    }

    fn close(got: f64, want: &Value, what: &str) {
        let want = want.as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-6 * want.abs().max(1.0),
            "{what}: {got} vs SciPy {want}"
        );
    }

    #[test]
    fn describe_matches_numpy() {
        let r = &reference()["describe"];
        let d = describe(&v(&r["x"]));
        assert_eq!(d.n as u64, r["n"].as_u64().unwrap());
        for (got, key) in [
            (d.mean, "mean"),
            (d.sd, "sd"),
            (d.median, "median"),
            (d.q1, "q1"),
            (d.q3, "q3"),
        ] {
            close(got, &r[key], key);
        }
    }

    #[test]
    fn paired_t_matches_scipy() {
        let r = &reference()["paired_t"];
        let diffs: Vec<f64> = v(&r["after"])
            .iter()
            .zip(v(&r["before"]))
            .map(|(a, b)| a - b)
            .collect();
        let t = paired_t(&diffs).unwrap();
        for (got, key) in [
            (t.mean_diff, "mean_diff"),
            (t.t, "t"),
            (t.df, "df"),
            (t.p, "p"),
            (t.ci_low, "ci_low"),
            (t.ci_high, "ci_high"),
            (t.cohen_dz, "cohen_dz"),
        ] {
            close(got, &r[key], key);
        }
    }

    #[test]
    fn wilcoxon_matches_scipy_exact_and_approximate() {
        for case in ["wilcoxon_exact", "wilcoxon_approx"] {
            let r = &reference()[case];
            let w = wilcoxon(&v(&r["diffs"]), false).unwrap();
            assert_eq!(w.exact, r["method"] == "exact", "{case}");
            close(w.statistic, &r["statistic"], case);
            close(w.p, &r["p"], case);
            close(w.rank_biserial, &r["rank_biserial"], case);
        }
    }

    #[test]
    fn welch_matches_scipy() {
        let r = &reference()["welch"];
        let w = welch(&v(&r["a"]), &v(&r["b"])).unwrap();
        for (got, key) in [
            (w.diff, "diff"),
            (w.t, "t"),
            (w.df, "df"),
            (w.p, "p"),
            (w.ci_low, "ci_low"),
            (w.ci_high, "ci_high"),
        ] {
            close(got, &r[key], key);
        }
    }

    #[test]
    fn icc_matches_the_reference() {
        let r = &reference()["icc31"];
        let rows: Vec<Vec<f64>> = r["matrix"].as_array().unwrap().iter().map(v).collect();
        let i = icc31(&rows).unwrap();
        for (got, key) in [
            (i.icc, "icc"),
            (i.ci_low, "ci_low"),
            (i.ci_high, "ci_high"),
            (i.sem, "sem"),
            (i.f, "f"),
            (i.p, "p"),
        ] {
            close(got, &r[key], key);
        }
    }

    #[test]
    fn ranks_share_ties() {
        assert_eq!(
            rank_average(&[3.0, 1.0, 3.0, 2.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
    }
}
