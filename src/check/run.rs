//! The thin driver between the verdict machine and the probes: one long-lived task per
//! checker, sharing its real server's [`RealServerVerdict`] (a `RefCell`, for smol's
//! single-threaded `LocalExecutor`). Each loop waits until the checker is due, takes a slot of
//! the global in-flight cap, probes, records the result and hands the real server's actions to
//! the daemon. The task's future holds the probe's buffers, so a running checker allocates
//! nothing per probe beyond smol's socket registration.

use super::probe::Check;
use super::verdict::{Action, RealServerVerdict};
use crate::sys::clock;
use smol::lock::Semaphore;
use std::cell::{Cell, RefCell};
use std::time::Duration;

/// Probes in flight at once across the checker process (sockets and script children). Each
/// costs one socket (or child) and its task's buffers (a few KiB). A checker waiting for a
/// slot starts late, never early.
pub const MAX_IN_FLIGHT: usize = 32;

/// The in-flight cap shared by every checker task.
pub fn in_flight_cap() -> Semaphore {
    Semaphore::new(MAX_IN_FLIGHT)
}

/// A small PRNG (splitmix64) for warmup offsets and probe nonces: unpredictability is not
/// needed, only spread.
#[derive(Debug)]
pub struct Spread(Cell<u64>);

impl Spread {
    pub fn new(seed: u64) -> Spread {
        Spread(Cell::new(seed))
    }

    /// Seeded from the clock and the pid.
    pub fn from_clock() -> Spread {
        Spread::new(clock::now().0 ^ u64::from(std::process::id()).rotate_left(32))
    }

    pub fn next(&self) -> u64 {
        let s = self.0.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.0.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Runs checker `index` of `verdict` forever, reporting the real server's actions to
/// `on_action`. Ends only if `index` names no checker.
pub async fn run_checker(
    verdict: &RefCell<RealServerVerdict>,
    index: usize,
    check: &Check,
    cap: &Semaphore,
    spread: &Spread,
    on_action: &dyn Fn(Action),
) {
    loop {
        let Some(due) = verdict
            .borrow()
            .checkers()
            .get(index)
            .and_then(|c| c.next_probe())
        else {
            return;
        };
        let wait = due.saturating_since(clock::now());
        if wait.0 > 0 {
            smol::Timer::after(Duration::from_micros(wait.0)).await;
        }
        let slot = cap.acquire().await;
        let Some(request) = verdict.borrow_mut().start_probe(index, clock::now()) else {
            continue;
        };
        let result = check.run(request.url, spread.next()).await;
        drop(slot);
        let mut v = verdict.borrow_mut();
        if v.handle_result(clock::now(), index, &result).is_some() {
            let addr = check.target.addr;
            match result {
                Err(failure) => log::warn!("checker {index} of {addr}: down ({failure})"),
                Ok(_) => log::info!("checker {index} of {addr}: up"),
            }
        }
        while let Some(action) = v.poll_action() {
            on_action(action);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_deterministic_per_seed_and_spreads() {
        let a = Spread::new(1);
        let b = Spread::new(1);
        let xs: Vec<u64> = (0..8).map(|_| a.next()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next()).collect();
        assert_eq!(xs, ys);
        let mut sorted = xs.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 8);
    }
}
