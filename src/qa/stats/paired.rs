//! McNemar's paired test of two configurations' decisions on the same pairs.

use serde::{Deserialize, Serialize};

use super::distributions::binomial_half_cdf;
use super::erfc;

// ---------------------------------------------------------------------------------------------
// McNemar
// ---------------------------------------------------------------------------------------------

/// McNemar's test of two configurations' decisions on the same pairs. Only discordant pairs
/// count: `b` = A right and B wrong, `c` = A wrong and B right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    pub pairs: usize,
    pub both_right: usize,
    pub both_wrong: usize,
    pub a_right_b_wrong: usize,
    pub a_wrong_b_right: usize,
    /// Exact two-sided p-value: 2 * P(X <= min(b, c)), X ~ Binomial(b + c, 1/2), capped at 1.
    pub exact_p: f64,
    /// (|b - c| - 1)^2 / (b + c) with continuity correction, and its chi-square (1 dof) p-value.
    pub chi2: f64,
    pub chi2_p: f64,
}

/// One pair's outcome under two configurations: its label and each configuration's decision
/// (accepted or not; a failure to acquire is a rejection).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedDecision {
    pub same: bool,
    pub a_accepts: bool,
    pub b_accepts: bool,
}

pub fn mcnemar(decisions: impl IntoIterator<Item = PairedDecision>) -> McNemar {
    let mut m = McNemar {
        pairs: 0,
        both_right: 0,
        both_wrong: 0,
        a_right_b_wrong: 0,
        a_wrong_b_right: 0,
        exact_p: 1.0,
        chi2: 0.0,
        chi2_p: 1.0,
    };
    for d in decisions {
        m.pairs += 1;
        match (d.a_accepts == d.same, d.b_accepts == d.same) {
            (true, true) => m.both_right += 1,
            (false, false) => m.both_wrong += 1,
            (true, false) => m.a_right_b_wrong += 1,
            (false, true) => m.a_wrong_b_right += 1,
        }
    }
    let (b, c) = (m.a_right_b_wrong as u64, m.a_wrong_b_right as u64);
    let n = b + c;
    if n > 0 {
        m.exact_p = (2.0 * binomial_half_cdf(b.min(c), n)).min(1.0);
        let diff = (b.abs_diff(c) as f64 - 1.0).max(0.0);
        m.chi2 = diff * diff / n as f64;
        m.chi2_p = erfc((m.chi2 / 2.0).sqrt());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qa::stats::close;

    /// scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue and chi2.sf.
    #[test]
    fn mcnemar_matches_scipy() {
        let cases = [
            (10, 2, 0.03857421875, 4.083333333333333, 0.04330814281079206),
            // b == c: the corrected statistic is clamped at 0 (SciPy's formula without the clamp: 0.1).
            (5, 5, 1.0, 0.0, 1.0),
            (0, 7, 0.015625, 5.142857142857143, 0.02334220201289086),
            (
                30,
                12,
                0.007915897334896727,
                6.880952380952381,
                0.008711912962379598,
            ),
            (1, 0, 1.0, 0.0, 1.0),
        ];
        for (b, c, p, x, px) in cases {
            let d = std::iter::repeat_n(
                PairedDecision {
                    same: true,
                    a_accepts: true,
                    b_accepts: false,
                },
                b,
            )
            .chain(std::iter::repeat_n(
                PairedDecision {
                    same: false,
                    a_accepts: true,
                    b_accepts: false,
                },
                c,
            ))
            .chain(std::iter::repeat_n(
                PairedDecision {
                    same: true,
                    a_accepts: true,
                    b_accepts: true,
                },
                20,
            ));
            let m = mcnemar(d);
            assert_eq!((m.a_right_b_wrong, m.a_wrong_b_right), (b, c));
            assert_eq!(m.both_right, 20);
            assert!(close(m.exact_p, p, 1e-9), "{b},{c}: {} vs {p}", m.exact_p);
            assert!(close(m.chi2, x, 1e-12) || x == 0.0 && m.chi2 == 0.0);
            assert!(close(m.chi2_p, px, 1e-9), "{b},{c}: {} vs {px}", m.chi2_p);
        }
    }
}
