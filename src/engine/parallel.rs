//! Runs the independent jobs of one compare on the engine's pipelines, one thread per pipeline.
//! An ONNX Runtime session runs one call at a time (`&mut`), so each thread owns a whole pipeline
//! (its own sessions); on a 2-core station the probe and the gallery images are decoded,
//! detected and embedded side by side. With one pipeline the jobs run in order on the caller's
//! thread. Either way each job computes the same thing, so the results do not depend on how many
//! pipelines there are (a test checks it).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `work` on every job, spreading the jobs over `workers` (the first runs on this thread),
/// and returns the results in job order. Jobs are taken in order as workers free up, so put the
/// longest first.
pub fn run_jobs<W, J, T>(
    workers: &mut [W],
    jobs: &[J],
    work: impl Fn(&mut W, &J) -> T + Sync,
) -> Vec<T>
where
    W: Send,
    J: Sync,
    T: Send,
{
    let Some((first, rest)) = workers.split_first_mut() else {
        return Vec::new();
    };
    if rest.is_empty() || jobs.len() <= 1 {
        return jobs.iter().map(|j| work(first, j)).collect();
    }
    let next = AtomicUsize::new(0);
    let drain = |w: &mut W| {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else {
                return done;
            };
            done.push((i, work(w, job)));
        }
    };
    let mut done = std::thread::scope(|s| {
        let helpers: Vec<_> = rest.iter_mut().map(|w| s.spawn(|| drain(w))).collect();
        let mut done = drain(first);
        for h in helpers {
            match h.join() {
                Ok(d) => done.extend(d),
                // A job that panicked is a bug: carry the panic to the caller as if it ran here.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    // Each index was taken exactly once, so sorting restores job order with nothing missing.
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

/// How many pipelines a local engine runs by default: one per core, at most 4 (a 1:1 compare
/// has little more than two-way parallelism; each pipeline holds its own sessions).
pub fn default_pipelines() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_job_order_whoever_ran_them() {
        let jobs: Vec<u64> = (0..50).collect();
        for n in 1..=3 {
            // Each worker counts its jobs: with several workers the jobs really are spread.
            let mut workers = vec![0usize; n];
            let out = run_jobs(&mut workers, &jobs, |count, &j| {
                *count += 1;
                std::thread::sleep(std::time::Duration::from_micros(200));
                j * j
            });
            assert_eq!(out, jobs.iter().map(|j| j * j).collect::<Vec<_>>());
            assert_eq!(workers.iter().sum::<usize>(), jobs.len());
            if n > 1 {
                assert!(
                    workers.iter().all(|&c| c > 0),
                    "every worker took jobs: {workers:?}"
                );
            }
        }
    }

    #[test]
    fn no_workers_or_no_jobs_give_no_results() {
        let mut none: Vec<()> = Vec::new();
        assert!(run_jobs(&mut none, &[1, 2], |_, j| *j).is_empty());
        let mut two = vec![(), ()];
        assert!(run_jobs(&mut two, &[] as &[u8], |_, j| *j).is_empty());
    }
}
