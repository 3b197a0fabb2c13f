//! The immutable facts of one refresh. No I/O lives here but the refresh itself
//! ([`Snapshot::take`]): every endpoint renders a `Snapshot`, so `/metrics`, `/readyz`,
//! `/health` and `check` can never disagree about what was seen.
//!
//! A snapshot holds the checks' results as a list ([`Results`]), not a field per check, so a
//! new check adds no field here; what needs a particular check's facts (a rendering's test, a
//! benchmark) asks for them by type ([`Snapshot::facts`]), and a check reads what another
//! publishes through [`Results::shared`](crate::checks::Results::shared).

use std::time::{Duration, Instant, SystemTime};

use crate::checks::{CheckRow, Checker, Facts, Results};
use crate::model::{CheckError, CheckResult};

/// Process-lifetime counters, copied into every snapshot so the snapshot alone renders them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counters {
    pub refreshes: u64,
    /// Refreshes in which each check failed, by check name, in the order the checks were
    /// first counted (registry order).
    pub errors: Vec<(&'static str, u64)>,
}

impl Counters {
    /// The error counter of `check`, created at zero the first time it is asked for.
    pub fn errors_of(&mut self, check: &'static str) -> &mut u64 {
        let i = match self.errors.iter().position(|(n, _)| *n == check) {
            Some(i) => i,
            None => {
                self.errors.push((check, 0));
                self.errors.len() - 1
            }
        };
        &mut self.errors[i].1
    }
}

/// Everything one refresh learned about one target.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub target: String,
    pub address: String,
    /// Wall-clock time, for JSON `checked_at`.
    pub checked_at: SystemTime,
    /// Monotonic time, for ages that must not jump with the clock.
    pub taken_at: Instant,
    pub duration: Duration,
    /// Every check's result, in registry order.
    pub results: Results,
    pub counters: Counters,
}

impl Snapshot {
    /// One refresh of `checker`'s target: every check at once, none past `budget`.
    pub async fn take(checker: &Checker, budget: Duration, counters: Counters) -> Snapshot {
        let started = Instant::now();
        let checked_at = SystemTime::now();
        let results = checker.run(budget).await;
        Snapshot {
            target: checker.target.name.clone(),
            address: checker.target.address.clone(),
            checked_at,
            taken_at: tokio::time::Instant::now().into_std(),
            duration: started.elapsed(),
            results,
            counters,
        }
    }

    /// A snapshot in which every check of `checker` failed with `error`.
    pub fn failed(checker: &Checker, error: &CheckError, counters: Counters) -> Snapshot {
        Snapshot {
            target: checker.target.name.clone(),
            address: checker.target.address.clone(),
            checked_at: SystemTime::now(),
            taken_at: tokio::time::Instant::now().into_std(),
            duration: Duration::ZERO,
            results: checker.failed(error),
            counters,
        }
    }

    /// The facts `T` of this refresh, when their check ran and succeeded.
    pub fn facts<T: 'static>(&self) -> Option<&T>
    where
        CheckResult<T>: Facts,
    {
        self.results.facts::<T>()
    }

    /// The whole result (facts or error, and duration) of the check that produces `T`.
    pub fn result<T: 'static>(&self) -> Option<&CheckResult<T>>
    where
        CheckResult<T>: Facts,
    {
        self.results.result::<T>()
    }

    pub fn result_mut<T: 'static>(&mut self) -> Option<&mut CheckResult<T>>
    where
        CheckResult<T>: Facts,
    {
        self.results.result_mut::<T>()
    }

    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.taken_at)
    }

    /// Each check's name, success, duration and error, in registry order.
    pub fn checks(&self) -> Vec<CheckRow> {
        self.results.checks()
    }

    pub fn unix_seconds(&self) -> f64 {
        self.checked_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}
