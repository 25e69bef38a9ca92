//! The checker child's start: receives the config from the watchdog and runs the checker
//! loop of `check.rs`. (Interim: heartbeats come from a small thread until the checker's own
//! loop polls the link; status, reload and resume go through the loop then.)

use super::child::{self, ParentLink};
use super::link::Link;
use super::Options;
use crate::sys::clock;
use log::error;

pub fn run_child(mut link: Link, opts: Options) -> i32 {
    let (config, _resume) = match child::receive_start(&mut link) {
        Ok(x) => x,
        Err(e) => {
            error!("{e}");
            return super::watchdog::EXIT_FATAL;
        }
    };
    let mut parent = ParentLink::new(link);
    let beats = std::thread::Builder::new()
        .name("beats".into())
        .spawn(move || loop {
            parent.beat(clock::now());
            std::thread::sleep(std::time::Duration::from_millis(500));
        });
    if let Err(e) = beats {
        error!("heartbeat thread: {e}");
        return 1;
    }
    match super::check::run(config, opts) {
        Ok(()) => 0,
        Err(e) => {
            error!("{e}");
            1
        }
    }
}
