//! The process model: a watchdog parent (`watchdog`) forks the VRRP child (`vrrp`) and the
//! checker child (`check`), which get the binary config over a socketpair (`link`, `child`);
//! `control` is the unix socket `keeplite status|reload|stop` talks to; `log` the logger.

pub mod check;
pub mod child;
pub mod control;
pub mod link;
mod links;
pub mod log;
mod notify;
mod scripts;
mod vips;
pub mod vrrp;
pub mod watchdog;

use std::path::PathBuf;

/// What the command line asks of the daemon (keepalived's flags).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-p`: where to write our pid.
    pub pid_file: Option<PathBuf>,
    /// `-V`: leave VIPs and routes in place on exit.
    pub dont_release_vrrp: bool,
    /// `-I`: leave IPVS services and destinations in place on exit.
    pub dont_release_ipvs: bool,
    /// `-D`: log every received packet problem and each action.
    pub detailed_log: bool,
    /// `-P`: only the VRRP child runs, so it reads `notify_fifo` itself.
    pub vrrp_only: bool,
}

/// Writes the pid file and removes it when dropped.
pub struct PidFile(Option<PathBuf>);

impl PidFile {
    pub fn create(path: Option<&PathBuf>) -> std::io::Result<PidFile> {
        if let Some(p) = path {
            std::fs::write(p, format!("{}\n", std::process::id()))?;
        }
        Ok(PidFile(path.cloned()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}
