//! The health-check daemon (keepalived's checker child, `keeplite: check`): runs every real
//! server's checkers as tasks of one `check::executor` on one thread, turns verdicts into the
//! IPVS table `lvs` computes, and applies only the differences to the kernel.
//!
//! The main loop is the one place the thread waits: it polls the woken checker tasks, handles
//! the real-server actions they queued, runs the 1 s housekeeping tick (heartbeat to the
//! watchdog, health report when something changed), then blocks in `reactor::wait` (fds,
//! timers, the signalfd and the watchdog link in one epoll) until something is ready.
//!
//! Restart and reload: the watchdog keeps the last health report; a restarted child starts
//! each real server in that state (so the IPVS table it finds already matches and stays as it
//! is), and a reload carries the states of the real servers that remain into the new config.
//! Services the new config no longer has are removed; the others change only where they differ.

use super::child::{self, ParentLink};
use super::link::{
    ChildStatus, Health, Link, RealServerStatus, ToChild, ToParent, VirtualServerStatus,
};
use super::notify::Notifier;
use super::{Options, PidFile};
use crate::check::probe::{Check, Context};
use crate::check::run::{Runner, Spread, MAX_IN_FLIGHT};
use crate::check::verdict::{Action, RealServerVerdict, TimingShare};
use crate::config::compact::Few;
use crate::config::model::{Config, RealServer, VirtualServer};
use crate::lvs::diff::apply;
use crate::lvs::{diff, Op, Table};
use crate::lvs::{owned_keys, CheckerId, Event, HealthState, Lvs};
use crate::sys::event::{Signal, SignalSet};
use crate::sys::ipvs::Ipvs;
use crate::sys::reactor::{self, Readiness};
use crate::sys::script::{Child, UserDb};
use crate::time::Micros;
use crate::wire::ipvs::ServiceKey;
use log::{error, info, warn};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};

/// How often the loop reaps finished notify scripts even without a SIGCHLD.
const TICK: Micros = Micros(1_000_000);

/// The checker child: gets its config from the watchdog and runs until SIGTERM/SIGINT;
/// a reload from the watchdog starts a new round with the new config and the current health.
/// Returns the exit code.
pub fn run_child(mut link: Link, opts: Options) -> i32 {
    let start = child::receive_start(&mut link);
    let mut parent = ParentLink::new(link);
    let (mut config, resume) = match start {
        Ok(x) => x,
        Err(e) => return child::fatal(&mut parent, e),
    };
    // The signals go to the reactor's signalfd (blocked in this thread, the process's only one).
    if let Err(e) = reactor::watch_signals(SignalSet::DAEMON) {
        return child::fatal(&mut parent, format!("event loop: {e}"));
    }
    let _pid = match PidFile::create(opts.pid_file.as_ref()) {
        Ok(p) => p,
        Err(e) => return child::fatal(&mut parent, format!("pid file: {e}")),
    };
    let watch = match parent
        .as_fd()
        .try_clone_to_owned()
        .and_then(reactor::Async::new)
    {
        Ok(w) => w,
        Err(e) => return child::fatal(&mut parent, format!("watchdog link: {e}")),
    };
    let mut ipvs = match Ipvs::open() {
        Ok(i) => i,
        Err(e) => return child::fatal(&mut parent, e.to_string()),
    };
    let users = match UserDb::load() {
        Ok(u) => u,
        Err(e) => return child::fatal(&mut parent, format!("reading users: {e}")),
    };
    let mut health = resume.health;
    let mut previous: Vec<ServiceKey> = Vec::new();
    let mut carry = Carry::default();
    loop {
        let mut round = Round {
            parent: &mut parent,
            watch: &watch,
            ipvs: &mut ipvs,
            users: &users,
            opts: &opts,
        };
        match round.run(&mut config, &health, &previous, carry) {
            Ok(End::Stop) => return 0,
            Ok(End::Reload {
                config: new,
                health: now,
                carry: next,
            }) => {
                previous = owned_keys(&config);
                let before = std::mem::replace(&mut config, *new);
                carry = next;
                carry.before = Some(Box::new(before));
                health = now;
            }
            Err(e) => {
                error!("{e}");
                return 1;
            }
        }
    }
}

/// Why a round ended.
enum End {
    Stop,
    Reload {
        config: Box<Config>,
        health: Vec<Health>,
        carry: Carry,
    },
}

/// What a reload hands from one round to the next besides the real servers' health, so that
/// the notifications follow keepalived's reload (check_daemon.c reload_check_thread,
/// ipwrapper.c clear_diff_services): the FIFOs are reopened first, then the real servers the
/// new config drops go down (notify_down and their line), and the virtual servers it keeps keep
/// their quorum state (quorum_up/down and the line only where it changes).
#[derive(Default)]
struct Carry {
    /// The config before the reload: the dropped servers' scripts and lines are its.
    before: Option<Box<Config>>,
    /// Those servers' notifications, indices into `before`.
    dropped: Vec<Event>,
    /// The quorum state of each virtual server, by [`vs_label`].
    quorum: Vec<(String, bool)>,
    /// Notify scripts still running, reaped by the next round.
    children: Vec<Child>,
}

/// What lives across rounds (reloads).
struct Round<'a> {
    parent: &'a mut ParentLink,
    watch: &'a reactor::Async<OwnedFd>,
    ipvs: &'a mut Ipvs,
    users: &'a UserDb,
    opts: &'a Options,
}

/// A round's IPVS and pool state once it has started.
struct Started {
    /// The services this config owns.
    owned: Vec<ServiceKey>,
    /// Those and the ones the config before a reload owned.
    managed: Vec<ServiceKey>,
    /// The kernel's table of the managed services, as last read or changed.
    current: Table,
    lvs: Lvs,
    notifier: Notifier,
}

impl Round<'_> {
    /// One config's run: `resume` are real server states to start from, `previous` the
    /// services the config before a reload owned (removed if this one does not have them),
    /// `carry` what else the round before a reload left.
    ///
    /// Start-up ([`Round::start`], [`prepare_checks`]) and the end ([`Round::finish`]) are
    /// functions of their own, never inlined: the loop's code stays small and apart from theirs
    /// (cross/order lays out what the loop runs together).
    fn run(
        &mut self,
        config: &mut Config,
        resume: &[Health],
        previous: &[ServiceKey],
        carry: Carry,
    ) -> Result<End, String> {
        let Started {
            owned,
            managed,
            mut current,
            mut lvs,
            mut notifier,
        } = self.start(config, resume, previous, carry);
        let spread = Spread::from_clock();
        let (verdicts, checks) = prepare_checks(config, resume, self.users, &spread);
        drop_checker_settings(config);
        let config: &Config = config;
        let mut runner = Runner::new(&checks, verdicts, MAX_IN_FLIGHT, spread);
        // A turn queues at most a couple of actions per finished probe.
        let mut actions = VecDeque::<(usize, Action)>::with_capacity(2 * MAX_IN_FLIGHT);

        let mut next_tick = reactor::now() + TICK;
        // The real servers whose state changed this loop turn, reported to the watchdog at the
        // end of the turn, so that a restarted child resumes from the latest state.
        let mut changed: Vec<usize> = Vec::new();
        let places = Places::new(config);
        let mut settled = false;
        send_health(self.parent, config, runner.verdicts());
        self.parent.beat(reactor::now());
        // Set-up ran code and stack the loop will not.
        crate::sys::process::release_start_up_pages();
        let end = loop {
            runner.turn(reactor::now(), &mut |k, action| {
                actions.push_back((k, action))
            });
            while let Some((k, action)) = actions.pop_front() {
                let (v, r) = places.of(k);
                let rs = &config.virtual_servers[v].real_servers[r];
                let (alive, weight) = match action {
                    Action::Up { weight } | Action::Weight(weight) => (true, weight),
                    Action::Down => (false, rs.weight),
                    Action::StillDown => {
                        // keepalived notifies an alpha server's first failure though nothing
                        // changes: notify_down and its line, IPVS and the health as they are.
                        info!("real server {}:{} down (alpha)", rs.addr, rs.port);
                        let down = Event::RealServerDown { vs: v, rs: r };
                        run_events(config, &mut notifier, &[down]);
                        continue;
                    }
                };
                info!(
                    "real server {}:{} {} (weight {weight})",
                    rs.addr,
                    rs.port,
                    if alive { "up" } else { "down" }
                );
                let update = lvs.real_server(config, v, r, alive, weight);
                let events: Vec<Event> = update.events().collect();
                run_events(config, &mut notifier, &events);
                if let Some(vs) = update.changed {
                    let wanted = lvs.virtual_server_table(config, vs);
                    let keys: Vec<ServiceKey> = wanted.iter().map(|(s, _)| s.key).collect();
                    let ops = diff(&wanted, &current, &keys);
                    apply_ops(self.ipvs, &mut current, ops);
                }
                if !changed.contains(&k) {
                    changed.push(k);
                }
            }
            if !changed.is_empty() {
                let records = changed
                    .drain(..)
                    .filter_map(|k| {
                        let (v, r) = places.of(k);
                        Some(health_of(config, v, r, runner.verdicts().get(k)?))
                    })
                    .collect();
                self.parent.send(&ToParent::HealthChanged(records));
            }
            let now = reactor::now();
            if now >= next_tick {
                notifier.reap(now);
                next_tick = now + TICK;
                if !settled && runner.first_round_done() {
                    // The first results (every server reported, logged, maybe moved in IPVS)
                    // ran code the steady state will not: let its pages go too.
                    settled = true;
                    crate::sys::process::release_start_up_pages();
                }
            }
            self.parent.beat(now);
            // Tasks woken while the others ran must run before the loop sleeps.
            let mut until = next_tick.min(self.parent.next_deadline());
            if let Some(at) = runner.next_wake() {
                until = until.min(at);
            }
            let signals = match reactor::wait(Some(until)) {
                Ok(signals) => signals,
                Err(e) => break Err(format!("event loop: {e}")),
            };
            if signals.contains(Signal::Term) || signals.contains(Signal::Int) {
                crate::sys::process::end_of_steady_state();
                break Ok(None);
            }
            if signals.contains(Signal::Hup) {
                warn!("SIGHUP to the checker child: reloads go through the watchdog (its pid file, or `keeplite reload`)");
            }
            if signals.contains(Signal::Chld) {
                notifier.reap(reactor::now());
            }
            if self.watch.readiness().readable() || self.watch.readiness().hangup() {
                // Edge-triggered: clear first, then read until the socket is empty.
                self.watch.clear(Readiness::READABLE);
                let messages = match self.parent.read() {
                    Ok(m) => m,
                    Err(e) => {
                        warn!("link to the watchdog: {e}; stopping");
                        break Ok(None);
                    }
                };
                let mut reload = None;
                for m in messages {
                    match m {
                        ToChild::Reload { config } => match child::decode_config(&config) {
                            Ok(c) => reload = Some(c),
                            Err(e) => error!("reload: {e}"),
                        },
                        ToChild::Status => {
                            let status = status(config, &lvs);
                            self.parent.send(&ToParent::Status(status));
                        }
                        ToChild::Start { .. } => warn!("watchdog sent a second start; ignored"),
                    }
                }
                if let Some(c) = reload {
                    break Ok(Some(c));
                }
            }
        };
        let report = health_report(config, runner.verdicts());
        drop(runner);
        let started = Started {
            owned,
            managed,
            current,
            lvs,
            notifier,
        };
        self.finish(end, config, report, started)
    }

    /// The round's start: the kernel's table read and brought to what the config and the
    /// resumed health want, the start's notifications run.
    #[inline(never)]
    fn start(
        &mut self,
        config: &Config,
        resume: &[Health],
        previous: &[ServiceKey],
        carry: Carry,
    ) -> Started {
        let users = self.users;
        let owned = owned_keys(config);
        let mut managed = owned.clone();
        managed.extend(previous.iter().filter(|k| !owned.contains(k)).cloned());
        let mut current = kernel_table(self.ipvs, &managed);
        let (start_health, resumed) = initial_health(config, resume);
        let known_quorum = |v: usize| {
            let label = vs_label(&config.virtual_servers[v]);
            carry
                .quorum
                .iter()
                .find(|(l, _)| *l == label)
                .map(|&(_, up)| up)
        };
        let (lvs, quorum_events) = Lvs::start_with(config, start_health, known_quorum);
        let start_events = if config.global.rs_init_notifies {
            let before = carry.before.as_deref();
            start_notifications(config, &lvs, &quorum_events, |vs, rs| {
                before.is_some_and(|b| has_real_server(b, vs, rs))
            })
        } else {
            quorum_events
        };
        let wanted = lvs.desired(config);
        let ops = diff(&wanted, &current, &managed);
        // The whole wanted table is memory per real server: not kept for the round.
        drop(wanted);
        if resumed > 0 {
            info!(
                "{resumed} real server(s) resume their last known state ({} IPVS change(s))",
                ops.len()
            );
        }
        apply_ops(self.ipvs, &mut current, ops);
        // The mirror grew by pushes: its slack is memory per real server for the round's life.
        current.shrink_to_fit();
        for (_, dests) in &mut current {
            dests.shrink_to_fit();
        }
        // The real global_defs: script_user and enable_script_security apply to notify_up/down
        // and quorum_up/down too.
        let mut notifier = Notifier::for_checker(config, users.clone(), reactor::now());
        notifier.adopt(carry.children);
        if let Some(before) = &carry.before {
            run_events(before, &mut notifier, &carry.dropped);
        }
        drop(carry.before);
        run_events(config, &mut notifier, &start_events);
        info!(
            "keeplite {} checker: {} virtual server(s), {} IPVS service(s)",
            env!("CARGO_PKG_VERSION"),
            config.virtual_servers.len(),
            current.len()
        );

        Started {
            owned,
            managed,
            current,
            lvs,
            notifier,
        }
    }

    /// The round's end: on a reload, what the next round needs; on a stop, the shutdown's
    /// notifications and IPVS removal.
    #[inline(never)]
    fn finish(
        &mut self,
        end: Result<Option<Config>, String>,
        config: &Config,
        report: Vec<Health>,
        started: Started,
    ) -> Result<End, String> {
        let Started {
            owned,
            managed,
            mut current,
            lvs,
            mut notifier,
        } = started;
        match end {
            Ok(Some(new)) => {
                info!(
                    "reloading: {} real server(s) keep their state",
                    report.len()
                );
                // Services the new config drops go now; the rest is diffed by the next round.
                let keep = owned_keys(&new);
                let gone: Vec<ServiceKey> = owned
                    .iter()
                    .filter(|k| !keep.contains(k))
                    .cloned()
                    .collect();
                if !gone.is_empty() {
                    let ops = diff(&Vec::new(), &current, &gone);
                    apply_ops(self.ipvs, &mut current, ops);
                }
                let carry = Carry {
                    before: None,
                    dropped: dropped_events(config, &lvs, &new),
                    quorum: (0..config.virtual_servers.len())
                        .map(|v| (vs_label(&config.virtual_servers[v]), lvs.quorum_up(v)))
                        .collect(),
                    // Closes the FIFOs (the next round opens them again, maybe others).
                    children: notifier.into_children(),
                };
                self.parent.send(&ToParent::Health(report.clone()));
                Ok(End::Reload {
                    config: Box::new(new),
                    health: report,
                    carry,
                })
            }
            Ok(None) => {
                info!("stopping");
                // keepalived kills its scripts, the FIFO readers among them, before the
                // shutdown notifications, and sends none with -I (it leaves IPVS as it is).
                notifier.stop_readers();
                if !self.opts.dont_release_ipvs {
                    let events = lvs.shutdown_actions(config);
                    run_events(config, &mut notifier, &events);
                    let ops = diff(&Vec::new(), &current, &managed);
                    apply_ops(self.ipvs, &mut current, ops);
                }
                Ok(End::Stop)
            }
            Err(e) => Err(e),
        }
    }
}

/// Every real server's verdict machine (resumed from `resume` where it has a record) and its
/// prepared checks, in config order.
#[inline(never)]
fn prepare_checks(
    config: &Config,
    resume: &[Health],
    users: &UserDb,
    spread: &Spread,
) -> (Vec<RealServerVerdict>, Vec<Few<Option<Check>>>) {
    // Every checker prepared once; a checker that cannot run (unknown user, insecure
    // script) is reported and left out, as keepalived disables it.
    let cx = Context {
        track_files: &config.track_files,
        users,
        script_user: config.global.script_user.as_ref(),
        script_security: config.global.enable_script_security,
    };
    let now = reactor::refresh_now();
    let real_servers = config
        .virtual_servers
        .iter()
        .map(|vs| vs.real_servers.len())
        .sum();
    let mut verdicts = Vec::with_capacity(real_servers);
    let mut checks: Vec<Few<Option<Check>>> = Vec::with_capacity(real_servers);
    let mut share = TimingShare::default();
    for (k, (_, vs, _, rs)) in real_servers_of(config).enumerate() {
        let mut verdict =
            RealServerVerdict::from_config(vs, rs, now, &mut || spread.next(), &mut share);
        if let Some(h) = find_health(resume, k, vs, rs) {
            verdict.resume(&h.checkers);
        }
        verdicts.push(verdict);
        checks.push(
            rs.checkers
                .iter()
                .map(|c| match Check::prepare(vs, rs, c, &cx) {
                    Ok(check) => Some(check),
                    Err(e) => {
                        error!(
                            "real server {}:{}: checker left out: {e:?}",
                            rs.addr, rs.port
                        );
                        None
                    }
                })
                .collect(),
        );
    }
    (verdicts, checks)
}

/// A virtual server's name in logs, status and health reports.
pub fn vs_label(vs: &VirtualServer) -> String {
    use crate::config::model::ServiceKey as VsKey;
    match &vs.key {
        VsKey::Addr { addr, port } => {
            let protocol = format!("{:?}", vs.protocol).to_uppercase();
            match addr {
                IpAddr::V6(a) => format!("[{a}]:{port} {protocol}"),
                IpAddr::V4(a) => format!("{a}:{port} {protocol}"),
            }
        }
        VsKey::Fwmark { mark } => format!("fwmark {mark}"),
        VsKey::Group { name } => format!("group {name}"),
    }
}

/// The record of `rs` in `vs`, which is real server `k` in config order: a restarted child
/// finds it at `k` (the report is in config order), so the search is for reloads only.
fn find_health<'h>(
    records: &'h [Health],
    k: usize,
    vs: &VirtualServer,
    rs: &RealServer,
) -> Option<&'h Health> {
    if records.is_empty() {
        return None;
    }
    let label = vs_label(vs);
    let addr = SocketAddr::new(rs.addr, rs.port);
    let matches = |h: &&Health| h.real_server == addr && h.virtual_server == label;
    records
        .get(k)
        .filter(matches)
        .or_else(|| records.iter().find(matches))
}

/// The health to start from: the resumed records where they match (same virtual server, real
/// server and number of checkers), else the initial state. Also how many matched.
fn initial_health(config: &Config, records: &[Health]) -> (HealthState, usize) {
    let mut state = HealthState::initial(config);
    let mut resumed = 0;
    for (k, (v, vs, r, rs)) in real_servers_of(config).enumerate() {
        let Some(h) = find_health(records, k, vs, rs) else {
            continue;
        };
        if h.checkers.len() != rs.checkers.len() {
            continue;
        }
        for (c, &up) in h.checkers.iter().enumerate() {
            let id = CheckerId {
                vs: v,
                rs: r,
                checker: c,
            };
            let weight = state.checker(id).map_or(0, |c| c.weight);
            state.set_checker(config, id, up, weight);
        }
        resumed += 1;
    }
    (state, resumed)
}

/// Every real server's health, in config order (`verdicts` pairs with the real servers).
fn health_report(config: &Config, verdicts: &[RealServerVerdict]) -> Vec<Health> {
    health_records(config, verdicts).collect()
}

fn health_records<'c>(
    config: &'c Config,
    verdicts: &'c [RealServerVerdict],
) -> impl Iterator<Item = Health> + 'c {
    real_servers_of(config)
        .zip(verdicts)
        .map(|((v, _, r, _), verdict)| health_of(config, v, r, verdict))
}

/// Every real server in config order (the runner's order), with its place: (virtual server
/// index, virtual server, real server index, real server).
fn real_servers_of(
    config: &Config,
) -> impl Iterator<Item = (usize, &VirtualServer, usize, &RealServer)> {
    config
        .virtual_servers
        .iter()
        .enumerate()
        .flat_map(|(v, vs)| {
            vs.real_servers
                .iter()
                .enumerate()
                .map(move |(r, rs)| (v, vs, r, rs))
        })
}

/// The checkers' settings live on in the prepared checks and the verdicts; the config keeps
/// the rest of each real server (IPVS, notify scripts, reload matching). A reload brings a
/// whole new config.
fn drop_checker_settings(config: &mut Config) {
    for vs in &mut config.virtual_servers {
        for rs in &mut vs.real_servers {
            rs.checkers = Vec::new();
        }
    }
}

/// Where the runner's server `k` is in the config: real servers numbered in config order.
struct Places {
    /// Per virtual server, the number of real servers up to and including its own.
    end_of: Vec<usize>,
}

impl Places {
    fn new(config: &Config) -> Places {
        let end_of = config
            .virtual_servers
            .iter()
            .scan(0, |n, vs| {
                *n += vs.real_servers.len();
                Some(*n)
            })
            .collect();
        Places { end_of }
    }

    /// (virtual server, real server) of server `k`: the first virtual server whose real
    /// servers end past `k` (empty ones end where the previous did, so they are skipped).
    fn of(&self, k: usize) -> (usize, usize) {
        let v = self.end_of.partition_point(|&end| end <= k);
        let first = match v {
            0 => 0,
            _ => self.end_of.get(v - 1).copied().unwrap_or(0),
        };
        (v, k - first)
    }
}

/// Real servers per message of the start's health report.
const HEALTH_CHUNK: usize = 256;

/// The start's health report, [`HEALTH_CHUNK`] real servers a message: built whole, the report
/// of 10,000 real servers is a megabyte of small allocations made last and freed at once,
/// which the allocator keeps for the life of the child.
#[inline(never)]
fn send_health(parent: &mut ParentLink, config: &Config, verdicts: &[RealServerVerdict]) {
    let mut records = health_records(config, verdicts);
    parent.send(&ToParent::Health(
        records.by_ref().take(HEALTH_CHUNK).collect(),
    ));
    loop {
        let chunk: Vec<Health> = records.by_ref().take(HEALTH_CHUNK).collect();
        if chunk.is_empty() {
            return;
        }
        parent.send(&ToParent::HealthMore(chunk));
    }
}

fn health_of(config: &Config, v: usize, r: usize, verdict: &RealServerVerdict) -> Health {
    let vs = &config.virtual_servers[v];
    let rs = &vs.real_servers[r];
    Health {
        virtual_server: vs_label(vs),
        real_server: SocketAddr::new(rs.addr, rs.port),
        up: verdict.alive(),
        weight: verdict.weight(),
        checkers: verdict.checkers().iter().map(|c| c.is_up()).collect(),
    }
}

fn status(config: &Config, lvs: &Lvs) -> ChildStatus {
    let health = lvs.health();
    let virtual_servers = config
        .virtual_servers
        .iter()
        .enumerate()
        .map(|(v, vs)| VirtualServerStatus {
            name: vs_label(vs),
            quorum_up: lvs.quorum_up(v),
            real_servers: vs
                .real_servers
                .iter()
                .enumerate()
                .map(|(r, rs)| RealServerStatus {
                    addr: SocketAddr::new(rs.addr, rs.port),
                    up: health.is_alive(v, r),
                    weight: if health.is_alive(v, r) {
                        health.ipvs_weight(v, r)
                    } else {
                        0
                    },
                })
                .collect(),
        })
        .collect();
    ChildStatus::Check { virtual_servers }
}

/// The kernel's entries for the services we manage (others are none of our business).
fn kernel_table(ipvs: &mut Ipvs, owned: &[ServiceKey]) -> Table {
    let services = match ipvs.services() {
        Ok(s) => s,
        Err(e) => {
            error!("{e}");
            return Vec::new();
        }
    };
    services
        .into_iter()
        .filter(|s| owned.contains(&s.key))
        .map(|s| {
            let dests = ipvs.destinations(&s.key).unwrap_or_else(|e| {
                error!("{e}");
                Vec::new()
            });
            (s, dests)
        })
        .collect()
}

/// Carries out each operation; the mirror of the kernel table follows what succeeded.
fn apply_ops(ipvs: &mut Ipvs, current: &mut Table, ops: Vec<Op>) {
    for op in ops {
        let result = match &op {
            Op::AddService(s) => ipvs.add_service(s),
            Op::EditService(s) => ipvs.edit_service(s),
            Op::DelService(k) => ipvs.del_service(k),
            Op::AddDest(k, d) => ipvs.add_dest(k, d),
            Op::EditDest(k, d) => ipvs.edit_dest(k, d),
            Op::DelDest(k, addr, port) => ipvs.del_dest(k, *addr, *port),
        };
        match result {
            Ok(()) => {}
            Err(e) if matches!(op, Op::DelService(_)) && e.is_no_service() => {}
            Err(e) if matches!(op, Op::DelDest(..)) && e.is_no_dest() => {}
            Err(e) => {
                error!("{e}");
                continue;
            }
        }
        if let Err(e) = apply(current, &op) {
            warn!("IPVS mirror out of step: {e:?}");
        }
    }
}

/// Each event's script and FIFO line, and a log line for quorum changes.
fn run_events(config: &Config, notifier: &mut Notifier, events: &[Event]) {
    let now = reactor::now();
    for &event in events {
        match event {
            Event::QuorumUp { vs } => info!("virtual server {vs}: quorum up"),
            Event::QuorumDown { vs } => info!("virtual server {vs}: quorum down"),
            Event::RealServerUp { .. } | Event::RealServerDown { .. } => {}
        }
        notifier.lvs_event(now, config, event);
    }
}

/// The notifications of a round's start in keepalived's order (ipwrapper.c init_services:
/// each virtual server's real servers, then its quorum) with `rs_init_notifies`: each real
/// server that starts alive is notified up (notify_up, its line) before its virtual server's
/// `quorum` event, except those a reload kept (`kept(vs, rs)`: keepalived does not re-add
/// them). An alpha server starts down: it is notified when it comes up.
fn start_notifications(
    config: &Config,
    lvs: &Lvs,
    quorum: &[Event],
    kept: impl Fn(&VirtualServer, &RealServer) -> bool,
) -> Vec<Event> {
    let health = lvs.health();
    let mut events = Vec::with_capacity(quorum.len());
    for (v, vs) in config.virtual_servers.iter().enumerate() {
        for (r, rs) in vs.real_servers.iter().enumerate() {
            if health.is_alive(v, r) && !kept(vs, rs) {
                events.push(Event::RealServerUp { vs: v, rs: r });
            }
        }
        events.extend(quorum.iter().filter(|e| event_vs(e) == v));
    }
    events
}

fn event_vs(event: &Event) -> usize {
    match *event {
        Event::RealServerUp { vs, .. }
        | Event::RealServerDown { vs, .. }
        | Event::QuorumUp { vs }
        | Event::QuorumDown { vs } => vs,
    }
}

/// Whether `config` has `rs` of `vs` (the virtual server by [`vs_label`], the real server by
/// address and port), as a reload matches them.
fn has_real_server(config: &Config, vs: &VirtualServer, rs: &RealServer) -> bool {
    let label = vs_label(vs);
    config
        .virtual_servers
        .iter()
        .filter(|v| vs_label(v) == label)
        .any(|v| {
            v.real_servers
                .iter()
                .any(|k| k.addr == rs.addr && k.port == rs.port)
        })
}

/// What a reload to `new` drops from `config`: the notifications of
/// [`Lvs::reload_drop_actions`], the virtual servers matched by [`vs_label`] and the real
/// servers by address and port.
fn dropped_events(config: &Config, lvs: &Lvs, new: &Config) -> Vec<Event> {
    let labels: Vec<String> = new.virtual_servers.iter().map(vs_label).collect();
    let counterpart: Vec<Option<&VirtualServer>> = config
        .virtual_servers
        .iter()
        .map(|vs| {
            let label = vs_label(vs);
            labels
                .iter()
                .position(|l| *l == label)
                .map(|i| &new.virtual_servers[i])
        })
        .collect();
    lvs.reload_drop_actions(
        config,
        |v| counterpart[v].is_some(),
        |v, r| {
            let rs = &config.virtual_servers[v].real_servers[r];
            counterpart[v].is_some_and(|n| {
                n.real_servers
                    .iter()
                    .any(|k| k.addr == rs.addr && k.port == rs.port)
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::lvs::HealthState;

    use crate::config::parse_valid as config;

    /// Two virtual servers: the first with a plain server, an alpha one (down at start) and
    /// one without checkers; the second with a plain server and an alpha one, quorum 2 (not
    /// met at start) and a sorry server (so that starting without quorum is notified).
    const TWO_SERVICES: &str = "
        virtual_server 10.0.0.1 80 {
            protocol TCP
            real_server 192.168.1.2 80 { TCP_CHECK { } }
            real_server 192.168.1.3 80 { TCP_CHECK { alpha } }
            real_server 192.168.1.4 80 { }
        }
        virtual_server 10.0.0.2 443 {
            protocol TCP
            quorum 2
            sorry_server 192.168.1.9 443
            real_server 192.168.1.5 443 { TCP_CHECK { } }
            real_server 192.168.1.6 443 { TCP_CHECK { alpha } }
        }";

    /// `counts[v]` real servers with a TCP_CHECK in virtual server v.
    fn servers(counts: &[usize]) -> Config {
        let mut text = String::new();
        for (v, &n) in counts.iter().enumerate() {
            text += &format!("virtual_server 10.0.0.{} 80 {{\n protocol TCP\n", v + 1);
            for r in 0..n {
                text += &format!(
                    " real_server 10.{v}.{}.{} 80 {{ TCP_CHECK {{ }} }}\n",
                    r / 250,
                    r % 250 + 1
                );
            }
            text += "}\n";
        }
        config(&text)
    }

    #[test]
    fn places_number_real_servers_in_config_order_across_empty_virtual_servers() {
        // The parser drops empty virtual servers; a config built otherwise may have them.
        let mut c = servers(&[2, 1, 3, 1, 1]);
        c.virtual_servers[1].real_servers.clear();
        c.virtual_servers[3].real_servers.clear();
        let places = Places::new(&c);
        let all: Vec<(usize, usize)> = (0..6).map(|k| places.of(k)).collect();
        assert_eq!(all, [(0, 0), (0, 1), (2, 0), (2, 1), (2, 2), (4, 0)]);
    }

    #[test]
    fn the_start_health_report_goes_in_chunks_the_watchdog_puts_together() {
        use super::super::link::Resume;
        use std::os::unix::net::UnixStream;
        let c = servers(&[300, 1, 300]);
        let now = reactor::refresh_now();
        let verdicts: Vec<RealServerVerdict> = c
            .virtual_servers
            .iter()
            .flat_map(|vs| vs.real_servers.iter().map(move |rs| (vs, rs)))
            .map(|(vs, rs)| {
                RealServerVerdict::from_config(vs, rs, now, &mut || 0, &mut TimingShare::default())
            })
            .collect();
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let mut parent = ParentLink::new(Link::new(ours).expect("link"));
        send_health(&mut parent, &c, &verdicts);
        drop(parent);
        let mut watchdog = Link::new(theirs).expect("link");
        let mut resume = Resume::default();
        let mut messages = 0;
        while let Ok(m) = watchdog.recv_blocking::<ToParent>() {
            messages += 1;
            super::super::watchdog::keep(&mut resume, m);
        }
        assert_eq!(messages, 3, "601 records in chunks of {HEALTH_CHUNK}");
        assert_eq!(resume.health, health_report(&c, &verdicts));
        assert_eq!(resume.health.len(), 601);
    }

    fn start(c: &Config) -> (Lvs, Vec<Event>) {
        Lvs::start(c, HealthState::initial(c))
    }

    #[test]
    fn rs_init_notifies_puts_each_server_starting_up_before_its_quorum() {
        let c = config(TWO_SERVICES);
        let (lvs, quorum) = start(&c);
        assert_eq!(
            quorum,
            [Event::QuorumUp { vs: 0 }, Event::QuorumDown { vs: 1 }]
        );
        let events = start_notifications(&c, &lvs, &quorum, |_, _| false);
        assert_eq!(
            events,
            [
                Event::RealServerUp { vs: 0, rs: 0 },
                // 192.168.1.3 is alpha: down at start, notified when it comes up (or fails).
                Event::RealServerUp { vs: 0, rs: 2 },
                Event::QuorumUp { vs: 0 },
                // Up though its virtual server lacks quorum: keepalived notifies it first.
                Event::RealServerUp { vs: 1, rs: 0 },
                Event::QuorumDown { vs: 1 },
            ]
        );
    }

    #[test]
    fn a_reload_notifies_only_the_new_servers() {
        let before = config(TWO_SERVICES);
        // 192.168.1.2 stays, 192.168.1.6 is new; the second virtual server's port changes, so
        // it is a new service and its server a new one too.
        let after = config(
            "virtual_server 10.0.0.1 80 {
                protocol TCP
                real_server 192.168.1.2 80 { TCP_CHECK { } }
                real_server 192.168.1.6 80 { TCP_CHECK { } }
            }
            virtual_server 10.0.0.2 8443 {
                protocol TCP
                real_server 192.168.1.5 443 { TCP_CHECK { } }
            }",
        );
        let (lvs, quorum) = start(&after);
        let events = start_notifications(&after, &lvs, &quorum, |vs, rs| {
            has_real_server(&before, vs, rs)
        });
        assert_eq!(
            events,
            [
                Event::RealServerUp { vs: 0, rs: 1 },
                Event::QuorumUp { vs: 0 },
                Event::RealServerUp { vs: 1, rs: 0 },
                Event::QuorumUp { vs: 1 },
            ]
        );
    }

    #[test]
    fn the_start_lines_with_rs_init_notifies() {
        let c = config(TWO_SERVICES);
        let (lvs, quorum) = start(&c);
        let lines: Vec<String> = start_notifications(&c, &lvs, &quorum, |_, _| false)
            .into_iter()
            .filter_map(|e| super::super::notify::lvs_line(&c, e))
            .collect();
        assert_eq!(
            lines.concat(),
            "RS [192.168.1.2]:tcp:80 [10.0.0.1]:tcp:80 UP\n\
             RS [192.168.1.4]:tcp:80 [10.0.0.1]:tcp:80 UP\n\
             VS [10.0.0.1]:tcp:80 UP\n\
             RS [192.168.1.5]:tcp:443 [10.0.0.2]:tcp:443 UP\n\
             VS [10.0.0.2]:tcp:443 DOWN\n"
        );
    }
}
