//! Health checkers for real servers (keepalived.conf(5) "Virtual server(s)": TCP_CHECK,
//! HTTP_GET, SSL_GET, MISC_CHECK, SMTP_CHECK, DNS_CHECK, UDP_CHECK, PING_CHECK, FILE_CHECK).
//!
//! - [`verdict`]: the sans-IO machine (retry, delay_before_retry, alpha, warmup, url stepping,
//!   real server up/down and weight), driven with an explicit `now`.
//! - [`probe`]: one async fn per checker type on smol; [`probe::Check`] is a checker prepared
//!   when the config is loaded.
//! - [`run`]: the loop tying one checker's verdict to its probe under a global cap.
//! - codecs without I/O: [`http`] (request, streaming response reader), [`dns`], [`smtp`],
//!   [`echo`] (ICMP), [`file`] (track file values), [`md5`].
//! - [`genhash`]: the digest of a page for `url { digest }`.
//!
//! Bounded memory. Everything a checker needs is built when the config is loaded; a probe
//! allocates nothing of its own. Limits:
//! - at most [`run::MAX_IN_FLIGHT`] probes (sockets or scripts) at once, process-wide; each
//!   in-flight probe works in one [`probe::Scratch`] of [`probe::SCRATCH_LEN`] bytes, taken with
//!   its slot from [`run::Slots`] (allocated once), so buffer memory is cap × 2 KiB whatever the
//!   number of checkers;
//! - per checker: its [`verdict::CheckerVerdict`] (under 100 bytes), its prepared
//!   [`probe::Check`] (under 200 bytes plus its request bytes) and its long-lived task (about
//!   1.1 KiB of future state, checked by a test);
//! - an HTTP body of any size is streamed through the 96-byte MD5 state and never held; header
//!   lines are looked at up to [`http::LINE_MAX`] bytes; SMTP replies keep 4 bytes per line;
//!   UDP_CHECK and DNS_CHECK replies are looked at up to the scratch size; FILE_CHECK reads
//!   [`file::READ_MAX`] bytes;
//! - a real server's actions are derived from its state, not queued.
//!
//! Beyond that only smol allocates: its per-socket reactor registration, timers, and a waiter
//! entry while a task waits for a slot; MISC_CHECK's fork/exec goes through std's `Command`
//! (in `sys::script`), which allocates the argument vector per run.
//!
//! SSL_GET needs a TLS stack that is not in the build: it reports "SSL_GET needs the `tls`
//! feature" as a failure on every probe.

pub mod dns;
pub mod echo;
pub mod file;
pub mod genhash;
pub mod http;
pub mod md5;
pub mod outcome;
pub mod probe;
pub mod run;
pub mod smtp;
pub mod timing;
pub mod verdict;
