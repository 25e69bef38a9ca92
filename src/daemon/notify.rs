//! keepalived's notifications on state changes: `notify_<state>` scripts, `notify` with its four
//! arguments (`INSTANCE|GROUP NAME STATE PRIORITY`), and lines on `notify_fifo` /
//! `vrrp_notify_fifo` (`INSTANCE "NAME" STATE PRIORITY`); for the checker, real servers' and
//! virtual servers' scripts and the lines on `notify_fifo` / `lvs_notify_fifo`
//! (`RS <rs> <vs> UP|DOWN`, `VS <vs> UP|DOWN`, keepalived 2.2's check/ipwrapper.c and lib/notify.c).
//!
//! Both children open their FIFOs the same way (lib/notify.c fifo_open) and start the
//! `*_notify_fifo_script` reading each, with the FIFO's path as its last argument. Only one
//! process reads `notify_fifo`: the checker when one runs, else the VRRP child (vrrp.c's
//! `running_checker()` test).

use super::watchdog::{roles_for, Role};
use crate::config::model::{Command, Config, Fifo, Notify, Protocol, ServiceKey, VirtualServer};
use crate::config::GroupEntry;
use crate::lvs::desired::destination_port;
use crate::lvs::Event;
use crate::sys::script::{Child, Credentials, NotifyKind, Script, UserDb};
use crate::time::{Instant, Micros};
use crate::vrrp::State;
use log::{error, info, warn};
use std::io::Write;
use std::net::IpAddr;

#[cfg(test)]
mod tests;

/// Notify scripts are not supposed to run long; one that hangs is killed rather than kept.
const NOTIFY_TIMEOUT: Micros = Micros::from_secs(60);
/// Notify scripts running at once; beyond it new ones are refused (and logged), not queued.
const MAX_RUNNING: usize = 64;
/// How long a script SIGTERMed on reload or stop has before SIGKILL (keepalived's second).
const TERM_GRACE: Micros = Micros::from_secs(1);

pub(super) struct Notifier {
    users: UserDb,
    script_user: Option<crate::config::model::RunAs>,
    security: bool,
    running: Vec<Child>,
    /// The FIFOs this side writes its lines on.
    fifos: Vec<LineFifo>,
    /// The `*_notify_fifo_script`s reading them, running until the FIFOs are closed.
    readers: Vec<Reader>,
}

impl Notifier {
    /// For the VRRP side of a daemon started without `-P`: [`Notifier::for_vrrp`].
    #[cfg(test)]
    pub fn new(config: &Config, users: UserDb) -> Notifier {
        Self::for_vrrp(config, users, false)
    }

    /// For the VRRP side (`vrrp_only`: `-P`): state lines on `notify_fifo` and
    /// `vrrp_notify_fifo`, opened (made if missing) with their reader scripts started, as
    /// keepalived's VRRP process does: `vrrp_notify_fifo` naming `notify_fifo`'s FIFO is
    /// ignored (with its script; each line would land there twice), and `notify_fifo_script`
    /// runs here only when no checker child runs. Closed when the notifier is dropped.
    pub fn for_vrrp(config: &Config, users: UserDb, vrrp_only: bool) -> Notifier {
        let g = &config.global;
        let checker_runs = roles_for(config, vrrp_only, false).contains(&Role::Check);
        let mut wanted: Vec<(&'static str, &Fifo, bool)> = Vec::with_capacity(2);
        if let Some(fifo) = &g.notify_fifo {
            if checker_runs && fifo.script.is_some() {
                info!(
                    "notify_fifo {}: the checker runs notify_fifo_script",
                    fifo.path
                );
            }
            wanted.push(("notify_fifo", fifo, !checker_runs));
        }
        if let Some(fifo) = &g.vrrp_notify_fifo {
            if g.notify_fifo.as_ref().is_some_and(|n| n.path == fifo.path) {
                info!(
                    "vrrp_notify_fifo {} is notify_fifo too: ignored, with its script",
                    fifo.path
                );
            } else {
                wanted.push(("vrrp_notify_fifo", fifo, true));
            }
        }
        let mut notifier = Self::without_fifos(config, users);
        notifier.open_fifos(&wanted, crate::sys::clock::now());
        notifier
    }

    /// For the checker: real and virtual servers' scripts, and the lines on `notify_fifo` and
    /// `lvs_notify_fifo`, opened (created if missing) as keepalived's checker does, with their
    /// reader scripts started. They are closed when the notifier is dropped or handed on with
    /// [`Notifier::into_children`].
    pub fn for_checker(config: &Config, users: UserDb, now: Instant) -> Notifier {
        let mut notifier = Self::without_fifos(config, users);
        notifier.open_lvs_fifos(config, now);
        notifier
    }

    fn without_fifos(config: &Config, users: UserDb) -> Notifier {
        let g = &config.global;
        Notifier {
            users,
            script_user: g.script_user.clone(),
            security: g.enable_script_security,
            running: Vec::new(),
            fifos: Vec::new(),
            readers: Vec::new(),
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
            fifo.write_line(line.as_bytes());
        }
    }

    /// Collects finished notify scripts (call on SIGCHLD and at their deadlines).
    pub fn reap(&mut self, now: Instant) {
        self.running
            .retain_mut(|child| !matches!(child.try_reap(now), Ok(Some(_)) | Err(_)));
        self.readers.retain_mut(|r| match r.child.try_reap(now) {
            Ok(None) => true,
            Ok(Some(outcome)) => {
                info!("{}_script terminated ({outcome:?})", r.keyword);
                false
            }
            Err(e) => {
                warn!("{}_script: {e}", r.keyword);
                false
            }
        });
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.running.iter().filter_map(Child::deadline).min()
    }
}

/// The checker's side: keepalived's checker runs `notify_fifo_script` (the VRRP process leaves
/// it to the checker) and `lvs_notify_fifo_script`, and writes each real server's and virtual
/// server's line on both FIFOs.
impl Notifier {
    /// Runs the event's script (`notify_up`/`notify_down`, `quorum_up`/`quorum_down`), then
    /// writes its line, in keepalived's order.
    pub fn lvs_event(&mut self, now: Instant, config: &Config, event: Event) {
        let vs_at = |v: usize| config.virtual_servers.get(v);
        let rs_at = |v: usize, r: usize| vs_at(v).and_then(|vs| vs.real_servers.get(r));
        let command = match event {
            Event::RealServerUp { vs, rs } => rs_at(vs, rs).map(|rs| &*rs.notify_up),
            Event::RealServerDown { vs, rs } => rs_at(vs, rs).map(|rs| &*rs.notify_down),
            Event::QuorumUp { vs } => vs_at(vs).map(|vs| &vs.quorum_up),
            Event::QuorumDown { vs } => vs_at(vs).map(|vs| &vs.quorum_down),
        };
        if let Some(command) = command {
            self.run(now, command, None);
        }
        if self.fifos.is_empty() {
            return;
        }
        if let Some(line) = lvs_line(config, event) {
            self.write_fifos(&line);
        }
    }

    /// Stops the FIFO reader scripts, as keepalived ends its scripts (SIGTERM, SIGKILL a second
    /// later) before the shutdown notifications and on reload. The FIFOs stay open.
    pub fn stop_readers(&mut self) {
        let now = crate::sys::clock::now();
        for mut r in self.readers.drain(..) {
            if let Err(e) = r.child.terminate_group(now, TERM_GRACE) {
                warn!("{}_script: {e}", r.keyword);
            }
            // Reaped with the notify scripts (on SIGCHLD), here or in the next round.
            self.running.push(r.child);
        }
    }

    /// The scripts still running, for the next round's notifier to reap ([`Notifier::adopt`]);
    /// the FIFOs are closed.
    pub fn into_children(mut self) -> Vec<Child> {
        self.close_fifos();
        std::mem::take(&mut self.running)
    }

    /// Takes over the previous round's scripts (they are reaped, and killed at their
    /// deadlines, as this round's own).
    pub fn adopt(&mut self, children: Vec<Child>) {
        self.running.extend(children);
    }

    /// Closes the FIFOs (end of a round: reload or stop), removing those it created, first,
    /// as keepalived does, so that a reader that reopens the path cannot find it.
    pub fn close_fifos(&mut self) {
        self.stop_readers();
        for fifo in self.fifos.drain(..) {
            fifo.close();
        }
    }

    fn open_lvs_fifos(&mut self, config: &Config, now: Instant) {
        let g = &config.global;
        let mut wanted: Vec<(&'static str, &Fifo, bool)> = Vec::with_capacity(2);
        if let Some(fifo) = &g.notify_fifo {
            wanted.push(("notify_fifo", fifo, true));
        }
        if let Some(fifo) = &g.lvs_notify_fifo {
            if g.notify_fifo.as_ref().is_some_and(|n| n.path == fifo.path) {
                info!(
                    "lvs_notify_fifo {} is notify_fifo too: each line is written there once",
                    fifo.path
                );
            } else {
                // On a FIFO the VRRP side shares, one reader is enough: the VRRP side's.
                let vrrp_reads = g
                    .vrrp_notify_fifo
                    .as_ref()
                    .is_some_and(|v| v.path == fifo.path && v.script.is_some());
                if vrrp_reads && fifo.script.is_some() {
                    info!("lvs_notify_fifo {} is vrrp_notify_fifo too, both with a script: vrrp_notify_fifo_script reads it", fifo.path);
                }
                wanted.push(("lvs_notify_fifo", fifo, !vrrp_reads));
            }
        }
        self.open_fifos(&wanted, now);
    }

    /// Opens each `(keyword, fifo, run_script)` and starts its reader script if `run_script`.
    fn open_fifos(&mut self, wanted: &[(&'static str, &Fifo, bool)], now: Instant) {
        for &(keyword, fifo, run_script) in wanted {
            let opened = match LineFifo::open(keyword, fifo, &self.users, self.script_user.as_ref())
            {
                Ok(f) => f,
                Err(e) => {
                    error!("{e}; its lines are not written");
                    continue;
                }
            };
            if run_script {
                if let Some(script) = &fifo.script {
                    self.start_reader(now, keyword, script, &fifo.path);
                }
            }
            self.fifos.push(opened);
        }
    }

    /// Starts a FIFO's reader script: its words and then the FIFO's path, without a timeout.
    fn start_reader(&mut self, now: Instant, keyword: &'static str, script: &Command, path: &str) {
        let child = self
            .users
            .script_credentials(script.run_as.as_deref(), self.script_user.as_ref())
            .and_then(|creds| Script::prepare(&script.command, creds, self.security))
            .and_then(|s| s.spawn(&[path], now, None));
        match child {
            Ok(child) => self.readers.push(Reader { keyword, child }),
            Err(e) => error!("{keyword}_script {}: {e}", script.command),
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.close_fifos();
    }
}

/// A running `*_notify_fifo_script`.
struct Reader {
    keyword: &'static str,
    child: Child,
}

/// One notify FIFO a child writes lines on.
struct LineFifo {
    /// `notify_fifo`, `vrrp_notify_fifo` or `lvs_notify_fifo`, for the logs.
    keyword: &'static str,
    path: String,
    file: std::fs::File,
    /// This process made the FIFO, so it removes it on close (keepalived's `created_fifo`).
    created: bool,
    /// Lines lost since the last one that got through (the pipe was full: no reader, or a slow
    /// one), and in all.
    dropping: u64,
    dropped: u64,
}

impl LineFifo {
    /// Opens `fifo` as keepalived's fifo_open does: made if missing (mode 0600, keepalived's
    /// 0644 under its default umask 0177) and given to its user (`notify_fifo PATH USER
    /// [GROUP]`, else the default script user), opened read-write and non-blocking, so that
    /// opening never waits for a reader and a reader that goes away neither blocks the daemon
    /// nor raises EPIPE: lines wait in the pipe until it is full, then are dropped and counted.
    /// A symlink at the path is refused.
    fn open(
        keyword: &'static str,
        fifo: &Fifo,
        users: &UserDb,
        script_user: Option<&crate::config::model::RunAs>,
    ) -> Result<LineFifo, String> {
        let path = std::path::Path::new(&fifo.path);
        let at = format!("global_defs {keyword} {}", fifo.path);
        let (file, created) =
            crate::sys::script::open_fifo_writer(path).map_err(|e| format!("{at}: {e}"))?;
        if created {
            match users.script_credentials(fifo.owner.as_ref(), script_user) {
                Ok(owner) if owner != Credentials::current() => {
                    if let Err(e) = std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid))
                    {
                        warn!("{at}: giving it to {}:{}: {e}", owner.uid, owner.gid);
                    }
                }
                Ok(_) => {}
                Err(e) => warn!("{at}: owner: {e}"),
            }
        }
        Ok(LineFifo {
            keyword,
            path: fifo.path.clone(),
            file,
            created,
            dropping: 0,
            dropped: 0,
        })
    }

    /// One write per line: a line is at most a few hundred bytes, under PIPE_BUF, so it goes
    /// in whole or not at all, and never mixes with the other child's lines on a shared FIFO.
    fn write_line(&mut self, line: &[u8]) {
        match (&self.file).write(line) {
            Ok(n) if n == line.len() => {
                if self.dropping > 0 {
                    info!(
                        "{} {}: writing again; {} line(s) were dropped",
                        self.keyword, self.path, self.dropping
                    );
                    self.dropping = 0;
                }
            }
            result => {
                if self.dropping == 0 {
                    let why = match result {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            "full (no reader, or a slow one)".to_string()
                        }
                        Err(e) => e.to_string(),
                        Ok(n) => format!("only {n} of {} bytes written", line.len()),
                    };
                    warn!("{} {}: {why}; dropping lines", self.keyword, self.path);
                }
                self.dropping += 1;
                self.dropped += 1;
            }
        }
    }

    fn close(self) {
        if self.created {
            if let Err(e) = std::fs::remove_file(&self.path) {
                warn!("{} {}: removing it: {e}", self.keyword, self.path);
            }
        }
        if self.dropped > 0 {
            info!(
                "{} {}: {} line(s) dropped in all",
                self.keyword, self.path, self.dropped
            );
        }
    }
}

/// The line keepalived writes for `event` (ipwrapper.c notify_fifo_rs / notify_fifo_vs):
/// `RS <rs> <vs> UP|DOWN` or `VS <vs> UP|DOWN`, newline-terminated. `None` for indices the
/// config does not have.
pub(super) fn lvs_line(config: &Config, event: Event) -> Option<String> {
    let (vs, rs, up) = match event {
        Event::RealServerUp { vs, rs } => (vs, Some(rs), true),
        Event::RealServerDown { vs, rs } => (vs, Some(rs), false),
        Event::QuorumUp { vs } => (vs, None, true),
        Event::QuorumDown { vs } => (vs, None, false),
    };
    let state = if up { "UP" } else { "DOWN" };
    let v = config.virtual_servers.get(vs)?;
    let vs_text = vs_text(config, v);
    Some(match rs {
        Some(r) => {
            let rs = v.real_servers.get(r)?;
            let method = rs.lvs_method.unwrap_or(v.lvs_method);
            let port = destination_port(v, method, rs.port);
            let rs_text = trio(rs.addr, protocol_text(config, v), port);
            format!("RS {rs_text} {vs_text} {state}\n")
        }
        None => format!("VS {vs_text} {state}\n"),
    })
}

/// keepalived's format_vs: `[ADDR]:PROTO:PORT`, `FWM MARK`, or `[GROUP]:0` (a group's virtual
/// server has no address of its own, so its port is 0).
fn vs_text(config: &Config, vs: &VirtualServer) -> String {
    match &vs.key {
        ServiceKey::Addr { addr, port } => trio(*addr, protocol_text(config, vs), *port),
        ServiceKey::Fwmark { mark } => format!("FWM {mark}"),
        ServiceKey::Group { name } => format!("[{name}]:0"),
    }
}

/// keepalived's inet_sockaddrtotrio: `[ADDR]:PROTO:PORT`.
fn trio(addr: IpAddr, protocol: &str, port: u16) -> String {
    format!("[{}]:{protocol}:{port}", ntop(addr))
}

/// The protocol keepalived gives the virtual server, as its real servers' lines name it: a
/// fwmark service has none (keepalived clears a `protocol` written there), nor has a group
/// of fwmarks only.
fn protocol_text(config: &Config, vs: &VirtualServer) -> &'static str {
    let has_protocol = match &vs.key {
        ServiceKey::Addr { .. } => true,
        ServiceKey::Fwmark { .. } => false,
        ServiceKey::Group { name } => config
            .server_groups
            .iter()
            .find(|g| &g.name == name)
            .is_none_or(|g| {
                g.entries.is_empty()
                    || g.entries
                        .iter()
                        .any(|e| matches!(e, GroupEntry::Range { .. }))
            }),
    };
    match (has_protocol, vs.protocol) {
        (false, _) => "none",
        (true, Protocol::Tcp) => "tcp",
        (true, Protocol::Udp) => "udp",
        (true, Protocol::Sctp) => "sctp",
    }
}

/// An address as glibc's inet_ntop writes it (keepalived's text): Rust's form, except for an
/// IPv4-compatible IPv6 address (96 zero bits, then a non-zero 7th group), where glibc keeps
/// the dotted tail (`::1.2.3.4`). (musl's inet_ntop writes those in hex, as Rust does.)
fn ntop(addr: IpAddr) -> String {
    if let IpAddr::V6(a) = addr {
        let s = a.segments();
        if s[..6] == [0; 6] && s[6] != 0 {
            let [.., b0, b1, b2, b3] = a.octets();
            return format!("::{b0}.{b1}.{b2}.{b3}");
        }
    }
    addr.to_string()
}
