//! The thin driver between the verdict machine and the probes: one long-lived task per
//! checker, sharing its real server's [`RealServerVerdict`] (a `RefCell`, for smol's
//! single-threaded `LocalExecutor`). Each loop waits until the checker is due, takes one of the
//! [`Slots`] (the global in-flight cap, with the probe's buffer), probes, records the result and
//! hands the real server's actions to the daemon.
//!
//! Memory: the slots' buffers are allocated once; an idle checker's task holds no buffer (its
//! future is a few hundred bytes), so memory grows with the cap, not with the number of
//! checkers, and a probe allocates nothing beyond smol's socket registration.

use super::probe::{Check, Scratch, SCRATCH_LEN};
use super::verdict::{Action, RealServerVerdict};
use crate::sys::clock;
use smol::lock::{Semaphore, SemaphoreGuard};
use std::cell::{Cell, RefCell, RefMut};
use std::time::Duration;

/// Probes in flight at once across the checker process (sockets and script children). Each
/// costs one socket (or child) and one [`Scratch`] buffer. A checker waiting for a slot starts
/// late, never early.
pub const MAX_IN_FLIGHT: usize = 32;

/// The in-flight cap and the buffers that go with it (for one `LocalExecutor`).
#[derive(Debug)]
pub struct Slots {
    permits: Semaphore,
    buffers: Box<[RefCell<Scratch>]>,
    /// Indices of the buffers no slot holds.
    free: RefCell<Vec<usize>>,
}

impl Slots {
    /// `count` slots, their buffers allocated now.
    pub fn new(count: usize) -> Slots {
        Slots {
            permits: Semaphore::new(count),
            buffers: (0..count)
                .map(|_| {
                    RefCell::new(Scratch {
                        bytes: [0; SCRATCH_LEN],
                    })
                })
                .collect(),
            free: RefCell::new((0..count).collect()),
        }
    }

    /// Waits for a free slot.
    pub async fn acquire(&self) -> Slot<'_> {
        let permit = self.permits.acquire().await;
        // There are as many buffers as permits, and a slot gives its buffer back before its
        // permit: a permit holder always finds a free, unborrowed buffer.
        let index = self.free.borrow_mut().pop();
        let scratch = index
            .and_then(|i| self.buffers.get(i))
            .and_then(|cell| cell.try_borrow_mut().ok());
        Slot {
            scratch,
            index,
            free: &self.free,
            _permit: permit,
        }
    }
}

/// A held slot: room for one probe.
#[derive(Debug)]
pub struct Slot<'a> {
    scratch: Option<RefMut<'a, Scratch>>,
    index: Option<usize>,
    free: &'a RefCell<Vec<usize>>,
    // Released after the buffer (fields drop in order, after `drop`).
    _permit: SemaphoreGuard<'a>,
}

impl Slot<'_> {
    /// The slot's buffer; `None` only if the pool's bookkeeping were broken.
    pub fn scratch(&mut self) -> Option<&mut Scratch> {
        self.scratch.as_deref_mut()
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(index) = self.index {
            self.free.borrow_mut().push(index);
        }
    }
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
/// `on_action` (which may read the verdict, e.g. for its weight). Ends only if `index` names
/// no checker.
pub async fn run_checker(
    verdict: &RefCell<RealServerVerdict>,
    index: usize,
    check: &Check,
    slots: &Slots,
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
        let mut slot = slots.acquire().await;
        let Some(request) = verdict.borrow_mut().start_probe(index, clock::now()) else {
            continue;
        };
        let result = match slot.scratch() {
            Some(scratch) => check.run(request.url, spread.next(), scratch).await,
            None => {
                let addr = check.target.addr;
                log::error!("checker slots out of step: probe of {addr} skipped");
                Err(crate::check::outcome::Failure::Spawn)
            }
        };
        drop(slot);
        let changed = verdict
            .borrow_mut()
            .handle_result(clock::now(), index, &result);
        if changed.is_some() {
            let addr = check.target.addr;
            match result {
                Err(failure) => log::warn!("checker {index} of {addr}: down ({failure})"),
                Ok(_) => log::info!("checker {index} of {addr}: up"),
            }
        }
        // The borrow ends before each call, so `on_action` may look at the verdict.
        loop {
            let action = verdict.borrow_mut().poll_action();
            match action {
                Some(action) => on_action(action),
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_hand_out_their_buffers_and_take_them_back() {
        let slots = Slots::new(2);
        smol::block_on(async {
            let mut a = slots.acquire().await;
            let b = slots.acquire().await;
            a.scratch().unwrap().bytes[0] = 7;
            assert!(slots.free.borrow().is_empty());
            drop(a);
            assert_eq!(slots.free.borrow().len(), 1);
            let mut c = slots.acquire().await;
            // The same buffer comes back.
            assert_eq!(c.scratch().unwrap().bytes[0], 7);
            drop((b, c));
            assert_eq!(slots.free.borrow().len(), 2);
        });
    }

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
