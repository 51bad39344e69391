//! Order statistics for timing reports (latency per comparison, etc.).

use serde::{Deserialize, Serialize};

/// The `p`-th percentile (`p` in `[0, 100]`) by linear interpolation between
/// closest ranks (rank = p/100 * (n - 1), numpy's default / Excel
/// PERCENTILE.INC), so small samples give smooth, unbiased-looking values.
///
/// Sorts `values` in place. Returns `None` for an empty slice, a `p` outside
/// `[0, 100]` or NaN, or any NaN value (a NaN latency is a measuring bug,
/// not a data point to rank).
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() || !(0.0..=100.0).contains(&p) || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(percentile_sorted(values, p))
}

/// Median (50th percentile, interpolated: mean of the middle two for even n).
pub fn median(values: &mut [f64]) -> Option<f64> {
    percentile(values, 50.0)
}

/// `sorted` must be non-empty, NaN-free and ascending.
fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b) = (sorted[lo], sorted[hi.min(sorted.len() - 1)]);
    if lo == hi || a == b {
        a
    } else {
        a + (b - a) * (rank - lo as f64)
    }
}

/// CPU time of the calling thread, in milliseconds (time spent waiting for a core on a busy
/// machine is not counted, so stage costs compare across runs better than wall time does).
pub fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

/// Summary of a set of durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingStats {
    pub count: usize,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl TimingStats {
    /// `None` when there are no samples or any sample is NaN.
    pub fn from_millis(samples: &[f64]) -> Option<TimingStats> {
        if samples.is_empty() || samples.iter().any(|v| v.is_nan()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (first, last) = (*sorted.first()?, *sorted.last()?);
        Some(TimingStats {
            count: sorted.len(),
            min_ms: first,
            mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
            median_ms: percentile_sorted(&sorted, 50.0),
            p90_ms: percentile_sorted(&sorted, 90.0),
            p95_ms: percentile_sorted(&sorted, 95.0),
            p99_ms: percentile_sorted(&sorted, 99.0),
            max_ms: last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_close(a: Option<f64>, b: f64) {
        let a = a.expect("some value");
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn percentile_linear_interpolation() {
        let mut v = [40.0, 10.0, 30.0, 20.0];
        assert_close(percentile(&mut v, 0.0), 10.0);
        assert_close(percentile(&mut v, 100.0), 40.0);
        // rank = 0.5 * 3 = 1.5 -> between 20 and 30.
        assert_close(percentile(&mut v, 50.0), 25.0);
        // rank = 0.9 * 3 = 2.7 -> 30 + 0.7 * 10.
        assert_close(percentile(&mut v, 90.0), 37.0);
        assert_eq!(v, [10.0, 20.0, 30.0, 40.0], "sorted in place");
    }

    #[test]
    fn median_odd_even_single() {
        assert_close(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_close(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_close(median(&mut [7.0]), 7.0);
        assert_close(percentile(&mut [7.0], 99.0), 7.0);
    }

    #[test]
    fn percentile_rejects_bad_input() {
        assert_eq!(percentile(&mut [], 50.0), None);
        assert_eq!(median(&mut []), None);
        assert_eq!(percentile(&mut [1.0], -1.0), None);
        assert_eq!(percentile(&mut [1.0], 100.5), None);
        assert_eq!(percentile(&mut [1.0], f64::NAN), None);
        assert_eq!(percentile(&mut [1.0, f64::NAN], 50.0), None);
        assert_close(percentile(&mut [1.0, f64::INFINITY], 0.0), 1.0);
    }

    #[test]
    fn timing_stats() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let t = TimingStats::from_millis(&samples).expect("samples");
        assert_eq!(t.count, 100);
        assert_eq!((t.min_ms, t.max_ms), (1.0, 100.0));
        assert!((t.mean_ms - 50.5).abs() < 1e-12);
        assert!((t.median_ms - 50.5).abs() < 1e-12);
        assert!((t.p90_ms - 90.1).abs() < 1e-9);
        assert!((t.p99_ms - 99.01).abs() < 1e-9);
        assert_eq!(TimingStats::from_millis(&[]), None);
        assert_eq!(TimingStats::from_millis(&[1.0, f64::NAN]), None);
    }
}
