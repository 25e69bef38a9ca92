//! The daemon's logger: stderr (`-l`, what procd and systemd capture) and/or syslog over
//! /dev/log (on unless `-G`; `-S N` picks LOG_LOCALN), each line tagged with the process's role
//! (`vrrp`, `check`, or none for the watchdog parent).

use crate::sys::syslog::{Facility, Severity, Syslog};
use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::sync::Mutex;

/// Where log lines go.
#[derive(Clone, Copy, Debug)]
pub struct LogTargets {
    pub console: bool,
    pub syslog: Option<Facility>,
    pub level: LevelFilter,
}

struct State {
    targets: LogTargets,
    syslog: Option<Syslog>,
    role: &'static str,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

struct Logger;

static LOGGER: Logger = Logger;

/// Installs the logger (once per program; later calls only change the targets).
pub fn init(targets: LogTargets) {
    if let Ok(mut state) = STATE.lock() {
        *state = Some(State {
            targets,
            syslog: targets.syslog.map(Syslog::new),
            role: "",
        });
    }
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(targets.level);
}

/// In a forked child: name the role in each line, and reconnect to syslog (the inherited
/// socket's number was closed with the other inherited descriptors).
pub fn after_fork(role: &'static str) {
    if let Ok(mut guard) = STATE.lock() {
        if let Some(state) = guard.as_mut() {
            state.role = role;
            if let Some(s) = state.syslog.as_mut() {
                s.forget_after_fork();
            }
        }
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let Ok(mut guard) = STATE.lock() else { return };
        let Some(state) = guard.as_mut() else { return };
        let module = record
            .module_path()
            .map(|m| m.strip_prefix("keeplite::").unwrap_or(m))
            .unwrap_or("");
        if state.targets.console {
            let level = match record.level() {
                Level::Error => "ERROR",
                Level::Warn => "WARN ",
                Level::Info => "INFO ",
                Level::Debug => "DEBUG",
                Level::Trace => "TRACE",
            };
            let role = if state.role.is_empty() {
                "main"
            } else {
                state.role
            };
            let _ = writeln!(
                std::io::stderr().lock(),
                "{level} [{role} {module}] {}",
                record.args()
            );
        }
        if let Some(syslog) = state.syslog.as_mut() {
            let severity = match record.level() {
                Level::Error => Severity::Error,
                Level::Warn => Severity::Warning,
                Level::Info => Severity::Info,
                Level::Debug | Level::Trace => Severity::Debug,
            };
            let tag = match state.role {
                "vrrp" => "keeplite_vrrp",
                "check" => "keeplite_check",
                _ => "keeplite",
            };
            syslog.send(severity, tag, &record.args().to_string());
        }
    }

    fn flush(&self) {}
}
