//! The health-check daemon (keepalived's checker child, `-C`): runs every real server's checkers
//! on one smol executor, turns verdicts into the IPVS table `lvs` computes, and applies only the
//! differences to the kernel. Signals arrive on a signalfd read by a small thread.

use super::notify::Notifier;
use super::{Options, PidFile};
use crate::check::probe::{Check, Context};
use crate::check::run::{run_checker, Slots, Spread, MAX_IN_FLIGHT};
use crate::check::verdict::{Action, RealServerVerdict};
use crate::config::model::Config;
use crate::lvs::diff::apply;
use crate::lvs::{diff, Op, Table};
use crate::lvs::{owned_keys, Event, HealthState, Lvs};
use crate::sys::clock;
use crate::sys::event::{EventBuffer, EventLoop, Signal, SignalSet};
use crate::sys::ipvs::Ipvs;
use crate::sys::script::UserDb;
use crate::wire::ipvs::ServiceKey;
use log::{error, info, warn};
use std::cell::RefCell;
use std::time::Duration;

/// Runs until SIGTERM or SIGINT.
pub fn run(config: Config, opts: Options) -> Result<(), String> {
    // Block signals before any thread exists (smol starts its reactor thread lazily), so that
    // they reach only the signalfd.
    let events =
        EventLoop::with_signals(SignalSet::DAEMON).map_err(|e| format!("event loop: {e}"))?;
    let _pid = PidFile::create(opts.pid_file.as_ref()).map_err(|e| format!("pid file: {e}"))?;
    let (signal_tx, signal_rx) = smol::channel::unbounded::<Signal>();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || forward_signals(events, signal_tx))
        .map_err(|e| format!("signal thread: {e}"))?;

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
    let now = clock::now();
    let mut servers = Vec::new();
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
    let (action_tx, action_rx) = smol::channel::unbounded::<(usize, usize, Action)>();
    let executor = smol::LocalExecutor::new();
    let mut tasks = Vec::new();
    for (v, r, verdict, checks) in &servers {
        for (index, check) in checks.iter().enumerate() {
            let Some(check) = check else { continue };
            let tx = action_tx.clone();
            let (v, r) = (*v, *r);
            let (slots, spread) = (&slots, &spread);
            tasks.push(executor.spawn(async move {
                let report = move |action| {
                    let _ = tx.try_send((v, r, action));
                };
                run_checker(verdict, index, check, slots, spread, &report).await;
            }));
        }
    }

    let stop = smol::block_on(executor.run(async {
        loop {
            let next = smol::future::or(
                async { Some(Incoming::Action(action_rx.recv().await.ok()?)) },
                smol::future::or(
                    async { Some(Incoming::Signal(signal_rx.recv().await.ok()?)) },
                    async {
                        smol::Timer::after(Duration::from_secs(1)).await;
                        Some(Incoming::Tick)
                    },
                ),
            )
            .await;
            match next {
                Some(Incoming::Action((v, r, action))) => {
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
                Some(Incoming::Signal(Signal::Term | Signal::Int)) => return Ok(()),
                Some(Incoming::Signal(Signal::Hup)) => {
                    warn!("SIGHUP: reloading is not implemented yet; configuration unchanged")
                }
                Some(Incoming::Signal(_)) | Some(Incoming::Tick) => notifier.reap(clock::now()),
                None => return Err("internal channel closed".to_string()),
            }
        }
    }));
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

enum Incoming {
    Action((usize, usize, Action)),
    Signal(Signal),
    Tick,
}

fn forward_signals(mut events: EventLoop, tx: smol::channel::Sender<Signal>) {
    let mut ready = EventBuffer::with_capacity(4);
    loop {
        if events.wait(None, &mut ready).is_err() {
            continue;
        }
        for signal in ready.signals().iter() {
            if tx.try_send(signal).is_err() {
                return;
            }
        }
    }
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
    let now = clock::now();
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
