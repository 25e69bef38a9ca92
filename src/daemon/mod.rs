//! The process model: the VRRP daemon loop now, the watchdog and children later.
