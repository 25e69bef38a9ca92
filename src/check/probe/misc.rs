//! MISC_CHECK (keepalived's check_misc.c): run the script, its exit status is the verdict.
//! Exit 0 is up; without `misc_dynamic` anything else is down. With `misc_dynamic`, 1 is down
//! and 2..=255 is up with the real server's weight set to `status - 2`; exit 0 puts the weight
//! back. A script past `misc_timeout` has its process group killed and counts as down.
//!
//! The exit is collected by polling waitpid(WNOHANG) on a backoff (5 ms doubling to 100 ms),
//! on the reactor's timers: a few reaps per script, which is cheap next to its fork and exec,
//! and works the same whether or not SIGCHLD reaches the loop (`keeplite genhash`, tests).

use crate::check::outcome::{Failure, ProbeResult, WeightEffect};
use crate::sys::reactor;
use crate::sys::script::{Child, Outcome, Script};
use crate::time::Micros;

const FIRST_POLL: Micros = Micros(5_000);
const LAST_POLL: Micros = Micros(100_000);

pub(super) async fn run(script: &Script, timeout: Micros, dynamic: bool) -> ProbeResult {
    let child = script
        .spawn(&[], reactor::now(), Some(timeout))
        .map_err(|_| Failure::Spawn)?;
    let mut child = KillOnDrop(child);
    let mut pause = FIRST_POLL;
    loop {
        let now = reactor::now();
        if let Some(outcome) = child.0.try_reap(now)? {
            return judge(outcome, dynamic);
        }
        // Wake at the deadline too, so the kill is not late by a whole pause.
        let mut wake = now + pause;
        if let Some(deadline) = child.0.deadline() {
            if deadline > now {
                wake = wake.min(deadline);
            }
        }
        reactor::sleep_until(wake).await;
        pause = Micros((pause.0 * 2).min(LAST_POLL.0));
    }
}

/// The verdict on how the script ended.
pub fn judge(outcome: Outcome, dynamic: bool) -> ProbeResult {
    match outcome {
        Outcome::Exited(0) if dynamic => Ok(WeightEffect::Reset),
        Outcome::Exited(0) => Ok(WeightEffect::Keep),
        // Exit statuses are 0..=255, so the conversion holds.
        Outcome::Exited(code @ 2..=255) if dynamic => Ok(WeightEffect::Set(code as u32 - 2)),
        Outcome::Exited(code) => Err(Failure::Exit(code)),
        Outcome::Signaled(signal) => Err(Failure::Signal(signal)),
        Outcome::TimedOut => Err(Failure::Timeout),
    }
}

/// A probe dropped before the script ended (shutdown, reload) takes the script down with it.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_reap(reactor::now()), Ok(None)) {
            // Best effort: a group that is gone already is fine, and the zombie is collected
            // by the next reap of this pid or at exit.
            let _ = self.0.kill_group();
            let _ = self.0.try_reap(reactor::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(judge(Outcome::Exited(0), false), Ok(WeightEffect::Keep));
        assert_eq!(judge(Outcome::Exited(0), true), Ok(WeightEffect::Reset));
        assert_eq!(judge(Outcome::Exited(1), true), Err(Failure::Exit(1)));
        assert_eq!(judge(Outcome::Exited(1), false), Err(Failure::Exit(1)));
        assert_eq!(judge(Outcome::Exited(2), true), Ok(WeightEffect::Set(0)));
        assert_eq!(
            judge(Outcome::Exited(255), true),
            Ok(WeightEffect::Set(253))
        );
        assert_eq!(judge(Outcome::Exited(12), false), Err(Failure::Exit(12)));
        assert_eq!(judge(Outcome::Signaled(9), true), Err(Failure::Signal(9)));
        assert_eq!(judge(Outcome::TimedOut, false), Err(Failure::Timeout));
    }
}
