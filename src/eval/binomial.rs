//! Binomial intervals and tests for error rates: Clopper-Pearson and Wilson 95% intervals for a
//! false-match rate (k false matches of n impostor comparisons), and the exact McNemar test for
//! two systems decided on the same pairs.

use serde::{Deserialize, Serialize};

/// A rate with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RateInterval {
    pub k: u64,
    pub n: u64,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
    /// "clopper-pearson" or "wilson".
    pub method: &'static str,
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        return std::f64::consts::PI.ln()
            - (std::f64::consts::PI * x).sin().abs().ln()
            - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the incomplete beta (modified Lentz), as in Numerical Recipes `betacf`.
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-16;
    // Converges in O(sqrt(max(a, b))) steps on the side of the mean it is used on.
    let max_iter = 1_000 + 20 * (a.max(b).sqrt() as usize);
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=max_iter {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function I_x(a, b), a, b > 0, x in [0, 1].
pub fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (-x).ln_1p();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// The p-quantile of the Beta(a, b) distribution (SciPy's `beta.ppf`), by bisection on
/// [`beta_inc`] to a relative precision of ~1e-13.
pub fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..1100 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if beta_inc(a, b, mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The exact (Clopper-Pearson) two-sided 95% interval for k successes in n trials (SciPy's
/// `beta.ppf` bounds; closed forms at k = 0 and k = n).
pub fn clopper_pearson(k: u64, n: u64) -> RateInterval {
    let alpha = 0.05_f64;
    let (kf, nf) = (k as f64, n as f64);
    let rate = if n == 0 { 0.0 } else { kf / nf };
    let low = if k == 0 || n == 0 {
        0.0
    } else if k >= n {
        ((alpha / 2.0).ln() / nf).exp()
    } else {
        beta_quantile(alpha / 2.0, kf, nf - kf + 1.0)
    };
    let high = if k >= n {
        1.0
    } else if k == 0 {
        -((alpha / 2.0).ln() / nf).exp_m1()
    } else {
        beta_quantile(1.0 - alpha / 2.0, kf + 1.0, nf - kf)
    };
    RateInterval {
        k,
        n,
        rate,
        low,
        high,
        method: "clopper-pearson",
    }
}

/// The Wilson score 95% interval.
pub fn wilson(k: u64, n: u64) -> RateInterval {
    let z = 1.959_963_984_540_054f64;
    let (kf, nf) = (k as f64, n.max(1) as f64);
    let p = kf / nf;
    let denom = 1.0 + z * z / nf;
    let centre = (p + z * z / (2.0 * nf)) / denom;
    let half = z * (p * (1.0 - p) / nf + z * z / (4.0 * nf * nf)).sqrt() / denom;
    RateInterval {
        k,
        n,
        rate: if n == 0 { 0.0 } else { p },
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
        method: "wilson",
    }
}

/// The exact McNemar test on paired decisions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Pairs the first system got right and the second wrong.
    pub only_first_right: u64,
    /// Pairs the second got right and the first wrong.
    pub only_second_right: u64,
    /// Two-sided exact p-value (binomial on the discordant pairs, p = 1/2).
    pub p_value: f64,
}

pub fn mcnemar(only_first_right: u64, only_second_right: u64) -> McNemar {
    let n = only_first_right + only_second_right;
    let k = only_first_right.min(only_second_right);
    let p_value = if n == 0 {
        1.0
    } else {
        let nf = n as f64;
        let ln_half_n = nf * 0.5f64.ln();
        let tail: f64 = (0..=k)
            .map(|i| {
                let i = i as f64;
                (ln_gamma(nf + 1.0) - ln_gamma(i + 1.0) - ln_gamma(nf - i + 1.0) + ln_half_n).exp()
            })
            .sum();
        (2.0 * tail).min(1.0)
    };
    McNemar {
        only_first_right,
        only_second_right,
        p_value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for n in 1..30 {
            f *= n as f64;
            assert!(close(ln_gamma(n as f64 + 1.0), f.ln(), 1e-12), "{n}");
        }
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-12
        ));
    }

    #[test]
    fn clopper_pearson_known_values() {
        // Exact binomial tails by direct summation: 1.687840e-05 and 3.708774e-03.
        let ci = clopper_pearson(1, 1500);
        assert!(close(ci.low, 1.687_840e-5, 1e-5), "{}", ci.low);
        assert!(close(ci.high, 3.708_774e-3, 1e-5), "{}", ci.high);
        // 0 of 1500: upper 0.002456; lower 0.
        let ci = clopper_pearson(0, 1500);
        assert_eq!(ci.low, 0.0);
        assert!(close(ci.high, 2.456_212e-3, 1e-5), "{}", ci.high);
        // 7 of 10: 0.3475471 0.9332605
        let ci = clopper_pearson(7, 10);
        assert!(close(ci.low, 0.347_547_1, 1e-6) && close(ci.high, 0.933_260_5, 1e-6));
        // Large n: close to the normal approximation around p = 1e-3.
        let ci = clopper_pearson(7_000, 7_000_000);
        let se = (1e-3f64 * (1.0 - 1e-3) / 7e6).sqrt();
        assert!(close(ci.low, 1e-3 - 1.96 * se, 2e-3), "{}", ci.low);
        assert!(close(ci.high, 1e-3 + 1.96 * se, 2e-3), "{}", ci.high);
        assert_eq!(clopper_pearson(10, 10).high, 1.0);
    }

    #[test]
    fn wilson_known_values() {
        // 7 of 10: 0.3967781 0.8922087
        let ci = wilson(7, 10);
        assert!(close(ci.low, 0.396_778_1, 1e-6) && close(ci.high, 0.892_208_7, 1e-6));
    }

    #[test]
    fn mcnemar_exact() {
        // 2 vs 8 discordant: 2 * P(X <= 2 | 10, 1/2) = 2 * 56/1024 = 0.109375.
        assert!(close(mcnemar(2, 8).p_value, 0.109_375, 1e-10));
        assert!(close(mcnemar(8, 2).p_value, 0.109_375, 1e-10));
        assert_eq!(mcnemar(0, 0).p_value, 1.0);
        assert_eq!(mcnemar(3, 3).p_value, 1.0);
        // 0 vs 6: 2 / 64.
        assert!(close(mcnemar(0, 6).p_value, 0.031_25, 1e-10));
    }
}
