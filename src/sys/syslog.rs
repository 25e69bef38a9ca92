//! Logging to the local syslog daemon over /dev/log (RFC 3164 framing without the timestamp,
//! which the local daemon adds: busybox syslogd, OpenWrt's logd, rsyslog and journald all do).

use std::os::unix::net::UnixDatagram;

const DEV_LOG: &str = "/dev/log";

/// RFC 3164 severities keeplite uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error = 3,
    Warning = 4,
    Info = 6,
    Debug = 7,
}

/// Facility codes: `daemon` (keepalived's default) or `local0`..`local7` (`-S N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facility(u8);

impl Facility {
    pub const DAEMON: Facility = Facility(3);

    /// `-S 0..7`: LOG_LOCAL0..LOG_LOCAL7.
    pub fn local(n: u8) -> Option<Facility> {
        (n <= 7).then_some(Facility(16 + n))
    }
}

/// A connection to /dev/log, reopened when the syslog daemon restarts.
pub struct Syslog {
    socket: Option<UnixDatagram>,
    facility: Facility,
    path: &'static str,
}

impl Syslog {
    pub fn new(facility: Facility) -> Syslog {
        Syslog::at(DEV_LOG, facility)
    }

    /// A syslog socket somewhere else than /dev/log (tests).
    pub fn at(path: &'static str, facility: Facility) -> Syslog {
        Syslog {
            socket: None,
            facility,
            path,
        }
    }

    /// Drops the socket without closing its number: after fork the child closed every
    /// inherited descriptor, and that number may already belong to someone else.
    pub fn forget_after_fork(&mut self) {
        if let Some(socket) = self.socket.take() {
            std::mem::forget(socket);
        }
    }

    /// Sends one line; a missing or restarting syslog daemon loses the line, never blocks us.
    pub fn send(&mut self, severity: Severity, tag: &str, message: &str) {
        let line = format!(
            "<{}>{}[{}]: {}",
            (self.facility.0 << 3) | severity as u8,
            tag,
            std::process::id(),
            message
        );
        for _ in 0..2 {
            if self.socket.is_none() {
                self.socket = UnixDatagram::unbound().ok().and_then(|s| {
                    s.set_nonblocking(true).ok()?;
                    s.connect(self.path).ok()?;
                    Some(s)
                });
            }
            match &self.socket {
                Some(s) if s.send(line.as_bytes()).is_ok() => return,
                Some(_) => self.socket = None,
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities_follow_syslog_h() {
        assert_eq!(Facility::DAEMON.0 << 3, 24);
        assert_eq!(Facility::local(0).map(|f| f.0 << 3), Some(128));
        assert_eq!(Facility::local(7).map(|f| f.0 << 3), Some(184));
        assert_eq!(Facility::local(8), None);
    }

    #[test]
    fn lines_reach_the_socket_in_rfc3164_framing() {
        let path = format!("/tmp/keeplite-syslog-test-{}", std::process::id());
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).expect("bind");
        let leaked: &'static str = Box::leak(path.clone().into_boxed_str());
        let mut log = Syslog::at(leaked, Facility::local(3).expect("local3"));
        log.send(
            Severity::Warning,
            "keeplite_vrrp",
            "(VI_1) Entering MASTER STATE",
        );
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).expect("recv");
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        // local3 (19) * 8 + warning (4) = 156.
        let want = format!(
            "<156>keeplite_vrrp[{}]: (VI_1) Entering MASTER STATE",
            std::process::id()
        );
        assert_eq!(line, want);
        // A restarted syslog daemon (socket replaced) is reconnected to.
        drop(server);
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).expect("bind");
        log.send(Severity::Info, "keeplite", "again");
        let n = server.recv(&mut buf).expect("recv");
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("]: again"));
        let _ = std::fs::remove_file(&path);
    }
}
