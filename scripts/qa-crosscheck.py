#!/usr/bin/env python3
"""Independent cross-check of a `facestation qa` report.

Reads DIR/scores.csv (every pair with its score) and recomputes, with scikit-learn and SciPy
instead of the station's Rust code:

  * EER (sklearn.metrics.roc_curve; also det_curve's closest point, for information),
  * FNMR at FMR 1e-2 / 1e-3 / 1e-4 with the same rule-of-3 guard (impostors >= 3 / FMR),
  * at the report's threshold: counts, FMR and FNMR with Clopper-Pearson 95 % intervals
    (scipy.stats.beta.ppf, as bob.measure), FTA, FAR = FMR*(1-FTA), FRR = FTA + FNMR*(1-FTA),

and compares each with DIR/report.json. Exit 0 when every number agrees within --tolerance
(default 0.001 = 0.1 percentage point), 1 when one does not, 2 when there is nothing to check
(no labelled scores), 3 when the packages are missing.

Install the dependencies with:  python3 -m pip install -r scripts/qa-crosscheck-requirements.txt
(or: python3 -m pip install scikit-learn scipy)
"""

import argparse
import csv
import json
import math
import os
import sys

INSTALL = "python3 -m pip install scikit-learn scipy"

try:
    import numpy as np
    from scipy.stats import beta
    from sklearn.metrics import det_curve, roc_curve
except ImportError as e:  # pragma: no cover - the message is the point
    print(f"qa-crosscheck: missing Python package ({e.name}); install with: {INSTALL}", file=sys.stderr)
    sys.exit(3)


def required_impostors(fmr):
    n = 3.0 / fmr
    r = round(n)
    return int(r) if abs(n - r) <= 1e-9 * r else math.ceil(n)


def clopper_pearson(k, n, alpha=0.05):
    if n == 0:
        return None
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return [lo, hi]


def show(x):
    if isinstance(x, float):
        return f"{x:.8g}"
    return str(x)


def load_scores(path):
    genuine, impostor = [], []
    fta = 0
    pairs = 0
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["excluded"].strip() or row["same"].strip() == "":
                continue  # excluded by a reviewer, or unlabelled (audit log)
            pairs += 1
            if row["score"].strip() == "":
                fta += 1
                continue
            (genuine if row["same"] == "1" else impostor).append(float(row["score"]))
    return np.array(genuine), np.array(impostor), fta, pairs


def eer_sklearn(y, s):
    """EER where FMR and FNMR cross, interpolated between the bracketing operating points."""
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    fnr = 1.0 - tpr
    # Thresholds decrease along the arrays: FMR rises from 0, FNMR falls to 0.
    i = int(np.argmax(fpr >= fnr))
    if fpr[i] == fnr[i] or i == 0:
        return float(fpr[i]), float(thr[i])
    d0 = fnr[i - 1] - fpr[i - 1]
    d1 = fnr[i] - fpr[i]
    a = d0 / (d0 - d1)
    t0 = thr[i - 1] if np.isfinite(thr[i - 1]) else thr[i] + 1e-6
    return float(fpr[i - 1] + a * (fpr[i] - fpr[i - 1])), float(t0 + a * (thr[i] - t0))


def eer_det_closest(y, s):
    fpr, fnr, _ = det_curve(y, s)
    k = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[k] + fnr[k]) / 2)


def fnmr_at_fmr(y, s, target):
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    ok = np.where(fpr <= target)[0]
    k = ok[-1]  # tpr is non-decreasing: the last point within the target has the lowest FNMR
    return float(1.0 - tpr[k]), float(fpr[k]), float(thr[k])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a `facestation qa --out` folder")
    ap.add_argument("--tolerance", type=float, default=0.001, help="largest difference allowed (0.001 = 0.1 point)")
    ap.add_argument("--json", help="also write the comparison to this file")
    args = ap.parse_args()

    report = json.load(open(os.path.join(args.dir, "report.json"), encoding="utf-8"))
    gen, imp, fta, pairs = load_scores(os.path.join(args.dir, "scores.csv"))
    if len(gen) == 0 or len(imp) == 0:
        print("qa-crosscheck: nothing to check: the report has no labelled genuine and impostor scores "
              f"({len(gen)} genuine, {len(imp)} impostor; an audit log is unlabelled)", file=sys.stderr)
        return 2
    y = np.concatenate([np.ones(len(gen)), np.zeros(len(imp))])
    s = np.concatenate([gen, imp])
    rows = []  # (quantity, report, python)

    def add(name, rust, py):
        rows.append((name, rust, py))

    add("pairs", report["pairs"], pairs)
    add("genuine", report["genuine"], len(gen))
    add("impostor", report["impostor"], len(imp))
    add("fta", report["fta"], fta / pairs if pairs else None)

    eer, eer_t = eer_sklearn(y, s)
    add("eer", report["eer"], eer)
    add("eer_threshold", report["eer_threshold"], eer_t)
    info = {"eer_det_curve_closest_point": eer_det_closest(y, s)}

    for key, at in sorted(report["fnmr_at_fmr"].items(), key=lambda kv: -float(kv[0])):
        target = float(key)
        supported = len(imp) >= required_impostors(target)
        add(f"fnmr_at_fmr[{key}].supported", at["supported"], supported)
        if supported:
            fnmr, fmr, _ = fnmr_at_fmr(y, s, target)
            add(f"fnmr_at_fmr[{key}].fnmr", at["fnmr"], fnmr)
            add(f"fnmr_at_fmr[{key}].fmr", at.get("fmr"), fmr)
        else:
            add(f"fnmr_at_fmr[{key}].fnmr (must be null)", at["fnmr"], None)

    t = report["at_threshold"]["threshold"]
    at = report["at_threshold"]
    fm = int(np.sum(imp >= t))
    fnm = int(np.sum(gen < t))
    add("at_threshold.false_matches", at["false_matches"], fm)
    add("at_threshold.false_non_matches", at["false_non_matches"], fnm)
    fmr = fm / len(imp) if len(imp) else None
    fnmr = fnm / len(gen) if len(gen) else None
    add("at_threshold.fmr", at["fmr"], fmr)
    add("at_threshold.fnmr", at["fnmr"], fnmr)
    for name, k, n in [("fmr", fm, len(imp)), ("fnmr", fnm, len(gen)), ("fta", fta, pairs)]:
        ci = clopper_pearson(k, n)
        rci = at.get(f"{name}_ci95")
        add(f"at_threshold.{name}_ci95[lo]", rci[0] if rci else None, ci[0] if ci else None)
        add(f"at_threshold.{name}_ci95[hi]", rci[1] if rci else None, ci[1] if ci else None)
    f = fta / pairs if pairs else 0.0
    add("at_threshold.far", at["far"], fmr * (1 - f) if fmr is not None else None)
    add("at_threshold.frr", at["frr"], f + fnmr * (1 - f) if fnmr is not None else None)

    worst = 0.0
    failed = []
    print(f"{'quantity':44} {'report.json':>14} {'python':>14} {'|diff|':>10}")
    for name, rust, py in rows:
        if isinstance(rust, bool) or isinstance(py, bool) or rust is None or py is None:
            ok = rust == py
            diff = "" if ok else "MISMATCH"
        else:
            d = abs(float(rust) - float(py))
            # Thresholds are scores, not rates: they may differ by where in the gap between two
            # scores each side puts them; compare them with the same tolerance anyway.
            ok = d <= args.tolerance
            if not name.endswith("threshold"):
                worst = max(worst, d)
            diff = f"{d:.2e}"
        if not ok:
            failed.append(name)
        print(f"{name:44} {show(rust):>14} {show(py):>14} {diff:>10}{'' if ok else '  <-- differs'}")
    for k, v in info.items():
        print(f"(info) {k}: {v:.6f}")
    print(f"largest difference in a rate: {worst:.2e} (tolerance {args.tolerance})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"rows": rows, "largest_rate_difference": worst, "failed": failed, "info": info}, fh, indent=1)
    if failed:
        print("qa-crosscheck: DISAGREES on: " + ", ".join(failed), file=sys.stderr)
        return 1
    print("qa-crosscheck: report.json agrees with scikit-learn / SciPy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
