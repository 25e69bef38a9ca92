//! keepalived's notifications on state changes: `notify_<state>` scripts, `notify` with its four
//! arguments (`INSTANCE|GROUP NAME STATE PRIORITY`), and lines on `notify_fifo` /
//! `vrrp_notify_fifo` (`INSTANCE "NAME" STATE PRIORITY`).

use crate::config::model::{Command, Config, Fifo, Notify};
use crate::sys::script::{Child, NotifyKind, Script, UserDb};
use crate::time::{Instant, Micros};
use crate::vrrp::State;
use log::{error, warn};
use std::io::Write;

/// Notify scripts are not supposed to run long; one that hangs is killed rather than kept.
const NOTIFY_TIMEOUT: Micros = Micros::from_secs(60);
/// Notify scripts running at once; beyond it new ones are refused (and logged), not queued.
const MAX_RUNNING: usize = 64;

pub(super) struct Notifier {
    users: UserDb,
    script_user: Option<crate::config::model::RunAs>,
    security: bool,
    fifos: Vec<std::fs::File>,
    running: Vec<Child>,
}

impl Notifier {
    /// For the VRRP side: state lines go to `notify_fifo` and `vrrp_notify_fifo`.
    pub fn new(config: &Config, users: UserDb) -> Notifier {
        let g = &config.global;
        Self::with_fifos(config, users, &[&g.notify_fifo, &g.vrrp_notify_fifo])
    }

    /// For the checker: scripts only (its FIFO lines are not written yet).
    pub fn scripts_only(config: &Config, users: UserDb) -> Notifier {
        Self::with_fifos(config, users, &[])
    }

    fn with_fifos(config: &Config, users: UserDb, fifos: &[&Option<Fifo>]) -> Notifier {
        let g = &config.global;
        let fifos = fifos
            .iter()
            .copied()
            .flatten()
            .filter_map(open_fifo)
            .collect();
        Notifier {
            users,
            script_user: g.script_user.clone(),
            security: g.enable_script_security,
            fifos,
            running: Vec::new(),
        }
    }

    /// Runs the scripts for `state` and writes the FIFO line.
    pub fn state_change(
        &mut self,
        now: Instant,
        kind: NotifyKind,
        name: &str,
        notify: &Notify,
        state: State,
        priority: u8,
    ) {
        let specific = match state {
            State::Master => &notify.notify_master,
            State::Backup => &notify.notify_backup,
            State::Fault => &notify.notify_fault,
            State::Initialize => &None,
        };
        self.run(now, specific, None);
        self.run(
            now,
            &notify.notify,
            Some((kind, name, state.as_str(), priority)),
        );
        let line = match kind {
            NotifyKind::Instance => format!("INSTANCE \"{name}\" {} {priority}\n", state.as_str()),
            NotifyKind::Group => format!("GROUP \"{name}\" {}\n", state.as_str()),
        };
        self.write_fifos(&line);
    }

    pub fn stop(
        &mut self,
        now: Instant,
        kind: NotifyKind,
        name: &str,
        notify: &Notify,
        priority: u8,
    ) {
        self.run(now, &notify.notify_stop, None);
        self.run(now, &notify.notify, Some((kind, name, "STOP", priority)));
        if kind == NotifyKind::Instance {
            self.write_fifos(&format!("INSTANCE \"{name}\" STOP {priority}\n"));
        }
    }

    pub fn run_command(&mut self, now: Instant, command: &Option<Command>) {
        self.run(now, command, None);
    }

    fn run(
        &mut self,
        now: Instant,
        command: &Option<Command>,
        notify_args: Option<(NotifyKind, &str, &str, u8)>,
    ) {
        let Some(command) = command else { return };
        if self.running.len() >= MAX_RUNNING {
            warn!(
                "{MAX_RUNNING} notify scripts still running; not starting {}",
                command.command
            );
            return;
        }
        let script = self
            .users
            .script_credentials(command.run_as.as_deref(), self.script_user.as_ref())
            .and_then(|creds| Script::prepare(&command.command, creds, self.security));
        let child = script.and_then(|s| match notify_args {
            Some((kind, name, state, priority)) => {
                s.spawn_notify(kind, name, state, priority, now, Some(NOTIFY_TIMEOUT))
            }
            None => s.spawn(&[], now, Some(NOTIFY_TIMEOUT)),
        });
        match child {
            Ok(child) => self.running.push(child),
            Err(e) => error!("notify {}: {e}", command.command),
        }
    }

    fn write_fifos(&mut self, line: &str) {
        for fifo in &mut self.fifos {
            // Non-blocking: a reader that stopped reading loses lines rather than stalling VRRP.
            if let Err(e) = fifo.write_all(line.as_bytes()) {
                warn!("notify FIFO: {e}");
            }
        }
    }

    /// Collects finished notify scripts (call on SIGCHLD and at their deadlines).
    pub fn reap(&mut self, now: Instant) {
        self.running
            .retain_mut(|child| !matches!(child.try_reap(now), Ok(Some(_)) | Err(_)));
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.running.iter().filter_map(Child::deadline).min()
    }
}

fn open_fifo(fifo: &Fifo) -> Option<std::fs::File> {
    match crate::sys::script::open_fifo_writer(std::path::Path::new(&fifo.path)) {
        Ok(f) => Some(f),
        Err(e) => {
            error!("notify FIFO {}: {e}", fifo.path);
            None
        }
    }
}
