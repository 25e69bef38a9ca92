//! keeplite: a keepalived-compatible VRRP + IPVS + health-check daemon for small routers.

pub mod check;
pub mod config;
pub mod daemon;
pub mod lvs;
pub mod sys;
pub mod time;
pub mod vrrp;
pub mod wire;
