//! The thin driver between the verdict machine and the probes: one long-lived task per
//! checker (on `check::executor`), sharing its real server's [`RealServerVerdict`] (a `RefCell`:
//! everything runs on one thread). Each loop waits until the checker is due, takes one of the
//! [`Slots`] (the global in-flight cap, with the probe's buffer), probes, records the result and
//! hands the real server's actions to the daemon.
//!
//! Memory: a slot's buffer is allocated the first time the slot is used and kept; an idle
//! checker's task holds no buffer (its future is a few hundred bytes), so memory grows with the
//! most probes ever in flight at once (at most the cap), not with the number of checkers. A task waiting for a slot takes one entry of the slots' waiter queue (its capacity
//! stays at the most tasks that ever waited at once).

use super::executor::yield_now;
use super::probe::{Check, Scratch};
use super::verdict::{Action, RealServerVerdict};
use crate::sys::{clock, reactor};
use std::cell::{Cell, OnceCell, RefCell, RefMut};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Probes in flight at once across the checker process (sockets and script children). Each
/// costs one socket (or child) and one [`Scratch`] buffer. A checker waiting for a slot starts
/// late, never early.
pub const MAX_IN_FLIGHT: usize = 32;

/// The in-flight cap and the buffers that go with it: a semaphore whose permits are the
/// buffers. Waiters are served first come, first served.
#[derive(Debug)]
pub struct Slots {
    /// Allocated at a slot's first use: free slots are handed out last-freed first, so a
    /// checker with few real servers never touches most of them.
    buffers: Box<[OnceCell<Box<RefCell<Scratch>>>]>,
    /// Indices of the buffers no slot holds.
    free: RefCell<Vec<usize>>,
    waiters: RefCell<Waiters>,
}

/// The queue of tasks waiting for a slot. An entry is addressed by its ticket (`head` is the
/// front's); a waiter that gives up leaves `None` behind until it reaches the front.
#[derive(Debug, Default)]
struct Waiters {
    queue: VecDeque<Option<Waker>>,
    head: u64,
}

impl Waiters {
    /// Drops given-up entries from the front, then wakes the front if a slot is free.
    fn pass_on(&mut self, slot_free: bool) {
        while let Some(None) = self.queue.front() {
            self.queue.pop_front();
            self.head += 1;
        }
        if slot_free {
            if let Some(Some(waker)) = self.queue.front() {
                waker.wake_by_ref();
            }
        }
    }
}

impl Slots {
    /// `count` slots; each allocates its buffer when first taken.
    pub fn new(count: usize) -> Slots {
        Slots {
            buffers: (0..count).map(|_| OnceCell::new()).collect(),
            free: RefCell::new((0..count).collect()),
            waiters: RefCell::default(),
        }
    }

    /// Waits for a free slot.
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            slots: self,
            ticket: None,
        }
    }

    fn take(&self) -> Option<Slot<'_>> {
        let index = self.free.borrow_mut().pop()?;
        // A slot gives its buffer back (its RefMut ends) before its index: a free index's
        // buffer is never borrowed.
        let scratch = self
            .buffers
            .get(index)
            .map(|cell| cell.get_or_init(|| Box::new(RefCell::new(Scratch::default()))))
            .and_then(|cell| cell.try_borrow_mut().ok());
        Some(Slot {
            scratch,
            index,
            slots: self,
        })
    }

    fn has_free(&self) -> bool {
        !self.free.borrow().is_empty()
    }
}

/// The future of [`Slots::acquire`].
#[derive(Debug)]
pub struct Acquire<'a> {
    slots: &'a Slots,
    /// Place in the waiters' queue, once queued.
    ticket: Option<u64>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Slot<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Slot<'a>> {
        let this = self.get_mut();
        let slots = this.slots;
        let mut waiters = slots.waiters.borrow_mut();
        match this.ticket {
            None => {
                if waiters.queue.is_empty() {
                    if let Some(slot) = slots.take() {
                        return Poll::Ready(slot);
                    }
                }
                this.ticket = Some(waiters.head + waiters.queue.len() as u64);
                waiters.queue.push_back(Some(cx.waker().clone()));
                Poll::Pending
            }
            Some(ticket) => {
                if ticket == waiters.head {
                    if let Some(slot) = slots.take() {
                        waiters.queue.pop_front();
                        waiters.head += 1;
                        this.ticket = None;
                        waiters.pass_on(slots.has_free());
                        return Poll::Ready(slot);
                    }
                }
                let at = usize::try_from(ticket.saturating_sub(waiters.head)).unwrap_or(usize::MAX);
                if let Some(Some(waker)) = waiters.queue.get_mut(at) {
                    if !waker.will_wake(cx.waker()) {
                        *waker = cx.waker().clone();
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket else { return };
        let mut waiters = self.slots.waiters.borrow_mut();
        let at = usize::try_from(ticket.saturating_sub(waiters.head)).unwrap_or(usize::MAX);
        if let Some(entry) = waiters.queue.get_mut(at) {
            *entry = None;
        }
        // If it was at the front, its turn goes to the next.
        waiters.pass_on(self.slots.has_free());
    }
}

/// A held slot: room for one probe.
#[derive(Debug)]
pub struct Slot<'a> {
    scratch: Option<RefMut<'a, Scratch>>,
    index: usize,
    slots: &'a Slots,
}

impl Slot<'_> {
    /// The slot's buffer; `None` only if the pool's bookkeeping were broken.
    pub fn scratch(&mut self) -> Option<&mut Scratch> {
        self.scratch.as_deref_mut()
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.scratch = None;
        self.slots.free.borrow_mut().push(self.index);
        self.slots.waiters.borrow_mut().pass_on(true);
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
        reactor::sleep_until(due).await;
        let mut slot = slots.acquire().await;
        let Some(request) = verdict.borrow_mut().start_probe(index, reactor::now()) else {
            continue;
        };
        let result = match slot.scratch() {
            // Boxed while it runs: inline, the largest probe's state (a few hundred bytes)
            // would stay in every checker's task for its whole life, idle or not; boxed, it
            // costs one allocation per probe, at most MAX_IN_FLIGHT at a time.
            Some(scratch) => Box::pin(check.run(request.url, spread.next(), scratch)).await,
            None => {
                let addr = check.target.addr;
                log::error!("checker slots out of step: probe of {addr} skipped");
                Err(crate::check::outcome::Failure::Spawn)
            }
        };
        drop(slot);
        let changed = verdict
            .borrow_mut()
            .handle_result(reactor::now(), index, &result);
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
                Some(action) => {
                    if let (Action::StillDown, Err(failure)) = (action, &result) {
                        let addr = check.target.addr;
                        log::warn!("checker {index} of {addr}: first check failed ({failure}); down as it started (alpha)");
                    }
                    on_action(action)
                }
                None => break,
            }
        }
        // A probe that ended without waiting (FILE_CHECK, SSL_GET) and is due again at once
        // (a zero delay) must not keep the thread: the clock only moves between loop turns.
        let due = verdict
            .borrow()
            .checkers()
            .get(index)
            .and_then(|c| c.next_probe());
        if due.is_some_and(|due| due <= reactor::now()) {
            yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::executor::block_on;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    #[test]
    fn slots_hand_out_their_buffers_and_take_them_back() {
        let slots = Slots::new(2);
        block_on(async {
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
        })
        .unwrap();
    }

    #[test]
    fn a_slot_allocates_its_buffer_at_first_use_only() {
        let slots = Slots::new(32);
        block_on(async {
            let a = slots.acquire().await;
            drop(a);
            let b = slots.acquire().await;
            drop(b);
        })
        .unwrap();
        // Taken twice, one at a time: one buffer.
        let allocated = slots.buffers.iter().filter(|b| b.get().is_some()).count();
        assert_eq!(allocated, 1);
    }

    /// Polls `f` once with a waker that counts its wakes.
    fn poll_counting<F: Future + Unpin>(f: &mut F, wakes: &Arc<Count>) -> Poll<F::Output> {
        let waker = Waker::from(wakes.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn waiters_are_served_in_order_and_a_dropped_waiter_passes_its_turn() {
        let slots = Slots::new(1);
        let (wa, wb, wc) = (Arc::default(), Arc::default(), Arc::<Count>::default());
        let mut first = slots.acquire();
        let Poll::Ready(held) = poll_counting(&mut first, &wa) else {
            panic!("a free slot is taken at once")
        };
        let mut b = slots.acquire();
        let mut c = slots.acquire();
        assert!(poll_counting(&mut b, &wb).is_pending());
        assert!(poll_counting(&mut c, &wc).is_pending());
        drop(held);
        // b is first in line: woken; c is not.
        assert_eq!(wb.0.load(Ordering::SeqCst), 1);
        assert_eq!(wc.0.load(Ordering::SeqCst), 0);
        // c cannot jump the queue while b has not taken its slot.
        assert!(poll_counting(&mut c, &wc).is_pending());
        // b gives up: c's turn.
        drop(b);
        assert_eq!(wc.0.load(Ordering::SeqCst), 1);
        let Poll::Ready(held) = poll_counting(&mut c, &wc) else {
            panic!("c takes the freed slot")
        };
        // A newcomer while nobody waits takes a slot at once after the release.
        drop(held);
        assert!(slots.waiters.borrow().queue.is_empty());
        let mut d = slots.acquire();
        assert!(poll_counting(&mut d, &wa).is_ready());
    }

    #[test]
    fn an_alpha_checkers_first_failure_reaches_the_daemon_once() {
        use crate::check::executor::Executor;
        use crate::check::probe::{Kind, Target};
        use crate::check::timing::Timing;
        use crate::check::verdict::{CheckerVerdict, Steps};
        use crate::time::Micros;
        // A port nobody listens on: each connect is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let check = Check {
            target: Target::to(port),
            timeout: Micros(500_000),
            kind: Kind::Tcp,
        };
        let timing = Timing {
            delay_loop: Micros(50_000),
            connect_timeout: Micros(500_000),
            retry: 1,
            delay_before_retry: Micros(10_000),
            warmup: Micros(0),
            alpha: true,
        };
        let now = clock::now();
        let verdict = RefCell::new(RealServerVerdict::new(
            1,
            vec![CheckerVerdict::new(timing, Steps::One, now, 0)],
        ));
        let actions = RefCell::new(Vec::new());
        let record = |a: Action| actions.borrow_mut().push(a);
        let (slots, spread) = (Slots::new(1), Spread::new(1));
        let mut tasks = Executor::new();
        let task = run_checker(&verdict, 0, &check, &slots, &spread, &record);
        // What every real server's checker keeps for its life (536 bytes with the probe's
        // state inline).
        assert!(
            std::mem::size_of_val(&task) <= 256,
            "{} bytes",
            std::mem::size_of_val(&task)
        );
        tasks.spawn(task);
        // Four or five probes: the first failure only is reported.
        let until = reactor::refresh_now() + Micros(230_000);
        tasks.run_until(until).expect("reactor");
        drop(tasks);
        assert_eq!(actions.into_inner(), [Action::StillDown]);
        assert!(!verdict.borrow().alive());
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
