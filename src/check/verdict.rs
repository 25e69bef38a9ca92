//! The sans-IO health verdict of keepalived's checkers (keepalived 2.2's check_api.c and the
//! per-checker epilogs in check_tcp.c, check_dns.c, check_udp.c, check_http.c, check_misc.c):
//! when to probe next, when a checker is up or down, and when its real server is.
//!
//! A checker is UP or DOWN. `alpha` starts it DOWN, else UP. The first check runs at a random
//! offset in `[0, warmup]`. A success makes a DOWN checker UP at once and schedules the next
//! check `delay_loop` later. A failure of an UP checker is retried up to `retry` times, every
//! `delay_before_retry`, before the checker is declared DOWN; a DOWN checker is not retried (its
//! next check is `delay_loop` later). As in keepalived, no retry is spent on the very first
//! check: a server that is dead at start is DOWN after one failure.
//!
//! HTTP_GET/SSL_GET checks one url per probe ([`Steps::Urls`]): each success moves to the next url
//! after `delay_loop`; the checker is UP once every url passed in a row. A url that fails is
//! retried as above, and once DOWN it is re-checked every `max(delay_before_retry, delay_loop)`;
//! when it passes again the whole list is checked from the first url. `fast_recovery` checks the
//! next url at once while the checker is not UP.
//!
//! A real server is alive while every one of its checkers is UP (one DOWN checker takes it
//! down); its weight is the configured weight plus what MISC_CHECK (`misc_dynamic`) and
//! FILE_CHECK contribute, clamped to IPVS's `0..=i32::MAX`. [`RealServerVerdict::poll_action`]
//! reports changes against what was last reported, so a daemon that drains it after every
//! result sees each transition, and no queue can overflow. One report is not a change: an
//! `alpha` checker whose first check fails leaves its server down as it started, and keepalived
//! (ipwrapper.c update_svr_checker_state) still notifies that server down once
//! ([`Action::StillDown`]).

use super::outcome::{ProbeResult, WeightEffect};
use super::timing::Timing;
use crate::config::compact::Few;
use crate::config::model::{CheckKind, RealServer, VirtualServer};
use crate::time::{Instant, Micros};
use std::rc::Rc;

/// Highest weight IPVS takes (IPVS_DEST_ATTR_WEIGHT is a signed 32-bit value).
pub const MAX_WEIGHT: u32 = i32::MAX as u32;

/// How a checker walks through what it checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steps {
    /// One probe is the whole check (TCP, SMTP, DNS, UDP, PING, MISC, FILE).
    One,
    /// HTTP_GET/SSL_GET: one url per probe.
    Urls { count: u16, fast_recovery: bool },
}

impl Steps {
    pub fn for_kind(kind: &CheckKind) -> Steps {
        match kind {
            CheckKind::Http(http) | CheckKind::Ssl(http) => Steps::Urls {
                // A checker with more than u16::MAX urls checks the first u16::MAX.
                count: u16::try_from(http.urls.len()).unwrap_or(u16::MAX).max(1),
                fast_recovery: http.fast_recovery,
            },
            _ => Steps::One,
        }
    }
}

/// What a checker's share of its real server's weight is; its value is kept apart
/// ([`CheckerVerdict::contribution`]) so that the tag packs with the verdict's other small
/// fields (8 bytes per checker less than an enum carrying an i64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contribution {
    None,
    /// The weight is the value (MISC_CHECK's `misc_dynamic`).
    Set,
    /// The value is added to the configured weight (FILE_CHECK).
    Offset,
}

/// One `Rc<Timing>` for each run of equal timings handed out in a row: the checkers of a
/// virtual server's real servers nearly always share theirs, and a shared timing is 8 bytes
/// per checker instead of 40.
#[derive(Debug, Default)]
pub struct TimingShare(Option<Rc<Timing>>);

impl TimingShare {
    pub fn get(&mut self, timing: Timing) -> Rc<Timing> {
        match &self.0 {
            Some(last) if **last == timing => last.clone(),
            _ => self.0.insert(Rc::new(timing)).clone(),
        }
    }
}

/// One checker's state.
#[derive(Clone, Debug)]
pub struct CheckerVerdict {
    timing: Rc<Timing>,
    steps: Steps,
    up: bool,
    /// A first check has completed (keepalived's `has_run`).
    has_run: bool,
    /// Retries spent on the current failure.
    retry_it: u32,
    /// The url the next probe fetches.
    url_it: u16,
    /// The url that took the checker down, re-checked until it passes.
    failed_url: Option<u16>,
    next_probe: Instant,
    in_flight: bool,
    contribution: Contribution,
    /// The [`Contribution`]'s value.
    contribution_value: i64,
}

impl CheckerVerdict {
    /// A checker started at `now`; `random` (any value, e.g. from a PRNG) places the first
    /// check in `[now, now + warmup]`.
    pub fn new(
        timing: impl Into<Rc<Timing>>,
        steps: Steps,
        now: Instant,
        random: u64,
    ) -> CheckerVerdict {
        let timing = timing.into();
        let offset = match timing.warmup.0 {
            0 => 0,
            w => random % w.saturating_add(1),
        };
        CheckerVerdict {
            up: !timing.alpha,
            has_run: false,
            // keepalived: "one failure is enough initially".
            retry_it: timing.retry,
            timing,
            steps,
            url_it: 0,
            failed_url: None,
            next_probe: now + Micros(offset),
            in_flight: false,
            contribution: Contribution::None,
            contribution_value: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// A first check has completed (or the state was resumed from a previous run).
    pub fn has_run(&self) -> bool {
        self.has_run
    }

    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// When the next probe is due; `None` while one is running.
    pub fn next_probe(&self) -> Option<Instant> {
        (!self.in_flight).then_some(self.next_probe)
    }

    /// Starts the probe if it is due: returns the url index to fetch (0 for other checkers).
    pub fn start(&mut self, now: Instant) -> Option<u16> {
        if self.in_flight || now < self.next_probe {
            return None;
        }
        self.in_flight = true;
        Some(self.url_it)
    }

    /// Records a probe's result; returns the checker's new state if it changed.
    pub fn finish(&mut self, now: Instant, result: &ProbeResult) -> Option<bool> {
        self.in_flight = false;
        match self.steps {
            Steps::One => self.finish_one(now, result),
            Steps::Urls {
                count,
                fast_recovery,
            } => self.finish_url(now, result, count, fast_recovery),
        }
    }

    fn finish_one(&mut self, now: Instant, result: &ProbeResult) -> Option<bool> {
        let t = *self.timing;
        match result {
            Ok(effect) => {
                self.apply(*effect);
                self.retry_it = 0;
                self.has_run = true;
                self.next_probe = now + t.delay_loop;
                self.set_up(true)
            }
            Err(_) if (self.up || !self.has_run) && self.retry_it < t.retry => {
                self.retry_it += 1;
                self.has_run = true;
                self.next_probe = now + t.delay_before_retry;
                None
            }
            Err(_) => {
                self.retry_it = 0;
                self.has_run = true;
                self.next_probe = now + t.delay_loop;
                self.set_up(false)
            }
        }
    }

    fn finish_url(
        &mut self,
        now: Instant,
        result: &ProbeResult,
        count: u16,
        fast_recovery: bool,
    ) -> Option<bool> {
        let t = *self.timing;
        match result {
            Ok(effect) => {
                self.apply(*effect);
                self.retry_it = 0;
                let mut changed = None;
                if self.failed_url.take().is_some() {
                    // The url that failed passes again: check the whole list.
                    self.url_it = 0;
                } else {
                    self.url_it += 1;
                    if self.url_it >= count {
                        self.url_it = 0;
                        self.has_run = true;
                        changed = self.set_up(true);
                    } else if !self.has_run {
                        // Still on the first pass: a failure now is final.
                        self.retry_it = t.retry;
                    }
                }
                let hurry = fast_recovery && (!self.has_run || !self.up);
                self.next_probe = if hurry { now } else { now + t.delay_loop };
                changed
            }
            Err(_) => {
                let mut changed = None;
                if self.up || !self.has_run {
                    self.has_run = true;
                    self.retry_it += 1;
                    if self.retry_it > t.retry {
                        self.retry_it = 0;
                        self.failed_url = Some(self.url_it);
                        changed = self.set_up(false);
                    }
                } else {
                    self.failed_url.get_or_insert(self.url_it);
                }
                self.next_probe = now
                    + if self.failed_url.is_some() {
                        t.delay_before_retry.max(t.delay_loop)
                    } else {
                        t.delay_before_retry
                    };
                changed
            }
        }
    }

    fn apply(&mut self, effect: WeightEffect) {
        (self.contribution, self.contribution_value) = match effect {
            WeightEffect::Keep => return,
            WeightEffect::Reset => (Contribution::None, 0),
            WeightEffect::Set(w) => (Contribution::Set, i64::from(w)),
            WeightEffect::Offset(d) => (Contribution::Offset, d),
        };
    }

    fn set_up(&mut self, up: bool) -> Option<bool> {
        if !up {
            // keepalived drops a failed checker's weight share.
            self.contribution = Contribution::None;
            self.contribution_value = 0;
        }
        (self.up != up).then(|| {
            self.up = up;
            up
        })
    }

    /// This checker's change to a real server weight of `configured`.
    fn weight_delta(&self, configured: u32) -> i64 {
        match self.contribution {
            Contribution::None => 0,
            Contribution::Set => self.contribution_value - i64::from(configured),
            Contribution::Offset => self.contribution_value,
        }
    }
}

/// A probe to run: which checker, and which of its urls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeRequest {
    pub checker: usize,
    pub url: u16,
}

/// What the daemon must do for a real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Every checker is up: run `notify_up`, put the server in IPVS with this weight.
    Up { weight: u32 },
    /// A checker is down: run `notify_down`, take the server out (or weight 0 with
    /// `inhibit_on_failure`).
    Down,
    /// The server stays up with a new weight.
    Weight(u32),
    /// An `alpha` checker's first check failed: the server stays down, as it started, and
    /// keepalived reports it down all the same (`notify_down`, its FIFO line); IPVS is unchanged.
    StillDown,
}

/// The verdict on one real server: its checkers and what has been reported about it.
#[derive(Clone, Debug)]
pub struct RealServerVerdict {
    configured_weight: u32,
    /// Nearly always one: kept inline then.
    checkers: Few<CheckerVerdict>,
    reported_alive: bool,
    reported_weight: u32,
    /// Checkers whose first check failed while they were down already, not yet reported
    /// (at most the number of checkers).
    first_failures: u32,
}

impl RealServerVerdict {
    /// A real server with `checkers` (allocated once, when the config is loaded). Its initial
    /// state (`alive()`, `weight()`) is not reported as an action: the daemon builds the IPVS
    /// table from it.
    pub fn new(configured_weight: u32, checkers: Vec<CheckerVerdict>) -> RealServerVerdict {
        let mut rs = RealServerVerdict {
            configured_weight,
            checkers: Few::from(checkers),
            reported_alive: false,
            reported_weight: 0,
            first_failures: 0,
        };
        rs.reported_alive = rs.alive();
        rs.reported_weight = rs.weight();
        rs
    }

    /// The verdict for `rs` of `vs` started at `now`; `random` is called once per checker for
    /// its warmup offset; `share` hands out the checkers' timings.
    pub fn from_config(
        vs: &VirtualServer,
        rs: &RealServer,
        now: Instant,
        random: &mut dyn FnMut() -> u64,
        share: &mut TimingShare,
    ) -> RealServerVerdict {
        let checkers = rs
            .checkers
            .iter()
            .map(|c| {
                let timing = share.get(Timing::resolve(vs, rs, c));
                CheckerVerdict::new(timing, Steps::for_kind(&c.kind), now, random())
            })
            .collect();
        RealServerVerdict::new(rs.weight, checkers)
    }

    /// Takes over the checkers' states a previous run reported (a restarted checker process,
    /// or a reload that kept this real server): each checker starts up or down as given, as if
    /// it had run, instead of starting over (up, or down in alpha mode). Ignored when the
    /// number of checkers differs (the config changed them: they start over).
    pub fn resume(&mut self, checkers_up: &[bool]) {
        if checkers_up.len() != self.checkers.len() {
            return;
        }
        for (c, &up) in self.checkers.iter_mut().zip(checkers_up) {
            c.up = up;
            c.has_run = true;
            c.retry_it = 0;
        }
        self.first_failures = 0;
        self.reported_alive = self.alive();
        self.reported_weight = self.weight();
    }

    /// Every checker is up (a server without checkers is always alive).
    pub fn alive(&self) -> bool {
        self.checkers.iter().all(|c| c.up)
    }

    /// The configured weight adjusted by dynamic checkers.
    pub fn weight(&self) -> u32 {
        let base = i64::from(self.configured_weight);
        let sum = self.checkers.iter().fold(base, |acc, c| {
            acc.saturating_add(c.weight_delta(self.configured_weight))
        });
        // The clamp makes the conversion exact.
        sum.clamp(0, i64::from(MAX_WEIGHT)) as u32
    }

    pub fn checkers(&self) -> &[CheckerVerdict] {
        &self.checkers
    }

    /// The earliest time a probe is due (`None` when every checker has a probe running).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.checkers.iter().filter_map(|c| c.next_probe()).min()
    }

    /// The next due probe, marked running until its result is handed to `handle_result`.
    pub fn poll_probe(&mut self, now: Instant) -> Option<ProbeRequest> {
        self.checkers
            .iter_mut()
            .enumerate()
            .find_map(|(checker, c)| c.start(now).map(|url| ProbeRequest { checker, url }))
    }

    /// Starts checker `checker`'s probe if it is due (for a driver with one task per checker).
    pub fn start_probe(&mut self, checker: usize, now: Instant) -> Option<ProbeRequest> {
        let url = self.checkers.get_mut(checker)?.start(now)?;
        Some(ProbeRequest { checker, url })
    }

    /// Records checker `checker`'s result; returns its new state if it changed. An unknown
    /// index is ignored.
    pub fn handle_result(
        &mut self,
        now: Instant,
        checker: usize,
        result: &ProbeResult,
    ) -> Option<bool> {
        let c = self.checkers.get_mut(checker)?;
        let first = !c.has_run;
        let changed = c.finish(now, result);
        // The first verdict (has_run set) is a failure of a checker that was down already: an
        // alpha checker (one resumed from a previous run has run).
        if first && c.has_run && !c.up && changed.is_none() {
            self.first_failures += 1;
        }
        changed
    }

    /// The next thing to tell the daemon, if the server's state or weight changed since the
    /// last report.
    pub fn poll_action(&mut self) -> Option<Action> {
        let alive = self.alive();
        let weight = self.weight();
        if alive != self.reported_alive {
            self.reported_alive = alive;
            if alive {
                self.reported_weight = weight;
                return Some(Action::Up { weight });
            }
            return Some(Action::Down);
        }
        if alive && weight != self.reported_weight {
            self.reported_weight = weight;
            return Some(Action::Weight(weight));
        }
        if self.first_failures > 0 {
            self.first_failures -= 1;
            // Down since the start (a down checker keeps its server down).
            return (!alive).then_some(Action::StillDown);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    /// Memory per real server: a single-checker verdict, its timing shared.
    #[test]
    fn a_verdict_is_small_and_shares_its_timing() {
        assert!(std::mem::size_of::<CheckerVerdict>() <= 48);
        assert!(std::mem::size_of::<RealServerVerdict>() <= 64);
        let mut share = TimingShare::default();
        let a = share.get(timing(1, false));
        let b = share.get(timing(1, false));
        assert!(Rc::ptr_eq(&a, &b));
        let c = share.get(timing(2, false));
        assert!(!Rc::ptr_eq(&a, &c));
        assert_eq!(*c, timing(2, false));
    }

    use super::*;
    use crate::check::outcome::Failure;

    const S: u64 = 1_000_000;
    const OK: ProbeResult = Ok(WeightEffect::Keep);
    const FAIL: ProbeResult = Err(Failure::Timeout);

    fn timing(retry: u32, alpha: bool) -> Timing {
        Timing {
            delay_loop: Micros(10 * S),
            connect_timeout: Micros(2 * S),
            retry,
            delay_before_retry: Micros(3 * S),
            warmup: Micros(0),
            alpha,
        }
    }

    /// Runs the probe due at exactly `at` and feeds it `result`.
    fn probe(c: &mut CheckerVerdict, at: u64, result: ProbeResult) -> Option<bool> {
        assert_eq!(c.next_probe(), Some(Instant(at)), "probe due time");
        if at > 0 {
            assert_eq!(c.start(Instant(at - 1)), None, "not due 1 µs early");
        }
        assert!(c.start(Instant(at)).is_some());
        c.finish(Instant(at), &result)
    }

    #[test]
    fn warmup_offset_comes_from_random_within_bounds() {
        let mut t = timing(1, false);
        t.warmup = Micros(5 * S);
        let c = CheckerVerdict::new(t, Steps::One, Instant(100), 7);
        assert_eq!(c.next_probe(), Some(Instant(107)));
        let c = CheckerVerdict::new(t, Steps::One, Instant(100), u64::MAX);
        assert!(c.next_probe().is_some_and(|at| at.0 <= 100 + 5 * S));
        let c = CheckerVerdict::new(t, Steps::One, Instant(100), 5 * S);
        assert_eq!(c.next_probe(), Some(Instant(100 + 5 * S)));
        t.warmup = Micros(0);
        let c = CheckerVerdict::new(t, Steps::One, Instant(100), 12345);
        assert_eq!(c.next_probe(), Some(Instant(100)));
    }

    #[test]
    fn first_failure_is_final_without_retry() {
        let mut c = CheckerVerdict::new(timing(3, false), Steps::One, Instant(0), 0);
        assert!(c.is_up());
        assert_eq!(probe(&mut c, 0, FAIL), Some(false));
        assert!(!c.is_up());
        // Down: next check after delay_loop, and a failure there is not retried.
        assert_eq!(probe(&mut c, 10 * S, FAIL), None);
        assert_eq!(probe(&mut c, 20 * S, FAIL), None);
        // One success brings it up.
        assert_eq!(probe(&mut c, 30 * S, OK), Some(true));
        assert_eq!(c.next_probe(), Some(Instant(40 * S)));
    }

    #[test]
    fn up_checker_retries_then_goes_down() {
        let mut c = CheckerVerdict::new(timing(2, false), Steps::One, Instant(0), 0);
        assert_eq!(probe(&mut c, 0, OK), None);
        assert_eq!(probe(&mut c, 10 * S, FAIL), None);
        // Two retries, delay_before_retry apart, still up while retrying.
        assert!(c.is_up());
        assert_eq!(probe(&mut c, 13 * S, FAIL), None);
        assert!(c.is_up());
        assert_eq!(probe(&mut c, 16 * S, FAIL), Some(false));
        assert_eq!(probe(&mut c, 26 * S, FAIL), None);
    }

    #[test]
    fn a_retry_that_succeeds_keeps_the_checker_up_and_resets_the_count() {
        let mut c = CheckerVerdict::new(timing(1, false), Steps::One, Instant(0), 0);
        assert_eq!(probe(&mut c, 0, OK), None);
        assert_eq!(probe(&mut c, 10 * S, FAIL), None);
        assert_eq!(probe(&mut c, 13 * S, OK), None);
        assert!(c.is_up());
        // The next failure gets its full retry again.
        assert_eq!(probe(&mut c, 23 * S, FAIL), None);
        assert_eq!(probe(&mut c, 26 * S, FAIL), Some(false));
    }

    #[test]
    fn retry_zero_goes_down_on_the_first_failure() {
        let mut c = CheckerVerdict::new(timing(0, false), Steps::One, Instant(0), 0);
        assert_eq!(probe(&mut c, 0, OK), None);
        assert_eq!(probe(&mut c, 10 * S, FAIL), Some(false));
        assert_eq!(c.next_probe(), Some(Instant(20 * S)));
    }

    #[test]
    fn alpha_starts_down_and_one_success_brings_it_up() {
        let mut c = CheckerVerdict::new(timing(1, true), Steps::One, Instant(0), 0);
        assert!(!c.is_up());
        assert_eq!(probe(&mut c, 0, FAIL), None);
        assert_eq!(probe(&mut c, 10 * S, OK), Some(true));
    }

    #[test]
    fn in_flight_probe_is_not_started_twice() {
        let mut c = CheckerVerdict::new(timing(1, false), Steps::One, Instant(0), 0);
        assert_eq!(c.start(Instant(0)), Some(0));
        assert_eq!(c.next_probe(), None);
        assert_eq!(c.start(Instant(50 * S)), None);
        // A slow probe: the next one counts from when it finished.
        assert_eq!(c.finish(Instant(2 * S), &OK), None);
        assert_eq!(c.next_probe(), Some(Instant(12 * S)));
    }

    fn urls(count: u16, fast_recovery: bool) -> Steps {
        Steps::Urls {
            count,
            fast_recovery,
        }
    }

    #[test]
    fn http_checks_one_url_per_delay_loop() {
        let mut c = CheckerVerdict::new(timing(1, false), urls(3, false), Instant(0), 0);
        for (i, at) in [0, 10, 20, 30, 40].into_iter().enumerate() {
            assert_eq!(c.next_probe(), Some(Instant(at * S)));
            assert_eq!(c.start(Instant(at * S)), Some((i % 3) as u16));
            assert_eq!(c.finish(Instant(at * S), &OK), None);
        }
    }

    #[test]
    fn http_failing_url_retries_then_is_rechecked_and_recovery_rechecks_all() {
        let mut c = CheckerVerdict::new(timing(1, false), urls(2, false), Instant(0), 0);
        assert_eq!(probe(&mut c, 0, OK), None); // url 0
        assert_eq!(probe(&mut c, 10 * S, OK), None); // url 1, first pass done
        assert_eq!(probe(&mut c, 20 * S, OK), None); // url 0
        assert_eq!(c.start(Instant(30 * S)), Some(1));
        assert_eq!(c.finish(Instant(30 * S), &FAIL), None); // url 1 fails
        assert_eq!(c.start(Instant(33 * S)), Some(1)); // retried after delay_before_retry
        assert_eq!(c.finish(Instant(33 * S), &FAIL), Some(false));
        // Down: the failed url is re-checked every max(delay_before_retry, delay_loop).
        assert_eq!(c.start(Instant(43 * S)), Some(1));
        assert_eq!(c.finish(Instant(43 * S), &FAIL), None);
        assert_eq!(c.start(Instant(53 * S)), Some(1));
        assert_eq!(c.finish(Instant(53 * S), &OK), None);
        // It passes: every url again, one per delay_loop, before the checker is up.
        assert_eq!(c.start(Instant(63 * S)), Some(0));
        assert_eq!(c.finish(Instant(63 * S), &OK), None);
        assert_eq!(c.start(Instant(73 * S)), Some(1));
        assert_eq!(c.finish(Instant(73 * S), &OK), Some(true));
    }

    #[test]
    fn http_fast_recovery_checks_the_next_url_at_once() {
        let mut c = CheckerVerdict::new(timing(1, true), urls(3, true), Instant(0), 0);
        assert_eq!(probe(&mut c, 0, OK), None);
        assert_eq!(probe(&mut c, 0, OK), None);
        assert_eq!(probe(&mut c, 0, OK), Some(true));
        // Up: back to one url per delay_loop.
        assert_eq!(c.next_probe(), Some(Instant(10 * S)));
    }

    #[test]
    fn http_alpha_walks_the_urls_before_coming_up() {
        let mut c = CheckerVerdict::new(timing(1, true), urls(2, false), Instant(0), 0);
        assert_eq!(probe(&mut c, 0, OK), None);
        assert_eq!(probe(&mut c, 10 * S, OK), Some(true));
    }

    fn rs(weight: u32, n: usize, t: Timing) -> RealServerVerdict {
        let checkers = (0..n)
            .map(|_| CheckerVerdict::new(t, Steps::One, Instant(0), 0))
            .collect();
        RealServerVerdict::new(weight, checkers)
    }

    #[test]
    fn real_server_is_down_while_any_checker_is_down() {
        let mut v = rs(5, 2, timing(0, false));
        assert!(v.alive());
        assert_eq!(v.poll_action(), None);
        assert_eq!(
            v.poll_probe(Instant(0)),
            Some(ProbeRequest { checker: 0, url: 0 })
        );
        assert_eq!(
            v.poll_probe(Instant(0)),
            Some(ProbeRequest { checker: 1, url: 0 })
        );
        assert_eq!(v.poll_probe(Instant(0)), None);
        assert_eq!(v.poll_timeout(), None);
        assert_eq!(v.handle_result(Instant(1), 0, &FAIL), Some(false));
        assert_eq!(v.poll_action(), Some(Action::Down));
        assert_eq!(v.poll_action(), None);
        assert_eq!(v.handle_result(Instant(1), 1, &FAIL), Some(false));
        assert_eq!(v.poll_action(), None);
        assert_eq!(v.poll_timeout(), Some(Instant(1 + 10 * S)));
        assert!(v.start_probe(0, Instant(1 + 10 * S)).is_some());
        assert_eq!(v.handle_result(Instant(1 + 10 * S), 0, &OK), Some(true));
        assert!(!v.alive());
        assert_eq!(v.poll_action(), None);
        assert!(v.start_probe(1, Instant(1 + 10 * S)).is_some());
        v.handle_result(Instant(1 + 10 * S), 1, &OK);
        assert_eq!(v.poll_action(), Some(Action::Up { weight: 5 }));
        assert_eq!(v.poll_action(), None);
    }

    #[test]
    fn alpha_real_server_starts_dead_without_an_action() {
        let mut v = rs(1, 1, timing(1, true));
        assert!(!v.alive());
        assert_eq!(v.poll_action(), None);
        v.poll_probe(Instant(0));
        v.handle_result(Instant(0), 0, &OK);
        assert_eq!(v.poll_action(), Some(Action::Up { weight: 1 }));
    }

    #[test]
    fn alpha_first_failure_is_reported_once_as_still_down() {
        let mut v = rs(1, 1, timing(2, true));
        assert_eq!(v.poll_action(), None);
        assert!(v.start_probe(0, Instant(0)).is_some());
        // No retry on the first check: down at once, as it started, and reported.
        assert_eq!(v.handle_result(Instant(0), 0, &FAIL), None);
        assert_eq!(v.poll_action(), Some(Action::StillDown));
        assert_eq!(v.poll_action(), None);
        // Later failures are not reported again.
        assert!(v.start_probe(0, Instant(10 * S)).is_some());
        assert_eq!(v.handle_result(Instant(10 * S), 0, &FAIL), None);
        assert_eq!(v.poll_action(), None);
        assert!(v.start_probe(0, Instant(20 * S)).is_some());
        v.handle_result(Instant(20 * S), 0, &OK);
        assert_eq!(v.poll_action(), Some(Action::Up { weight: 1 }));
    }

    #[test]
    fn alpha_first_failure_is_reported_per_checker_and_only_for_alpha() {
        // Two alpha checkers: each first failure is a report (keepalived notifies each).
        let mut v = rs(1, 2, timing(0, true));
        v.poll_probe(Instant(0));
        v.poll_probe(Instant(0));
        v.handle_result(Instant(0), 0, &FAIL);
        v.handle_result(Instant(0), 1, &FAIL);
        assert_eq!(v.poll_action(), Some(Action::StillDown));
        assert_eq!(v.poll_action(), Some(Action::StillDown));
        assert_eq!(v.poll_action(), None);
        // Without alpha, the first failure is a change: Down, not StillDown.
        let mut v = rs(1, 1, timing(2, false));
        v.poll_probe(Instant(0));
        assert_eq!(v.handle_result(Instant(0), 0, &FAIL), Some(false));
        assert_eq!(v.poll_action(), Some(Action::Down));
        assert_eq!(v.poll_action(), None);
        // An alpha checker whose first check passes: just Up.
        let mut v = rs(3, 1, timing(1, true));
        v.poll_probe(Instant(0));
        v.handle_result(Instant(0), 0, &OK);
        assert_eq!(v.poll_action(), Some(Action::Up { weight: 3 }));
        assert_eq!(v.poll_action(), None);
        // Resumed: it has run, so its failures are no first failure.
        let mut v = rs(1, 1, timing(0, true));
        v.resume(&[false]);
        v.poll_probe(Instant(0));
        v.handle_result(Instant(0), 0, &FAIL);
        assert_eq!(v.poll_action(), None);
    }

    #[test]
    fn alpha_http_reports_the_first_pass_failing() {
        let t = timing(1, true);
        let mut v = RealServerVerdict::new(
            1,
            vec![CheckerVerdict::new(t, urls(2, false), Instant(0), 0)],
        );
        // url 0 passes, url 1 fails: the first pass failed, reported once.
        v.poll_probe(Instant(0));
        assert_eq!(v.handle_result(Instant(0), 0, &OK), None);
        assert_eq!(v.poll_action(), None);
        v.poll_probe(Instant(10 * S));
        assert_eq!(v.handle_result(Instant(10 * S), 0, &FAIL), None);
        assert_eq!(v.poll_action(), Some(Action::StillDown));
        v.poll_probe(Instant(20 * S));
        v.handle_result(Instant(20 * S), 0, &FAIL);
        assert_eq!(v.poll_action(), None);
    }

    #[test]
    fn resumed_state_is_kept_without_an_action() {
        // A down server stays down after a restart, without waiting for a failure...
        let mut v = rs(4, 2, timing(1, false));
        v.resume(&[true, false]);
        assert!(!v.alive());
        assert_eq!(v.poll_action(), None);
        // ...and one success of the failed checker brings it back (it had run).
        v.poll_probe(Instant(0));
        v.poll_probe(Instant(0));
        assert_eq!(v.handle_result(Instant(0), 1, &OK), Some(true));
        assert_eq!(v.poll_action(), Some(Action::Up { weight: 4 }));
        // An alpha server that was up stays up.
        let mut v = rs(1, 1, timing(1, true));
        v.resume(&[true]);
        assert!(v.alive());
        assert_eq!(v.poll_action(), None);
        // A changed number of checkers starts over.
        let mut v = rs(1, 1, timing(1, true));
        v.resume(&[true, true]);
        assert!(!v.alive());
    }

    #[test]
    fn server_without_checkers_is_alive() {
        let mut v = RealServerVerdict::new(3, Vec::new());
        assert!(v.alive());
        assert_eq!(v.poll_timeout(), None);
        assert_eq!(v.poll_probe(Instant(0)), None);
        assert_eq!(v.poll_action(), None);
        assert_eq!(v.handle_result(Instant(0), 4, &OK), None);
    }

    #[test]
    fn misc_dynamic_weights() {
        let mut v = rs(3, 2, timing(0, false));
        let run = |v: &mut RealServerVerdict, at: u64, i: usize, r: ProbeResult| {
            assert!(v.start_probe(i, Instant(at)).is_some());
            v.handle_result(Instant(at), i, &r);
        };
        // One dynamic checker exiting 12: weight 10.
        run(&mut v, 0, 0, Ok(WeightEffect::Set(10)));
        assert_eq!(v.poll_action(), Some(Action::Weight(10)));
        // A second one exiting 7 (weight 5) adds its difference: 3 + 7 + 2.
        run(&mut v, 0, 1, Ok(WeightEffect::Set(5)));
        assert_eq!(v.poll_action(), Some(Action::Weight(12)));
        // Exit 0: that checker's share goes.
        run(&mut v, 10 * S, 0, Ok(WeightEffect::Reset));
        assert_eq!(v.poll_action(), Some(Action::Weight(5)));
        // A plain success keeps the share.
        run(&mut v, 10 * S, 1, OK);
        assert_eq!(v.poll_action(), None);
        // A failure takes the server down and drops the share.
        run(&mut v, 20 * S, 1, FAIL);
        assert_eq!(v.poll_action(), Some(Action::Down));
        assert_eq!(v.weight(), 3);
        run(&mut v, 30 * S, 1, Ok(WeightEffect::Set(0)));
        assert_eq!(v.poll_action(), Some(Action::Up { weight: 0 }));
    }

    #[test]
    fn file_offsets_clamp_to_ipvs_range() {
        let mut v = rs(10, 1, timing(0, false));
        v.poll_probe(Instant(0));
        v.handle_result(Instant(0), 0, &Ok(WeightEffect::Offset(-25)));
        assert_eq!(v.weight(), 0);
        assert_eq!(v.poll_action(), Some(Action::Weight(0)));
        v.poll_probe(Instant(10 * S));
        v.handle_result(Instant(10 * S), 0, &Ok(WeightEffect::Offset(i64::MAX)));
        assert_eq!(v.weight(), MAX_WEIGHT);
    }

    #[test]
    fn weight_change_while_down_is_reported_with_up() {
        let mut v = rs(4, 2, timing(0, false));
        v.poll_probe(Instant(0));
        v.poll_probe(Instant(0));
        v.handle_result(Instant(0), 0, &FAIL);
        assert_eq!(v.poll_action(), Some(Action::Down));
        v.handle_result(Instant(0), 1, &Ok(WeightEffect::Set(9)));
        assert_eq!(v.poll_action(), None);
        v.poll_probe(Instant(10 * S));
        v.handle_result(Instant(10 * S), 0, &OK);
        assert_eq!(v.poll_action(), Some(Action::Up { weight: 9 }));
    }
}
