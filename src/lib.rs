//! keeplite: a keepalived-compatible VRRP + IPVS + health-check daemon for small routers.

pub mod config;
