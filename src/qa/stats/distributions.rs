//! The special functions and exact intervals the statistics rest on: Clopper-Pearson,
//! erfc, the normal CDF and its quantile (probit), and the binomial tail McNemar uses.

use super::CONFIDENCE;

// ---------------------------------------------------------------------------------------------
// Special functions
// ---------------------------------------------------------------------------------------------

pub use crate::eval::binomial::{beta_inc, beta_quantile, ln_gamma};

/// Exact (Clopper-Pearson) two-sided `CONFIDENCE` interval of a proportion `k / n`, the
/// interval bob.measure's `confidence_for_indicator_variable` gives. `None` when `n == 0`.
pub fn clopper_pearson(k: u64, n: u64) -> Option<[f64; 2]> {
    // One implementation for the station: eval's, at the same 95% level.
    debug_assert!((CONFIDENCE - 0.95).abs() < 1e-12);
    (n > 0 && k <= n).then(|| {
        let r = crate::eval::binomial::clopper_pearson(k, n);
        [r.low, r.high]
    })
}

/// P(X <= k) for X ~ Binomial(n, 1/2).
pub(super) fn binomial_half_cdf(k: u64, n: u64) -> f64 {
    if k >= n {
        1.0
    } else {
        // P(X <= k) = I_{1-p}(n - k, k + 1).
        beta_inc((n - k) as f64, (k + 1) as f64, 0.5)
    }
}

/// erfc(x) via the regularised upper incomplete gamma Q(1/2, x^2) for x >= 0.
pub fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    gamma_q(0.5, x * x)
}

/// Regularised upper incomplete gamma Q(a, x) (series below a + 1, continued fraction above).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_front = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut del, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        1.0 - sum * ln_front.exp()
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        ln_front.exp() * h
    }
}

/// The standard normal CDF Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The standard normal quantile Φ⁻¹(p) (probit), for DET axes: Acklam's rational approximation
/// refined by one Halley step (relative error ~1e-15). ±infinity at 0 and 1.
pub fn probit(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let x = if p < LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (-p).ln_1p()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // One Halley step on Φ(x) - p.
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qa::stats::close;

    #[test]
    fn special_functions_match_scipy() {
        assert!(close(ln_gamma(0.5), 0.5723649429247, 1e-12));
        assert!(close(ln_gamma(10.3), 13.482036786138359, 1e-13));
        assert!(close(ln_gamma(12345.6), 103959.18506616844, 1e-13));
        assert!(close(beta_inc(2.5, 3.5, 0.3), 0.29675298929566646, 1e-12));
        assert!(close(beta_inc(50.0, 70.0, 0.4), 0.3591346088344945, 1e-10));
        assert!(close(beta_inc(1e4, 2e4, 0.34), 0.9927137480100278, 1e-9));
        assert!(close(probit(0.001), -3.090232306167813, 1e-12));
        assert!(close(probit(0.3), -0.5244005127080409, 1e-12));
        assert!(close(probit(1e-6), -4.753424308822899, 1e-12));
        assert!(close(normal_cdf(-1.5), 0.06680720126885807, 1e-12));
    }

    /// scipy.stats.beta.ppf(0.025, k, n-k+1) and beta.ppf(0.975, k+1, n-k).
    #[test]
    fn clopper_pearson_matches_scipy() {
        let cases: [(u64, u64, f64, f64); 10] = [
            (0, 10, 0.0, 0.3084971078187607),
            (1, 10, 0.0025285785444617848, 0.4450161170281954),
            (5, 10, 0.18708602844739855, 0.8129139715526015),
            (10, 10, 0.6915028921812392, 1.0),
            (3, 1500, 0.00041263814290064927, 0.005833621858616864),
            (1, 1500, 1.687839621446107e-05, 0.0037087735206347097),
            (0, 1500, 0.0, 0.002456231484198528),
            (45, 1500, 0.021964578541777455, 0.039938005279664256),
            (2, 100000, 2.422101962703155e-06, 7.22449893650479e-05),
            (5000, 100000, 0.048657255207270746, 0.05136892088058044),
        ];
        for (k, n, lo, hi) in cases {
            let [l, h] = clopper_pearson(k, n).expect("n > 0");
            assert!(
                close(l, lo, 1e-9) || (lo == 0.0 && l == 0.0),
                "{k}/{n} lo {l} vs {lo}"
            );
            assert!(close(h, hi, 1e-9), "{k}/{n} hi {h} vs {hi}");
        }
        assert_eq!(clopper_pearson(0, 0), None);
    }
}
