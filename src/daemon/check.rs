//! The health-check daemon (keepalived's checker child, `-C`): runs every real server's checkers
//! as tasks of one `check::executor` on one thread, turns verdicts into the IPVS table `lvs`
//! computes, and applies only the differences to the kernel.
//!
//! The main loop is the one place the thread waits: it polls the woken checker tasks, handles
//! the real-server actions they queued, runs the 1 s housekeeping tick, then blocks in
//! `reactor::wait` (fds, timers and the signalfd in one epoll) until something is ready. Another
//! source (a socket to the parent) is an `Async` registered with the reactor and looked at after
//! each wait (`Async::readiness`), or a task of its own.

use super::notify::Notifier;
use super::{Options, PidFile};
use crate::check::executor::Executor;
use crate::check::probe::{Check, Context};
use crate::check::run::{run_checker, Slots, Spread, MAX_IN_FLIGHT};
use crate::check::verdict::{Action, RealServerVerdict};
use crate::config::model::Config;
use crate::lvs::diff::apply;
use crate::lvs::{diff, Op, Table};
use crate::lvs::{owned_keys, Event, HealthState, Lvs};
use crate::sys::event::{Signal, SignalSet};
use crate::sys::ipvs::Ipvs;
use crate::sys::reactor;
use crate::sys::script::UserDb;
use crate::time::Micros;
use crate::wire::ipvs::ServiceKey;
use log::{error, info, warn};
use std::cell::RefCell;
use std::collections::VecDeque;

/// How often the loop reaps finished notify scripts even without a SIGCHLD.
const TICK: Micros = Micros(1_000_000);

/// Runs until SIGTERM or SIGINT.
pub fn run(config: Config, opts: Options) -> Result<(), String> {
    // The signals go to the reactor's signalfd (blocked in this thread, which should be the
    // process's only one).
    reactor::watch_signals(SignalSet::DAEMON).map_err(|e| format!("event loop: {e}"))?;
    let _pid = PidFile::create(opts.pid_file.as_ref()).map_err(|e| format!("pid file: {e}"))?;

    let mut ipvs = Ipvs::open().map_err(|e| e.to_string())?;
    let users = UserDb::load().map_err(|e| format!("reading users: {e}"))?;
    let owned = owned_keys(&config);
    let mut current = kernel_table(&mut ipvs, &owned);
    let (mut lvs, start_events) = Lvs::start(&config, HealthState::initial(&config));
    let wanted = lvs.desired(&config);
    let ops = diff(&wanted, &current, &owned);
    apply_ops(&mut ipvs, &mut current, ops);
    // The real global_defs: script_user and enable_script_security apply to notify_up/down and
    // quorum_up/down too.
    let mut notifier = Notifier::scripts_only(&config, users.clone());
    run_events(&config, &mut notifier, &start_events);
    info!(
        "keeplite {} checker: {} virtual server(s), {} IPVS service(s)",
        env!("CARGO_PKG_VERSION"),
        config.virtual_servers.len(),
        current.len()
    );

    // Every checker prepared once; a checker that cannot run (unknown user, insecure script)
    // is reported and left out, as keepalived disables it.
    let cx = Context {
        track_files: &config.track_files,
        users: &users,
        script_user: config.global.script_user.as_ref(),
        script_security: config.global.enable_script_security,
    };
    let spread = Spread::from_clock();
    let now = reactor::refresh_now();
    let real_servers = config
        .virtual_servers
        .iter()
        .map(|vs| vs.real_servers.len())
        .sum();
    let mut servers = Vec::with_capacity(real_servers);
    for (v, vs) in config.virtual_servers.iter().enumerate() {
        for (r, rs) in vs.real_servers.iter().enumerate() {
            let verdict = RealServerVerdict::from_config(vs, rs, now, &mut || spread.next());
            let checks: Vec<Option<Check>> = rs
                .checkers
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
                .collect();
            servers.push((v, r, RefCell::new(verdict), checks));
        }
    }

    let slots = Slots::new(MAX_IN_FLIGHT);
    // Each checker queues at most a couple of actions per probe, and the loop drains them after
    // every round of polling: the queue's length is bounded by the number of checkers.
    let actions = RefCell::new(VecDeque::<(usize, usize, Action)>::new());
    let checkers = servers.iter().map(|s| s.3.len()).sum::<usize>();
    let mut tasks = Executor::with_capacity(checkers);
    for (v, r, verdict, checks) in &servers {
        for (index, check) in checks.iter().enumerate() {
            let Some(check) = check else { continue };
            let (v, r) = (*v, *r);
            let (slots, spread, actions) = (&slots, &spread, &actions);
            tasks.spawn(async move {
                let report = move |action| actions.borrow_mut().push_back((v, r, action));
                run_checker(verdict, index, check, slots, spread, &report).await;
            });
        }
    }
    actions.borrow_mut().reserve(2 * checkers);

    let mut next_tick = reactor::now() + TICK;
    let stop = loop {
        tasks.run_ready();
        loop {
            // The borrow ends before the action is handled.
            let next = actions.borrow_mut().pop_front();
            let Some((v, r, action)) = next else { break };
            let (alive, weight) = match action {
                Action::Up { weight } | Action::Weight(weight) => (true, weight),
                Action::Down => (false, config.virtual_servers[v].real_servers[r].weight),
            };
            let rs = &config.virtual_servers[v].real_servers[r];
            info!(
                "real server {}:{} {} (weight {weight})",
                rs.addr,
                rs.port,
                if alive { "up" } else { "down" }
            );
            let update = lvs.real_server(&config, v, r, alive, weight);
            let events: Vec<Event> = update.events().collect();
            run_events(&config, &mut notifier, &events);
            if let Some(vs) = update.changed {
                let wanted = lvs.virtual_server_table(&config, vs);
                let keys: Vec<ServiceKey> = wanted.iter().map(|(s, _)| s.key).collect();
                let ops = diff(&wanted, &current, &keys);
                apply_ops(&mut ipvs, &mut current, ops);
            }
        }
        let now = reactor::now();
        if now >= next_tick {
            notifier.reap(now);
            next_tick = now + TICK;
        }
        // Tasks woken while the others ran must run before the loop sleeps.
        let until = if tasks.has_ready() { now } else { next_tick };
        let signals = match reactor::wait(Some(until)) {
            Ok(signals) => signals,
            Err(e) => break Err(format!("event loop: {e}")),
        };
        if signals.contains(Signal::Term) || signals.contains(Signal::Int) {
            break Ok(());
        }
        if signals.contains(Signal::Hup) {
            warn!("SIGHUP: reloading is not implemented yet; configuration unchanged");
        }
        if signals.contains(Signal::Chld) {
            notifier.reap(reactor::now());
        }
    };
    drop(tasks);
    info!("stopping");
    let events = lvs.shutdown_actions(&config);
    run_events(&config, &mut notifier, &events);
    if !opts.dont_release_ipvs {
        let ops = diff(&Vec::new(), &current, &owned);
        apply_ops(&mut ipvs, &mut current, ops);
    }
    stop
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

fn run_events(config: &Config, notifier: &mut Notifier, events: &[Event]) {
    let now = reactor::now();
    for event in events {
        let command = match *event {
            Event::RealServerUp { vs, rs } => {
                &config.virtual_servers[vs].real_servers[rs].notify_up
            }
            Event::RealServerDown { vs, rs } => {
                &config.virtual_servers[vs].real_servers[rs].notify_down
            }
            Event::QuorumUp { vs } => {
                info!("virtual server {vs}: quorum up");
                &config.virtual_servers[vs].quorum_up
            }
            Event::QuorumDown { vs } => {
                info!("virtual server {vs}: quorum down");
                &config.virtual_servers[vs].quorum_down
            }
        };
        notifier.run_command(now, command);
    }
}
