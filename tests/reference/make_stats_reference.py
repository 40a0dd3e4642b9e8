#!/usr/bin/env python3
"""Reference values for dermascore's cohort statistics, computed
independently with SciPy (pinned in requirements.txt) on fixed data, written
to tests/fixtures/stats_reference.json. The Rust tests compare every
statistic with these to 1e-6.

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install -r tests/reference/requirements.txt
    /tmp/ref/bin/python tests/reference/make_stats_reference.py
"""
import json
from pathlib import Path

import numpy as np
import scipy
from scipy import stats

rng = np.random.default_rng(20261122)
out = {"scipy": scipy.__version__, "numpy": np.__version__}

x = np.round(rng.normal(50, 12, 13), 3)
q1, med, q3 = np.percentile(x, [25, 50, 75])
out["describe"] = {"x": x.tolist(), "n": len(x), "mean": x.mean(), "sd": x.std(ddof=1), "median": med, "q1": q1, "q3": q3}

before = np.round(rng.normal(40, 8, 12), 3)
after = np.round(before - rng.normal(3, 4, 12), 3)
t = stats.ttest_rel(after, before)
ci = t.confidence_interval(0.95)
d = after - before
out["paired_t"] = {"before": before.tolist(), "after": after.tolist(), "mean_diff": d.mean(), "t": t.statistic, "df": t.df,
                   "p": t.pvalue, "ci_low": ci.low, "ci_high": ci.high, "cohen_dz": d.mean() / d.std(ddof=1)}

def wilcoxon_case(diffs, method):
    w = stats.wilcoxon(diffs, method=method, correction=False, zero_method="wilcox")
    nz = diffs[diffs != 0]
    ranks = stats.rankdata(np.abs(nz))
    wp, wm = ranks[nz > 0].sum(), ranks[nz < 0].sum()
    return {"diffs": diffs.tolist(), "method": method, "statistic": w.statistic, "p": w.pvalue,
            "rank_biserial": (wp - wm) / (wp + wm)}

small = np.round(rng.normal(-1.5, 3, 12), 3)
large = np.round(rng.normal(0.6, 2, 60), 1)   # rounding makes ties and zeros: the approximation with corrections
out["wilcoxon_exact"] = wilcoxon_case(small, "exact")
out["wilcoxon_approx"] = wilcoxon_case(large, "approx")

a = np.round(rng.normal(-2, 3, 10), 3)
b = np.round(rng.normal(-5, 4, 14), 3)
w = stats.ttest_ind(b, a, equal_var=False)
ci = w.confidence_interval(0.95)
out["welch"] = {"a": a.tolist(), "b": b.tolist(), "diff": b.mean() - a.mean(), "t": w.statistic, "df": w.df, "p": w.pvalue,
                "ci_low": ci.low, "ci_high": ci.high}

# ICC(3,1), two-way mixed, consistency, single measurement (Shrout & Fleiss 1979; McGraw & Wong 1996).
subj = rng.normal(30, 6, 15)
m = np.round(np.stack([subj + rng.normal(0, 1.5, 15), subj + 0.8 + rng.normal(0, 1.5, 15)], axis=1), 3)
n, k = m.shape
grand = m.mean()
ssr = k * ((m.mean(axis=1) - grand) ** 2).sum()
ssc = n * ((m.mean(axis=0) - grand) ** 2).sum()
sst = ((m - grand) ** 2).sum()
msr = ssr / (n - 1)
mse = (sst - ssr - ssc) / ((n - 1) * (k - 1))
icc = (msr - mse) / (msr + (k - 1) * mse)
f = msr / mse
fl = f / stats.f.ppf(0.975, n - 1, (n - 1) * (k - 1))
fu = f * stats.f.ppf(0.975, (n - 1) * (k - 1), n - 1)
out["icc31"] = {"matrix": m.tolist(), "icc": icc, "ci_low": (fl - 1) / (fl + k - 1), "ci_high": (fu - 1) / (fu + k - 1),
                "sem": float(np.sqrt(mse)), "f": f, "p": stats.f.sf(f, n - 1, (n - 1) * (k - 1))}

path = Path(__file__).resolve().parents[1] / "fixtures" / "stats_reference.json"
path.write_text(json.dumps(out, indent=1, default=float) + "\n")
print(f"wrote {path}")
