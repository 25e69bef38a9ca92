//! The driver between the verdict machine and the probes: every real server's checkers in one
//! [`Runner`]. A checker waiting for its next probe is one entry of a deadline heap (16 bytes);
//! a probe is a task on `check::executor` only while it runs, at most [`MAX_IN_FLIGHT`] at once,
//! each with a [`Scratch`] buffer from a small pool. Results go back into the real server's
//! [`RealServerVerdict`], whose actions are handed to the daemon.
//!
//! Memory: idle checkers cost their verdict and their heap entry, nothing else, so a checker
//! with 10,000 real servers pays per real server only for what it must remember. Buffers are
//! allocated the first time that many probes run at once and kept (at most the cap).
//! Due probes start earliest first; one that finds every slot taken starts late, never early.

use super::executor::Executor;
use super::outcome::ProbeResult;
use super::probe::{Check, Scratch};
use super::verdict::{Action, RealServerVerdict};
use crate::config::compact::Few;
use crate::sys::{clock, reactor};
use crate::time::Instant;
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::rc::Rc;

/// Probes in flight at once across the checker process (sockets and script children). Each
/// costs one socket (or child) and one [`Scratch`] buffer.
pub const MAX_IN_FLIGHT: usize = 32;

/// A checker's next probe: when, which real server, which of its checkers. Ordered by time
/// first (ties by server and checker, so the order is deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: Instant,
    server: u32,
    checker: u16,
}

/// A finished probe, with the buffer it ran in.
struct Done {
    server: u32,
    checker: u16,
    result: ProbeResult,
    scratch: Box<Scratch>,
}

/// Every real server's checkers: when each is due, the probes running, and the verdicts.
/// `checks[s][c]` is checker `c` of server `s` (`None`: left out, never run); `verdicts[s]` its
/// verdict. The probes borrow the checks (`'a`).
pub struct Runner<'a> {
    checks: &'a [Few<Option<Check>>],
    verdicts: Vec<RealServerVerdict>,
    due: BinaryHeap<Reverse<Due>>,
    tasks: Executor<'a>,
    done: Rc<RefCell<Vec<Done>>>,
    /// The turn's finished probes (swapped with `done`, so both keep their room).
    finished: Vec<Done>,
    /// Buffers of finished probes, for the next ones (boxed: a probe's task takes its 2.3 KiB
    /// buffer by pointer).
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Scratch>>,
    cap: usize,
    spread: Spread,
    /// Prepared checkers whose first probe has not finished yet.
    awaiting_first: usize,
}

impl<'a> Runner<'a> {
    /// Schedules every prepared checker at its verdict's first probe. `verdicts` pairs with
    /// `checks` by index; `cap` is the in-flight limit (at least 1).
    pub fn new(
        checks: &'a [Few<Option<Check>>],
        verdicts: Vec<RealServerVerdict>,
        cap: usize,
        spread: Spread,
    ) -> Runner<'a> {
        let mut due = Vec::new();
        let mut awaiting_first = 0;
        for (server, (checks, verdict)) in checks.iter().zip(&verdicts).enumerate() {
            for (checker, (check, c)) in checks.iter().zip(verdict.checkers()).enumerate() {
                if let (Some(_), Some(at), Ok(server), Ok(checker)) = (
                    check,
                    c.next_probe(),
                    u32::try_from(server),
                    u16::try_from(checker),
                ) {
                    due.push(Reverse(Due {
                        at,
                        server,
                        checker,
                    }));
                    awaiting_first += usize::from(!c.has_run());
                }
            }
        }
        // Never more entries than checkers: no room beyond them.
        due.shrink_to_fit();
        let cap = cap.max(1);
        Runner {
            checks,
            verdicts,
            due: BinaryHeap::from(due),
            tasks: Executor::with_capacity(cap),
            done: Rc::new(RefCell::new(Vec::with_capacity(cap))),
            finished: Vec::with_capacity(cap),
            spare: Vec::new(),
            cap,
            spread,
            awaiting_first,
        }
    }

    /// Every prepared checker has had its first result (a resumed one had it before). The
    /// first round reports and logs in bulk: code the steady state does not run.
    pub fn first_round_done(&self) -> bool {
        self.awaiting_first == 0
    }

    pub fn verdicts(&self) -> &[RealServerVerdict] {
        &self.verdicts
    }

    pub fn into_verdicts(self) -> Vec<RealServerVerdict> {
        self.verdicts
    }

    /// Probes running now (each is a task until it has finished).
    pub fn in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// One turn at `now` (the reactor's clock): starts the probes that are due while slots are
    /// free, polls the woken ones, and folds the finished ones into their verdicts, calling
    /// `on_action(server, action)` for what the daemon must do.
    pub fn turn(&mut self, now: Instant, on_action: &mut dyn FnMut(usize, Action)) {
        self.start_due(now);
        self.tasks.run_ready();
        let mut finished = std::mem::take(&mut self.finished);
        std::mem::swap(&mut *self.done.borrow_mut(), &mut finished);
        for done in finished.drain(..) {
            self.spare.push(done.scratch);
            self.finish(now, done.server, done.checker, &done.result, on_action);
        }
        self.finished = finished;
    }

    /// When the loop must turn again: now if a probe was woken, else when the next probe is
    /// due (if a slot is free for it: otherwise a finishing probe wakes the loop).
    pub fn next_wake(&self) -> Option<Instant> {
        if self.tasks.has_ready() {
            return Some(reactor::now());
        }
        if self.in_flight() >= self.cap {
            return None;
        }
        self.due.peek().map(|Reverse(d)| d.at)
    }

    fn start_due(&mut self, now: Instant) {
        while self.in_flight() < self.cap {
            let Some(&Reverse(due)) = self.due.peek() else {
                break;
            };
            if due.at > now {
                break;
            }
            self.due.pop();
            let (s, c) = (due.server as usize, usize::from(due.checker));
            let (Some(verdict), Some(Some(check))) = (
                self.verdicts.get_mut(s),
                self.checks.get(s).and_then(|checks| checks.get(c)),
            ) else {
                continue;
            };
            let Some(request) = verdict.start_probe(c, now) else {
                // Not due after all (cannot happen: the heap holds idle checkers only); keep
                // it scheduled.
                if let Some(at) = verdict.checkers().get(c).and_then(|v| v.next_probe()) {
                    self.due.push(Reverse(Due { at, ..due }));
                }
                continue;
            };
            let mut scratch = self.spare.pop().unwrap_or_default();
            let done = self.done.clone();
            let nonce = self.spread.next();
            self.tasks.spawn(async move {
                let result = check.run(request.url, nonce, &mut scratch).await;
                done.borrow_mut().push(Done {
                    server: due.server,
                    checker: due.checker,
                    result,
                    scratch,
                });
            });
        }
    }

    fn finish(
        &mut self,
        now: Instant,
        server: u32,
        checker: u16,
        result: &ProbeResult,
        on_action: &mut dyn FnMut(usize, Action),
    ) {
        let s = server as usize;
        let c = usize::from(checker);
        let Some(verdict) = self.verdicts.get_mut(s) else {
            return;
        };
        let first = verdict.checkers().get(c).is_some_and(|v| !v.has_run());
        let changed = verdict.handle_result(now, c, result);
        if first && verdict.checkers().get(c).is_some_and(|v| v.has_run()) {
            self.awaiting_first = self.awaiting_first.saturating_sub(1);
        }
        let addr = self
            .checks
            .get(s)
            .and_then(|checks| checks.get(c))
            .and_then(Option::as_ref)
            .map(|check| check.target.addr());
        if let (Some(_), Some(addr)) = (changed, addr) {
            match result {
                Err(failure) => log::warn!("checker {c} of {addr}: down ({failure})"),
                Ok(_) => log::info!("checker {c} of {addr}: up"),
            }
        }
        while let Some(action) = verdict.poll_action() {
            if let (Action::StillDown, Err(failure), Some(addr)) = (action, result, addr) {
                log::warn!("checker {c} of {addr}: first check failed ({failure}); down as it started (alpha)");
            }
            on_action(s, action);
        }
        if let Some(at) = verdict.checkers().get(c).and_then(|v| v.next_probe()) {
            self.due.push(Reverse(Due {
                at,
                server,
                checker,
            }));
        }
    }

    /// Runs until `deadline` on the reactor's clock (signals ignored): for tests and tools.
    pub fn run_until(
        &mut self,
        deadline: Instant,
        on_action: &mut dyn FnMut(usize, Action),
    ) -> io::Result<()> {
        reactor::refresh_now();
        loop {
            self.turn(reactor::now(), on_action);
            if reactor::now() >= deadline {
                return Ok(());
            }
            let until = self.next_wake().map_or(deadline, |at| at.min(deadline));
            reactor::wait(Some(until))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::probe::{Kind, Target, UdpProbe};
    use crate::check::timing::Timing;
    use crate::check::verdict::{CheckerVerdict, Steps};
    use crate::time::Micros;
    use std::net::{SocketAddr, UdpSocket};

    fn timing(alpha: bool) -> Timing {
        Timing {
            delay_loop: Micros(50_000),
            connect_timeout: Micros(500_000),
            retry: 1,
            delay_before_retry: Micros(10_000),
            warmup: Micros(0),
            alpha,
        }
    }

    /// One failure is final; the next probe only in 10 s (never, in these tests).
    fn no_retry_10s() -> Timing {
        Timing {
            retry: 0,
            delay_loop: Micros(10_000_000),
            ..timing(false)
        }
    }

    /// A port nobody listens on: each connect is refused at once.
    fn refused_port() -> SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
    }

    fn tcp(addr: SocketAddr) -> Check {
        Check {
            target: Target::to(addr),
            timeout: Micros(500_000),
            kind: Kind::Tcp,
        }
    }

    fn one_checker(timing: Timing, first_at: Instant) -> RealServerVerdict {
        RealServerVerdict::new(
            1,
            vec![CheckerVerdict::new(timing, Steps::One, first_at, 0)],
        )
    }

    #[test]
    fn an_alpha_checkers_first_failure_reaches_the_daemon_once() {
        let checks = [Few::One(Some(tcp(refused_port())))];
        let now = clock::now();
        let verdicts = vec![one_checker(timing(true), now)];
        let mut runner = Runner::new(&checks, verdicts, 1, Spread::new(1));
        let mut actions = Vec::new();
        // Four or five probes: the first failure only is reported.
        let until = reactor::refresh_now() + Micros(230_000);
        runner
            .run_until(until, &mut |s, a| actions.push((s, a)))
            .expect("reactor");
        assert_eq!(actions, [(0, Action::StillDown)]);
        assert!(!runner.verdicts()[0].alive());
    }

    #[test]
    fn the_first_round_is_done_once_every_prepared_checker_has_a_result() {
        let refused = refused_port();
        // Server 1's checker was left out: it never runs and is not waited for.
        let checks = [
            Few::One(Some(tcp(refused))),
            Few::One(None),
            Few::One(Some(tcp(refused))),
        ];
        let now = reactor::refresh_now();
        let t = no_retry_10s();
        let verdicts = vec![
            one_checker(t, now),
            one_checker(t, now),
            one_checker(t, now + Micros(60_000)),
        ];
        let mut runner = Runner::new(&checks, verdicts, 4, Spread::new(1));
        assert!(!runner.first_round_done());
        runner
            .run_until(reactor::refresh_now() + Micros(30_000), &mut |_, _| {})
            .expect("reactor");
        assert!(!runner.first_round_done(), "server 2 is not due yet");
        runner
            .run_until(reactor::refresh_now() + Micros(80_000), &mut |_, _| {})
            .expect("reactor");
        assert!(runner.first_round_done());
        // A resumed verdict has had its first result already.
        let mut resumed = one_checker(t, now);
        resumed.resume(&[true]);
        let runner = Runner::new(&checks[..1], vec![resumed], 1, Spread::new(1));
        assert!(runner.first_round_done());
    }

    #[test]
    fn due_probes_start_earliest_first_one_slot_at_a_time() {
        let refused = refused_port();
        let checks: Vec<Few<Option<Check>>> =
            (0..3).map(|_| Few::One(Some(tcp(refused)))).collect();
        let now = reactor::refresh_now();
        let t = no_retry_10s();
        // Server 2 is due first, then 0, then 1.
        let verdicts = vec![
            one_checker(t, now + Micros(20_000)),
            one_checker(t, now + Micros(40_000)),
            one_checker(t, now),
        ];
        let mut runner = Runner::new(&checks, verdicts, 1, Spread::new(1));
        let mut actions = Vec::new();
        runner
            .run_until(now + Micros(150_000), &mut |s, a| actions.push((s, a)))
            .expect("reactor");
        assert_eq!(
            actions,
            [(2, Action::Down), (0, Action::Down), (1, Action::Down)]
        );
        // Down, each is due again after delay_loop: nothing runs now.
        assert_eq!(runner.in_flight(), 0);
        assert!(runner
            .next_wake()
            .is_some_and(|at| at >= now + Micros(10_000_000)));
    }

    #[test]
    fn the_cap_bounds_probes_and_buffers_whatever_the_number_of_checkers() {
        // A UDP_CHECK that needs a reply from a socket that never answers: each probe runs
        // until its timeout.
        let silent = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
        let addr = silent.local_addr().expect("address");
        let check = Check {
            target: Target::to(addr),
            timeout: Micros(300_000),
            kind: Kind::Udp(Box::new(UdpProbe {
                payload: None,
                require_reply: Some(Box::from([])),
                min_reply_length: 0,
                max_reply_length: 255,
            })),
        };
        let checks: Vec<Few<Option<Check>>> =
            (0..10).map(|_| Few::One(Some(check.clone()))).collect();
        let now = reactor::refresh_now();
        let verdicts = (0..10).map(|_| one_checker(timing(false), now)).collect();
        let mut runner = Runner::new(&checks, verdicts, 3, Spread::new(1));
        let mut actions = 0;
        runner.turn(now, &mut |_, _| actions += 1);
        assert_eq!(runner.in_flight(), 3);
        runner
            .run_until(now + Micros(100_000), &mut |_, _| actions += 1)
            .expect("reactor");
        assert_eq!(
            runner.in_flight(),
            3,
            "the first three still wait for replies"
        );
        assert_eq!(actions, 0);
        // Three buffers, in the probes; none spare.
        assert!(runner.spare.is_empty());
        runner
            .run_until(now + Micros(450_000), &mut |_, _| actions += 1)
            .expect("reactor");
        // The first three timed out (their retry is pending), the next three run in their
        // buffers.
        assert_eq!(runner.in_flight(), 3);
        assert!(runner.spare.len() <= 3);
        drop(silent);
    }

    #[test]
    fn an_idle_checker_costs_a_sixteen_byte_heap_entry() {
        assert_eq!(std::mem::size_of::<Reverse<Due>>(), 16);
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
