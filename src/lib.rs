//! keeplite: a keepalived-compatible VRRP + IPVS + health-check daemon for small routers.

pub mod check;
pub mod config;
