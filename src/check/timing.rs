//! Checker timing as keepalived resolves it (keepalived.conf(5) "Virtual server(s)", and
//! check_data.c's defaulting): a checker's own setting wins, then its real server's, then its
//! virtual server's, then the checker type's default.
//!
//! Defaults: `delay_loop` 60 s; `connect_timeout` 5 s; `retry` 1 (DNS_CHECK 3, MISC_CHECK 0);
//! `delay_before_retry` 3 s for HTTP_GET/SSL_GET, `delay_loop` for DNS_CHECK, 1 s otherwise;
//! `warmup` = `delay_loop`; `alpha` off. MISC_CHECK's `misc_timeout` defaults to `delay_loop`.
//! FILE_CHECK has no timing of its own in keepalived (it follows the file with inotify): here it
//! is polled every `delay_loop`, at most every [`FILE_POLL`], with no retry, warmup or alpha.

use crate::config::model::{CheckKind, CheckTiming, Checker, Micros, RealServer, VirtualServer};

pub const DEFAULT_DELAY_LOOP: Micros = Micros::from_secs(60);
pub const DEFAULT_CONNECT_TIMEOUT: Micros = Micros::from_secs(5);
/// Longest gap between two reads of a FILE_CHECK's file.
pub const FILE_POLL: Micros = Micros::from_secs(1);

/// The timing one checker runs with, every field resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Gap between two checks of a healthy (or settled) checker.
    pub delay_loop: Micros,
    /// Connect timeout, and here the limit on a whole exchange (see `check::probe`).
    pub connect_timeout: Micros,
    /// Extra attempts after a failure before an up checker is declared down.
    pub retry: u32,
    pub delay_before_retry: Micros,
    /// The first check runs at a random point in `[0, warmup]` after start.
    pub warmup: Micros,
    /// Start down: the real server must pass its checks before it is used.
    pub alpha: bool,
}

impl Timing {
    /// Timing of `checker` on `rs` in `vs`.
    pub fn resolve(vs: &VirtualServer, rs: &RealServer, checker: &Checker) -> Timing {
        Timing::layered(
            &checker.kind,
            [&checker.timing, &rs.timing, &vs.timing],
            vs.alpha,
        )
    }

    /// `layers` from the most specific (checker) to the least (virtual server); `vs_alpha` is the
    /// virtual server's bare `alpha` keyword.
    pub fn layered(kind: &CheckKind, layers: [&CheckTiming; 3], vs_alpha: bool) -> Timing {
        let pick = |f: fn(&CheckTiming) -> Option<Micros>| layers.iter().find_map(|t| f(t));
        let delay_loop = pick(|t| t.delay_loop).unwrap_or(DEFAULT_DELAY_LOOP);
        if let CheckKind::File(_) = kind {
            return Timing {
                delay_loop: delay_loop.min(FILE_POLL),
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                retry: 0,
                delay_before_retry: delay_loop.min(FILE_POLL),
                warmup: Micros(0),
                alpha: false,
            };
        }
        let retry = layers.iter().find_map(|t| t.retry).unwrap_or(match kind {
            CheckKind::Dns(_) => 3,
            CheckKind::Misc(_) => 0,
            _ => 1,
        });
        let delay_before_retry = pick(|t| t.delay_before_retry).unwrap_or(match kind {
            CheckKind::Http(_) | CheckKind::Ssl(_) => Micros::from_secs(3),
            CheckKind::Dns(_) => delay_loop,
            _ => Micros::from_secs(1),
        });
        Timing {
            delay_loop,
            connect_timeout: pick(|t| t.connect_timeout).unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            retry,
            delay_before_retry,
            warmup: pick(|t| t.warmup).unwrap_or(delay_loop),
            alpha: layers.iter().find_map(|t| t.alpha).unwrap_or(vs_alpha),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{DnsCheck, DnsType, FileCheck, HttpCheck, MiscCheck};

    fn secs(s: u64) -> Option<Micros> {
        Some(Micros::from_secs(s))
    }

    #[test]
    fn defaults_per_kind() {
        let none = CheckTiming::default();
        let l = [&none, &none, &none];
        let tcp = Timing::layered(&CheckKind::Tcp, l, false);
        assert_eq!(
            tcp,
            Timing {
                delay_loop: Micros::from_secs(60),
                connect_timeout: Micros::from_secs(5),
                retry: 1,
                delay_before_retry: Micros::from_secs(1),
                warmup: Micros::from_secs(60),
                alpha: false,
            }
        );
        let http = Timing::layered(&CheckKind::Http(HttpCheck::default()), l, false);
        assert_eq!(http.delay_before_retry, Micros::from_secs(3));
        assert_eq!(http.retry, 1);
        let dns = CheckKind::Dns(DnsCheck {
            query_type: DnsType::Soa,
            name: ".".into(),
        });
        let dns = Timing::layered(&dns, l, false);
        assert_eq!(dns.retry, 3);
        assert_eq!(dns.delay_before_retry, Micros::from_secs(60));
        let misc = CheckKind::Misc(MiscCheck {
            misc_path: crate::config::model::Command {
                command: "true".into(),
                run_as: None,
            },
            misc_timeout: None,
            misc_dynamic: false,
        });
        assert_eq!(Timing::layered(&misc, l, false).retry, 0);
    }

    #[test]
    fn most_specific_wins() {
        let vs = CheckTiming {
            delay_loop: secs(10),
            connect_timeout: secs(2),
            retry: Some(5),
            delay_before_retry: secs(4),
            warmup: secs(0),
            alpha: Some(false),
        };
        let rs = CheckTiming {
            delay_loop: secs(7),
            retry: Some(2),
            ..CheckTiming::default()
        };
        let ck = CheckTiming {
            delay_loop: secs(3),
            alpha: Some(true),
            ..CheckTiming::default()
        };
        let t = Timing::layered(&CheckKind::Tcp, [&ck, &rs, &vs], false);
        assert_eq!(t.delay_loop, Micros::from_secs(3));
        assert_eq!(t.retry, 2);
        assert_eq!(t.connect_timeout, Micros::from_secs(2));
        assert_eq!(t.delay_before_retry, Micros::from_secs(4));
        assert_eq!(t.warmup, Micros(0));
        assert!(t.alpha);
        // A virtual server's retry beats the DNS default of 3.
        let dns = CheckKind::Dns(DnsCheck {
            query_type: DnsType::A,
            name: "x".into(),
        });
        let none = CheckTiming::default();
        assert_eq!(Timing::layered(&dns, [&none, &none, &vs], false).retry, 5);
    }

    #[test]
    fn warmup_follows_resolved_delay_loop_and_alpha_falls_back_to_vs() {
        let none = CheckTiming::default();
        let ck = CheckTiming {
            delay_loop: secs(9),
            ..CheckTiming::default()
        };
        let t = Timing::layered(&CheckKind::Ping, [&ck, &none, &none], true);
        assert_eq!(t.warmup, Micros::from_secs(9));
        assert!(t.alpha);
    }

    #[test]
    fn file_check_polls_and_never_retries() {
        let none = CheckTiming::default();
        let vs = CheckTiming {
            retry: Some(4),
            alpha: Some(true),
            ..CheckTiming::default()
        };
        let kind = CheckKind::File(FileCheck {
            track_file: "f".into(),
            weight: None,
            reverse: false,
            dynamic: false,
        });
        let t = Timing::layered(&kind, [&none, &none, &vs], true);
        assert_eq!(t.delay_loop, FILE_POLL);
        assert_eq!(t.retry, 0);
        assert!(!t.alpha);
        assert_eq!(t.warmup, Micros(0));
    }
}
