//! The child's end of the watchdog link: the config it starts with, heartbeats once a second
//! from its main loop (a hung loop stops them, and the watchdog restarts the child), and the
//! messages its loop must handle.

use super::link::{Link, LinkError, Resume, ToChild, ToParent};
use super::watchdog::{Role, EXIT_FATAL};
use super::Options;
use crate::config::{binary, Config};
use crate::sys::clock;
use crate::time::{Instant, Micros};
use log::{error, warn};
use std::os::fd::{AsFd, BorrowedFd};

/// Heartbeat period; the watchdog's hung limit is ten of them.
pub const BEAT_EVERY: Micros = Micros(1_000_000);

/// The link as a child's main loop uses it.
pub struct ParentLink {
    link: Link,
    next_beat: Instant,
}

impl ParentLink {
    pub fn new(link: Link) -> ParentLink {
        ParentLink {
            link,
            next_beat: clock::now(),
        }
    }

    /// When [`ParentLink::beat`] next has something to do.
    pub fn next_deadline(&self) -> Instant {
        self.next_beat
    }

    /// Sends the heartbeat when due.
    pub fn beat(&mut self, now: Instant) {
        if now >= self.next_beat {
            self.send(&ToParent::Beat);
            self.next_beat = now + BEAT_EVERY;
        }
    }

    /// After the socket polled readable: the messages that arrived. `Err` when the parent is
    /// gone (the child should stop: PR_SET_PDEATHSIG sends SIGTERM too).
    pub fn read(&mut self) -> Result<Vec<ToChild>, LinkError> {
        self.link.fill()?;
        let mut out = Vec::new();
        while let Some(m) = self.link.take()? {
            out.push(m);
        }
        Ok(out)
    }

    pub fn send(&mut self, message: &ToParent) {
        if let Err(e) = self.link.send(message) {
            warn!("link to the watchdog: {e}");
        }
    }
}

impl AsFd for ParentLink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.link.as_fd()
    }
}

/// Decodes a config the watchdog sent (it encoded a config it had validated, so an error here
/// means a broken link, not a user's mistake).
pub fn decode_config(bytes: &[u8]) -> Result<Config, String> {
    binary::decode(bytes).map_err(|e| format!("config from the watchdog: {e}"))
}

/// Waits for the watchdog's first message: the config and what to resume.
pub fn receive_start(link: &mut Link) -> Result<(Config, Resume), String> {
    match link.recv_blocking::<ToChild>() {
        Ok(ToChild::Start { config, resume }) => Ok((decode_config(&config)?, resume)),
        Ok(other) => Err(format!("expected the config first, got {other:?}")),
        Err(e) => Err(format!("link to the watchdog: {e}")),
    }
}

/// The children's entry point, given to the watchdog.
pub fn child_main(role: Role, link: Link, opts: Options) -> i32 {
    match role {
        Role::Vrrp => super::vrrp::run_child(link, opts),
        Role::Check => super::check::run_child(link, opts),
    }
}

/// Reports a start-up failure to the watchdog (which stops the daemon) and gives the exit code.
pub fn fatal(parent: &mut ParentLink, message: String) -> i32 {
    error!("{message}");
    parent.send(&ToParent::Fatal(message));
    EXIT_FATAL
}
