//! The VRRP protocol without I/O: RFC 5798 §6 state machine per instance, priority from
//! tracking, sync groups. Fed events with an explicit `now`; returns actions.
