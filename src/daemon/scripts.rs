//! `vrrp_script`s: run each at its interval (one run at a time), time it out, count rise/fall,
//! and report status changes.

use crate::config::model::{Config, VrrpScript};
use crate::sys::script::{Child, Outcome, Script, UserDb};
use crate::time::Instant;
use crate::vrrp::{ScriptRiseFall, ScriptStatus};
use log::{debug, error, info, warn};

pub(super) struct TrackScript {
    pub name: String,
    interval: crate::time::Micros,
    timeout: crate::time::Micros,
    script: Option<Script>,
    rise_fall: ScriptRiseFall,
    next_run: Instant,
    child: Option<Child>,
}

/// Prepares every `vrrp_script` that some instance or group tracks. A script that cannot run
/// (unknown user, insecure path) is reported once and counts as failed.
pub(super) fn prepare(config: &Config, users: &UserDb, now: Instant) -> Vec<TrackScript> {
    let security = config.global.enable_script_security;
    let tracked = |s: &VrrpScript| {
        config
            .instances
            .iter()
            .any(|i| i.track_script.iter().any(|t| t.name == s.name))
            || config
                .sync_groups
                .iter()
                .any(|g| g.track_script.iter().any(|t| t.name == s.name))
    };
    config
        .scripts
        .iter()
        .filter(|s| tracked(s))
        .map(|s| {
            let script = users
                .script_credentials(
                    s.script.run_as.as_deref(),
                    config.global.script_user.as_ref(),
                )
                .and_then(|creds| Script::prepare(&s.script.command, creds, security));
            let script = match script {
                Ok(script) => Some(script),
                Err(e) => {
                    error!("vrrp_script {}: {e}; it counts as failed", s.name);
                    None
                }
            };
            TrackScript {
                name: s.name.clone(),
                interval: s.interval,
                // keepalived: with no timeout a run may last one interval.
                timeout: s.timeout.unwrap_or(s.interval),
                script,
                rise_fall: ScriptRiseFall::new(s),
                next_run: now,
                child: None,
            }
        })
        .collect()
}

/// When the scripts next need attention: a run is due or a running one times out.
pub(super) fn next_deadline(scripts: &[TrackScript]) -> Option<Instant> {
    scripts
        .iter()
        .filter_map(|s| match &s.child {
            Some(child) => child.deadline(),
            None => Some(s.next_run),
        })
        .min()
}

/// Starts due runs and collects finished ones; calls `changed(index, status)` for each script
/// whose rise/fall status changed.
pub(super) fn poll(
    scripts: &mut [TrackScript],
    now: Instant,
    mut changed: impl FnMut(usize, ScriptStatus),
) {
    for (k, s) in scripts.iter_mut().enumerate() {
        if let Some(child) = &mut s.child {
            match child.try_reap(now) {
                Ok(None) => continue,
                Ok(Some(outcome)) => {
                    s.child = None;
                    let success = outcome == Outcome::Exited(0);
                    match outcome {
                        Outcome::TimedOut => warn!("vrrp_script {} timed out", s.name),
                        Outcome::Exited(0) => debug!("vrrp_script {} succeeded", s.name),
                        other => debug!("vrrp_script {} failed: {other:?}", s.name),
                    }
                    if let Some(status) = s.rise_fall.record(success) {
                        info!("vrrp_script {} now {:?}", s.name, status);
                        changed(k, status);
                    }
                }
                Err(e) => {
                    error!("vrrp_script {}: cannot reap: {e}", s.name);
                    s.child = None;
                }
            }
        }
        if s.child.is_none() && now >= s.next_run {
            // Runs stay on the interval grid; a long overrun skips runs instead of bunching.
            while s.next_run <= now {
                s.next_run = s.next_run + s.interval;
            }
            let started = match &s.script {
                Some(script) => match script.spawn(&[], now, Some(s.timeout)) {
                    Ok(child) => {
                        s.child = Some(child);
                        true
                    }
                    Err(e) => {
                        error!("vrrp_script {}: {e}", s.name);
                        false
                    }
                },
                None => false,
            };
            if !started {
                if let Some(status) = s.rise_fall.record(false) {
                    changed(k, status);
                }
            }
        }
    }
}

/// Stops every running script (shutdown).
pub(super) fn kill_all(scripts: &mut [TrackScript]) {
    for s in scripts {
        if let Some(mut child) = s.child.take() {
            let _ = child.kill_group();
        }
    }
}
