//! The VRRP protocol without I/O: RFC 5798 §6 state machine per instance, priority from
//! tracking, sync groups. Fed events with an explicit `now`; returns actions.
//!
//! The daemon's loop, per event: feed the instance (`handle_advert`, `handle_timeout`,
//! `set_fault`, `set_priority_offset`), then `SyncGroup::update` if the instance is in a group,
//! then drain `poll_action` of every instance it touched and of the group, then re-arm its
//! timer with the earliest `poll_timeout`.

pub mod advert;
pub mod ah;
pub mod instance;
pub mod stats;
pub mod sync;
pub mod timers;
pub mod track;

pub use advert::{Advert, AhAdvert};
pub use ah::AhSequence;
pub use instance::{Action, Instance, State};
pub use stats::{DropReason, Stats};
pub use sync::{GroupAction, SyncGroup};
pub use track::{ScriptRiseFall, ScriptStatus, Tracker, Verdict};
