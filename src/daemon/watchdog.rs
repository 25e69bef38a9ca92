//! The watchdog parent (keepalived's main process): forks the VRRP child and the checker
//! child (`keeplite: vrrp`, `keeplite: check`), hands each the binary config over its
//! socketpair, watches their heartbeats, restarts a dead or hung child with keepalived's
//! backoff (at once after a run of 60 s or more or the first quick death, then 1 s doubling up
//! to 60 s), and handles
//! SIGHUP (reload), SIGTERM/SIGINT (stop), and the control socket (`keeplite status`).

use super::control::{self, ControlServer, Reply, Report};
use super::link::{Link, Resume, ToChild, ToParent};
use super::Options;
use crate::config::{self, binary, Config, Verdict};
use crate::sys::clock;
use crate::sys::event::{EventBuffer, EventLoop, Interest, Signal, SignalSet};
use crate::sys::process::{self, Exit, Forked};
use crate::time::{Instant, Micros};
use log::{error, info, warn};
use rustix::process::Signal as Sig;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// A child that exits with this code cannot run with this config or these permissions:
/// restarting it would fail the same way, so the daemon stops.
pub const EXIT_FATAL: i32 = 3;

/// A child silent for this long is hung: it is killed and restarted.
const HUNG_AFTER: Micros = Micros(10_000_000);
/// A child that ran at least this long is restarted at once.
const STABLE_RUN: Micros = Micros(60_000_000);
const FIRST_DELAY: Micros = Micros(1_000_000);
const MAX_DELAY: Micros = Micros(60_000_000);
/// How long stopping children get before SIGKILL.
const STOP_GRACE: Micros = Micros(10_000_000);
/// How long a status request waits for the children's answers.
const STATUS_WAIT: Micros = Micros(2_000_000);
/// How long after the children start their start-up traffic to the watchdog (start reports,
/// first elections and checks) is taken to be over: the pages it ran on are let go then.
const SETTLE_TIME: Micros = Micros(10_000_000);

const CONTROL_TOKEN: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Vrrp,
    Check,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Vrrp => "vrrp",
            Role::Check => "check",
        }
    }

    fn process_name(self) -> &'static str {
        match self {
            Role::Vrrp => "keeplite: vrrp",
            Role::Check => "keeplite: check",
        }
    }

    fn token(self) -> u64 {
        match self {
            Role::Vrrp => 1,
            Role::Check => 2,
        }
    }
}

/// keepalived's respawn backoff (its `calc_restart_delay`): a child that ran a minute or more
/// is restarted at once; one that died sooner waits `pending`, the delay its previous quick
/// death left: 0 the first time, then 1 s, doubling up to 60 s. Returns (wait now, pending
/// for the next death).
pub fn restart_delay(ran: Micros, pending: Micros) -> (Micros, Micros) {
    if ran >= STABLE_RUN {
        return (Micros(0), Micros(0));
    }
    let next = match pending {
        Micros(0) => FIRST_DELAY,
        d => Micros((d.0 * 2).min(MAX_DELAY.0)),
    };
    (pending, next)
}

/// Which children a config needs: VRRP if it has instances, the checker if it has virtual
/// servers; `-P` / `-C` restrict to one.
pub fn roles_for(config: &Config, vrrp_only: bool, check_only: bool) -> Vec<Role> {
    let mut roles = Vec::new();
    if !check_only && (vrrp_only || !config.instances.is_empty()) {
        roles.push(Role::Vrrp);
    }
    if !vrrp_only && (check_only || !config.virtual_servers.is_empty()) {
        roles.push(Role::Check);
    }
    roles
}

/// What the watchdog needs besides the shared daemon options.
pub struct WatchdogOptions {
    pub config_path: PathBuf,
    pub vrrp_only: bool,
    pub check_only: bool,
    /// `-R`: a child that dies stops the daemon instead of being restarted.
    pub no_respawn: bool,
    pub vrrp_pid_file: Option<PathBuf>,
    pub check_pid_file: Option<PathBuf>,
    pub control: Option<PathBuf>,
}

/// The entry point of a child process: gets its config and resume state from the link and
/// runs until told to stop; returns the process exit code.
pub type ChildMain = fn(Role, Link, Options) -> i32;

struct Child {
    role: Role,
    pid: Option<i32>,
    link: Option<Link>,
    started: Instant,
    last_beat: Instant,
    restarts: u32,
    /// The wait before the next restart if this child dies within a minute.
    pending_delay: Micros,
    restart_at: Option<Instant>,
    /// What this role's previous incarnation reported, for the next one.
    resume: Resume,
    wanted: bool,
}

impl Child {
    /// A child not started yet, due to start at `now`.
    fn new(role: Role, now: Instant) -> Child {
        Child {
            role,
            pid: None,
            link: None,
            started: now,
            last_beat: now,
            restarts: 0,
            pending_delay: Micros(0),
            restart_at: Some(now),
            resume: Resume::default(),
            wanted: true,
        }
    }
}

struct PendingStatus {
    client: UnixStream,
    deadline: Instant,
    report: Report,
    waiting: Vec<Role>,
}

struct Watchdog {
    opts: Options,
    wd: WatchdogOptions,
    config_bytes: Vec<u8>,
    events: EventLoop,
    children: Vec<Child>,
    control: Option<ControlServer>,
    pending: Vec<PendingStatus>,
    stopping: Option<Instant>,
    exit_code: i32,
    child_main: ChildMain,
    /// Set after parsing a config (start, reload): once every child runs, the parser's code
    /// pages are let go (`process::release_start_up_pages`).
    release_start_up_code: bool,
    /// When to let go once more of code only the children's start needed: their start
    /// reports (thousands of health records), first state changes and status.
    release_settled_code_at: Option<Instant>,
}

/// Runs the watchdog until SIGTERM/SIGINT (or a fatal child error); the exit code.
pub fn run(config: Config, opts: Options, wd: WatchdogOptions, child_main: ChildMain) -> i32 {
    let events = match EventLoop::with_signals(SignalSet::DAEMON) {
        Ok(e) => e,
        Err(e) => {
            error!("event loop: {e}");
            return 1;
        }
    };
    let roles = roles_for(&config, wd.vrrp_only, wd.check_only);
    if roles.is_empty() {
        error!("the configuration has neither vrrp_instance nor virtual_server: nothing to run");
        return EXIT_FATAL;
    }
    let config_bytes = binary::encode(&config);
    drop(config);
    let control = wd
        .control
        .as_ref()
        .and_then(|path| match ControlServer::bind(path) {
            Ok(c) => Some(c),
            Err(e) => {
                warn!(
                    "control socket {}: {e}; `keeplite status` will not reach this daemon",
                    path.display()
                );
                None
            }
        });
    let now = clock::now();
    let mut w = Watchdog {
        opts,
        wd,
        config_bytes,
        events,
        children: Vec::new(),
        control,
        pending: Vec::new(),
        stopping: None,
        exit_code: 0,
        child_main,
        release_start_up_code: true,
        release_settled_code_at: None,
    };
    if let Some(c) = &w.control {
        if let Err(e) = w.events.add(c.as_fd(), CONTROL_TOKEN, Interest::Readable) {
            warn!("control socket: epoll: {e}");
        }
    }
    for role in roles {
        w.children.push(Child::new(role, now));
    }
    info!("keeplite {} starting", env!("CARGO_PKG_VERSION"));
    w.run_loop()
}

impl Watchdog {
    fn run_loop(&mut self) -> i32 {
        let mut ready = EventBuffer::with_capacity(16);
        loop {
            let now = clock::now();
            self.start_due_children(now);
            if self.release_start_up_code && self.children.iter().all(|c| c.pid.is_some()) {
                // Parsing and forking are done: only the loop's code need stay mapped.
                self.release_start_up_code = false;
                process::release_start_up_pages();
                self.release_settled_code_at = Some(now + SETTLE_TIME);
            } else if self.release_settled_code_at.is_some_and(|at| now >= at) {
                self.release_settled_code_at = None;
                process::release_start_up_pages();
            }
            if self.stopping.is_some() && self.children.iter().all(|c| c.pid.is_none()) {
                info!("stopped");
                return self.exit_code;
            }
            if let Err(e) = self.events.wait(Some(self.next_deadline(now)), &mut ready) {
                error!("event loop: {e}");
                return 1;
            }
            let now = clock::now();
            let tokens: Vec<u64> = ready.iter().map(|r| r.token).collect();
            for token in tokens {
                match token {
                    CONTROL_TOKEN => self.accept_control(now),
                    t if t == Role::Vrrp.token() => self.on_link(now, Role::Vrrp),
                    t if t == Role::Check.token() => self.on_link(now, Role::Check),
                    _ => {}
                }
            }
            for signal in ready.signals().iter() {
                match signal {
                    Signal::Term | Signal::Int => self.stop(now, 0),
                    Signal::Hup => {
                        if let Err(e) = self.reload(now) {
                            error!("reload: {e}");
                        }
                    }
                    Signal::Usr1 | Signal::Usr2 => {
                        for c in &self.children {
                            if let Some(pid) = c.pid {
                                let sig = if signal == Signal::Usr1 {
                                    Sig::USR1
                                } else {
                                    Sig::USR2
                                };
                                let _ = process::signal(pid, sig);
                            }
                        }
                    }
                    Signal::Chld => {}
                }
            }
            // SIGCHLD may coalesce; reaping every turn costs one waitpid.
            self.reap(now);
            self.check_hung(now);
            self.finish_status(now, false);
        }
    }

    fn next_deadline(&self, now: Instant) -> Instant {
        let mut next = now + Micros(1_000_000);
        for c in &self.children {
            if let Some(at) = c.restart_at {
                next = next.min(at);
            }
        }
        for p in &self.pending {
            next = next.min(p.deadline);
        }
        if let Some(since) = self.stopping {
            next = next.min(since + STOP_GRACE);
        }
        next
    }

    fn start_due_children(&mut self, now: Instant) {
        if self.stopping.is_some() {
            return;
        }
        for k in 0..self.children.len() {
            let c = &self.children[k];
            if c.pid.is_some() || !c.wanted || c.restart_at.is_none_or(|at| at > now) {
                continue;
            }
            if let Err(e) = self.spawn(k, now) {
                error!("starting the {} child: {e}", self.children[k].role.name());
                let c = &mut self.children[k];
                let (delay, next) = restart_delay(Micros(0), c.pending_delay);
                c.pending_delay = next;
                c.restart_at = Some(now + delay.max(FIRST_DELAY));
            }
        }
    }

    fn spawn(&mut self, k: usize, now: Instant) -> Result<(), String> {
        let role = self.children[k].role;
        let (ours, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        match process::fork().map_err(|e| format!("fork: {e}"))? {
            Forked::Child => {
                drop(ours);
                let code = self.child(role, theirs);
                std::process::exit(code);
            }
            Forked::Parent(pid) => {
                drop(theirs);
                let pid = pid.as_raw_nonzero().get();
                let mut link = Link::new(ours).map_err(|e| format!("link: {e}"))?;
                let c = &mut self.children[k];
                let start = ToChild::Start {
                    config: self.config_bytes.clone(),
                    resume: c.resume.clone(),
                };
                if let Err(e) = link.send(&start) {
                    // The child will see the link closed and exit; SIGCHLD brings us back here.
                    warn!("{} child (pid {pid}): sending the config: {e}", role.name());
                }
                if let Err(e) = self
                    .events
                    .add(link.as_fd(), role.token(), Interest::Readable)
                {
                    warn!("{} child: epoll: {e}", role.name());
                }
                info!("{} child started (pid {pid})", role.name());
                c.pid = Some(pid);
                c.link = Some(link);
                c.started = now;
                c.last_beat = now;
                c.restart_at = None;
                Ok(())
            }
        }
    }

    /// In the forked child: becomes `keeplite: ROLE` and runs its main; never returns to the
    /// watchdog's loop.
    fn child(&mut self, role: Role, stream: UnixStream) -> i32 {
        if let Err(e) = process::become_child(role.process_name(), Sig::TERM) {
            eprintln!("keeplite {}: {e}", role.name());
            return 1;
        }
        process::close_inherited_fds(&[process::raw(&stream)]);
        super::log::after_fork(role.name());
        let link = match Link::new(stream) {
            Ok(l) => l,
            Err(e) => {
                error!("link: {e}");
                return 1;
            }
        };
        let mut opts = self.opts.clone();
        opts.pid_file = match role {
            Role::Vrrp => self.wd.vrrp_pid_file.clone(),
            Role::Check => self.wd.check_pid_file.clone(),
        };
        (self.child_main)(role, link, opts)
    }

    fn on_link(&mut self, now: Instant, role: Role) {
        let Some(k) = self.children.iter().position(|c| c.role == role) else {
            return;
        };
        let mut messages = Vec::new();
        let mut closed = false;
        if let Some(link) = self.children[k].link.as_mut() {
            let filled = link.fill();
            loop {
                match link.take::<ToParent>() {
                    Ok(Some(m)) => messages.push(m),
                    Ok(None) => break,
                    Err(e) => {
                        warn!("{} child: {e}", role.name());
                        closed = true;
                        break;
                    }
                }
            }
            if filled.is_err() {
                closed = true;
            }
        }
        if closed {
            // The child is exiting (or broke the protocol): stop listening; SIGCHLD follows.
            if let Some(link) = self.children[k].link.take() {
                let _ = self.events.remove(link.as_fd());
            }
            if let Some(pid) = self.children[k].pid {
                if messages.is_empty() && self.stopping.is_none() {
                    let _ = process::signal(pid, Sig::KILL);
                }
            }
        }
        for m in messages {
            let c = &mut self.children[k];
            c.last_beat = now;
            match m {
                ToParent::Status(status) => {
                    for p in &mut self.pending {
                        if let Some(i) = p.waiting.iter().position(|r| *r == role) {
                            p.waiting.remove(i);
                            p.report.add(status.clone());
                        }
                    }
                    self.finish_status(now, false);
                }
                ToParent::Fatal(message) => {
                    error!("{} child cannot run: {message}; stopping", role.name());
                    self.stop(now, EXIT_FATAL);
                }
                other => keep(&mut c.resume, other),
            }
        }
    }

    fn reap(&mut self, now: Instant) {
        while let Some((pid, exit)) = process::reap() {
            let Some(k) = self.children.iter().position(|c| c.pid == Some(pid)) else {
                continue;
            };
            let role = self.children[k].role;
            if let Some(mut link) = self.children[k].link.take() {
                let _ = self.events.remove(link.as_fd());
                // What the child wrote just before it died may still be unread (the AH counters
                // it reports before an advert goes out): the next child needs it.
                let _ = link.fill();
                while let Ok(Some(m)) = link.take::<ToParent>() {
                    keep(&mut self.children[k].resume, m);
                }
            }
            let c = &mut self.children[k];
            c.pid = None;
            if self.stopping.is_some() || !c.wanted {
                info!("{} child (pid {pid}) ended: {exit}", role.name());
                continue;
            }
            if exit == Exit::Code(EXIT_FATAL) {
                error!(
                    "{} child (pid {pid}) cannot run with this configuration; stopping",
                    role.name()
                );
                self.stop(now, EXIT_FATAL);
                continue;
            }
            if self.wd.no_respawn {
                error!(
                    "{} child (pid {pid}) died ({exit}); not respawning (-R): stopping",
                    role.name()
                );
                self.stop(now, 1);
                continue;
            }
            let ran = now.saturating_since(c.started);
            let (delay, next) = restart_delay(ran, c.pending_delay);
            c.pending_delay = next;
            c.restarts += 1;
            c.restart_at = Some(now + delay);
            warn!(
                "{} child (pid {pid}) died ({exit}) after {} ms; restarting in {} ms",
                role.name(),
                ran.0 / 1000,
                delay.0 / 1000
            );
        }
    }

    fn check_hung(&mut self, now: Instant) {
        if let Some(since) = self.stopping {
            if now.saturating_since(since) >= STOP_GRACE {
                for c in &self.children {
                    if let Some(pid) = c.pid {
                        warn!(
                            "{} child (pid {pid}) did not stop; killing it",
                            c.role.name()
                        );
                        let _ = process::signal(pid, Sig::KILL);
                    }
                }
            }
            return;
        }
        for c in &self.children {
            if let Some(pid) = c.pid {
                if now.saturating_since(c.last_beat) >= HUNG_AFTER {
                    error!(
                        "{} child (pid {pid}) silent for {} s: hung, killing it",
                        c.role.name(),
                        HUNG_AFTER.0 / 1_000_000
                    );
                    let _ = process::signal(pid, Sig::KILL);
                }
            }
        }
    }

    fn stop(&mut self, now: Instant, code: i32) {
        if self.stopping.is_some() {
            return;
        }
        process::end_of_steady_state();
        info!("stopping");
        self.stopping = Some(now);
        self.exit_code = code;
        for c in &mut self.children {
            c.restart_at = None;
            if let Some(pid) = c.pid {
                let _ = process::signal(pid, Sig::TERM);
            }
        }
    }

    /// SIGHUP: a config that does not load leaves everything as it is.
    fn reload(&mut self, now: Instant) -> Result<String, String> {
        if self.stopping.is_some() {
            return Err("stopping".into());
        }
        let loaded = config::load(&self.wd.config_path);
        self.release_start_up_code = true;
        let d = &loaded.diagnostics;
        for item in &d.items {
            match item.severity {
                config::Severity::Error | config::Severity::Fatal => error!("{}", d.render(item)),
                config::Severity::Warning => warn!("{}", d.render(item)),
            }
        }
        if d.verdict() != Verdict::Valid {
            return Err(format!(
                "{}: errors in the new configuration; keeping the running one",
                self.wd.config_path.display()
            ));
        }
        let roles = roles_for(&loaded.config, self.wd.vrrp_only, self.wd.check_only);
        if roles.is_empty() {
            return Err("the new configuration has nothing to run; keeping the running one".into());
        }
        self.config_bytes = binary::encode(&loaded.config);
        drop(loaded);
        info!("reloading {}", self.wd.config_path.display());
        for c in &mut self.children {
            c.wanted = roles.contains(&c.role);
            match (&mut c.link, c.wanted) {
                (Some(link), true) => {
                    let message = ToChild::Reload {
                        config: self.config_bytes.clone(),
                    };
                    if let Err(e) = link.send(&message) {
                        warn!("{} child: sending the new config: {e}", c.role.name());
                    }
                }
                (_, false) => {
                    if let Some(pid) = c.pid {
                        info!(
                            "the new configuration has no use for the {} child",
                            c.role.name()
                        );
                        let _ = process::signal(pid, Sig::TERM);
                    }
                    c.restart_at = None;
                }
                (None, true) => {}
            }
            // A child that is down starts with the new config and nothing to resume but the AH
            // counters (keepalived keeps them over a reload; a child that does not resume a
            // master restores them as they were, below what the peers send now).
            if c.pid.is_none() && c.wanted {
                c.resume = Resume {
                    ah_sequences: std::mem::take(&mut c.resume.ah_sequences),
                    ..Resume::default()
                };
                c.restart_at = Some(now);
            }
        }
        for role in roles {
            if !self.children.iter().any(|c| c.role == role) {
                self.children.push(Child::new(role, now));
            }
        }
        Ok("reloaded".into())
    }

    fn accept_control(&mut self, now: Instant) {
        let Some(server) = &self.control else { return };
        let Some((mut client, request)) = server.accept() else {
            return;
        };
        match request {
            control::Request::Status => {
                let mut waiting = Vec::new();
                for c in &mut self.children {
                    if let Some(link) = c.link.as_mut() {
                        if link.send(&ToChild::Status).is_ok() {
                            waiting.push(c.role);
                        }
                    }
                }
                let report = Report {
                    pid: process::pid(),
                    children: self
                        .children
                        .iter()
                        .map(|c| control::ChildInfo {
                            role: c.role.name().to_string(),
                            pid: c.pid,
                            restarts: c.restarts,
                            up_secs: c.pid.map(|_| now.saturating_since(c.started).0 / 1_000_000),
                        })
                        .collect(),
                    vrrp: None,
                    check: None,
                };
                self.pending.push(PendingStatus {
                    client,
                    deadline: now + STATUS_WAIT,
                    report,
                    waiting,
                });
                self.finish_status(now, false);
            }
            control::Request::Reload => {
                let reply = match self.reload(now) {
                    Ok(m) => Reply::Done(m),
                    Err(e) => {
                        error!("reload: {e}");
                        Reply::Failed(e)
                    }
                };
                control::send_reply(&mut client, &reply);
            }
            control::Request::Stop => {
                control::send_reply(&mut client, &Reply::Done("stopping".into()));
                self.stop(now, 0);
            }
        }
    }

    fn finish_status(&mut self, now: Instant, _force: bool) {
        let mut k = 0;
        while k < self.pending.len() {
            let p = &self.pending[k];
            if p.waiting.is_empty() || p.deadline <= now {
                let mut p = self.pending.swap_remove(k);
                control::send_reply(&mut p.client, &Reply::Status(p.report));
            } else {
                k += 1;
            }
        }
    }
}

/// Keeps what a child reports for its successor; other messages are not state.
pub(super) fn keep(resume: &mut Resume, message: ToParent) {
    match message {
        ToParent::Masters(masters) => resume.masters = masters,
        ToParent::AhSequences(counters) => resume.ah_sequences = counters,
        ToParent::Health(health) => resume.health = health,
        ToParent::HealthMore(more) => resume.health.extend(more),
        ToParent::HealthChanged(changed) => {
            for h in changed {
                let known = resume.health.iter_mut().find(|k| {
                    k.real_server == h.real_server && k.virtual_server == h.virtual_server
                });
                match known {
                    Some(k) => *k = h,
                    None => resume.health.push(h),
                }
            }
        }
        ToParent::Beat | ToParent::Status(_) | ToParent::Fatal(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_delay_follows_keepalived() {
        let s = |n: u64| Micros(n * 1_000_000);
        // Quick deaths one after the other: 0, 1, 2, 4 ... 60, 60.
        let mut pending = Micros(0);
        let mut waits = Vec::new();
        for _ in 0..9 {
            let (wait, next) = restart_delay(s(2), pending);
            waits.push(wait.0 / 1_000_000);
            pending = next;
        }
        assert_eq!(waits, [0, 1, 2, 4, 8, 16, 32, 60, 60]);
        // A run of a minute or more: at once, and the backoff starts over.
        assert_eq!(restart_delay(s(60), s(32)), (Micros(0), Micros(0)));
        assert_eq!(restart_delay(s(61), Micros(0)), (Micros(0), Micros(0)));
    }

    #[test]
    fn roles_follow_the_config_and_the_flags() {
        let mut c = Config::default();
        assert!(roles_for(&c, false, false).is_empty());
        assert_eq!(roles_for(&c, true, false), [Role::Vrrp]);
        assert_eq!(roles_for(&c, false, true), [Role::Check]);
        let farm = crate::config::parse_str(
            "t.conf",
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.1.1 80 {\n }\n}\n",
        );
        c.virtual_servers = farm.config.virtual_servers;
        assert_eq!(c.virtual_servers.len(), 1);
        assert_eq!(roles_for(&c, false, false), [Role::Check]);
        assert_eq!(roles_for(&c, true, false), [Role::Vrrp]);
    }
}
