//! The only room with syscalls: sockets, rtnetlink, the event loop, scripts, the clock.

pub mod announce;
pub mod check_socket;
pub mod clock;
pub mod event;
pub mod ipvs;
pub mod process;
pub mod random;
pub mod reactor;
pub mod rtnl;
pub mod script;
pub mod syslog;
pub mod vrrp_socket;
