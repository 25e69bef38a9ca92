//! The typed configuration every part of keeplite runs from. Field names keep keepalived's
//! keyword spelling; newtypes refuse out-of-range values even when decoded from a binary config.

use super::compact::{Sparse, SparseDefault};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A time span in microseconds (timers are integer microseconds everywhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Micros(pub u64);

impl Serialize for Micros {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match super::compact::encode_micros(self.0) {
            Some(v) => s.serialize_u64(v),
            None => Err(serde::ser::Error::custom("time span too large")),
        }
    }
}

impl<'de> Deserialize<'de> for Micros {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        super::compact::decode_micros(v)
            .map(Micros)
            .ok_or_else(|| serde::de::Error::custom("time span too large"))
    }
}

impl Micros {
    pub const fn from_secs(secs: u64) -> Self {
        Micros(secs * 1_000_000)
    }
}

macro_rules! ranged {
    ($(#[$doc:meta])* $name:ident($int:ty), $min:expr, $max:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = $what, into = $what)]
        pub struct $name($int);

        impl $name {
            pub const MIN: $int = $min;
            pub const MAX: $int = $max;
            pub fn new(value: $int) -> Option<Self> {
                (Self::MIN..=Self::MAX).contains(&value).then_some(Self(value))
            }
            pub fn get(self) -> $int {
                self.0
            }
        }

        impl TryFrom<$int> for $name {
            type Error = String;
            fn try_from(value: $int) -> Result<Self, String> {
                Self::new(value).ok_or_else(|| {
                    format!(concat!(stringify!($name), " {} is outside {}..={}"), value, $min, $max)
                })
            }
        }

        impl From<$name> for $int {
            fn from(value: $name) -> $int {
                value.0
            }
        }
    };
}

ranged!(
    /// Virtual router identifier, RFC 5798 §5.2.3.
    Vrid(u8), 1, 255, "u8"
);
ranged!(
    /// Configured priority; 255 means address owner.
    Priority(u8), 1, 255, "u8"
);
ranged!(
    /// Priority adjustment of a tracked interface or script.
    TrackWeight(i32), -253, 253, "i32"
);
ranged!(
    /// VRRPv2 advertisement interval, whole seconds (RFC 3768 §5.3.7).
    AdvertIntSecs(u8), 1, 255, "u8"
);
ranged!(
    /// VRRPv3 advertisement interval, centiseconds in 12 bits (RFC 5798 §5.2.7).
    AdvertIntCentis(u16), 1, 4095, "u16"
);

/// A Linux interface name: 1 to 15 bytes (IFNAMSIZ - 1), no `/` or whitespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IfName(String);

impl IfName {
    pub fn new(name: &str) -> Result<Self, String> {
        if name.is_empty() || name.len() > 15 {
            return Err(format!(
                "interface name `{name}` must be 1 to 15 bytes long"
            ));
        }
        if name.contains(|c: char| c == '/' || c.is_whitespace()) || name == "." || name == ".." {
            return Err(format!("`{name}` is not a valid interface name"));
        }
        Ok(IfName(name.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IfName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        IfName::new(&s)
    }
}

impl From<IfName> for String {
    fn from(n: IfName) -> String {
        n.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Config {
    pub global: GlobalDefs,
    pub scripts: Vec<VrrpScript>,
    pub track_files: Vec<TrackFile>,
    pub instances: Vec<VrrpInstance>,
    pub sync_groups: Vec<SyncGroup>,
    pub server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
}

/// A command to run (notify, script, misc_path), kept as written: keepalived splits it into
/// words itself and only uses a shell when the text needs one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub command: String,
    /// Boxed: rarely set, and a real server carries several commands (memory per server).
    pub run_as: Option<Box<RunAs>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunAs {
    pub user: String,
    pub group: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpServer {
    /// An address or a host name, resolved when mail is sent.
    pub host: String,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fifo {
    pub path: String,
    /// Owner of the FIFO keepalived creates.
    pub owner: Option<RunAs>,
    /// Script keepalived starts to read the FIFO.
    pub script: Option<Command>,
}

/// keepalived's GARP/NA timing, global defaults and per-instance values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Garp {
    pub master_delay: Micros,
    pub master_repeat: u32,
    /// Periodic refresh while master; `None` = off.
    pub master_refresh: Option<Micros>,
    pub master_refresh_repeat: u32,
    pub lower_prio_delay: Option<Micros>,
    pub lower_prio_repeat: Option<u32>,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            master_delay: Micros::from_secs(5),
            master_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
            lower_prio_delay: None,
            lower_prio_repeat: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvsTimeouts {
    pub tcp: Option<u32>,
    pub tcpfin: Option<u32>,
    pub udp: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GlobalDefs {
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<SmtpServer>,
    pub smtp_helo_name: Option<String>,
    pub smtp_connect_timeout: Option<Micros>,
    /// `router_id` (`lvs_id` is its old name).
    pub router_id: Option<String>,
    pub default_interface: Option<IfName>,
    pub vrrp_version: Option<u8>,
    pub vrrp_strict: bool,
    pub enable_script_security: bool,
    pub script_user: Option<RunAs>,
    pub vrrp_mcast_group4: Option<Ipv4Addr>,
    pub vrrp_mcast_group6: Option<Ipv6Addr>,
    /// Global GARP defaults (`vrrp_garp_master_delay`, ...); instances hold the resolved values.
    pub garp: Garp,
    pub vrrp_garp_interval: Option<Micros>,
    pub vrrp_gna_interval: Option<Micros>,
    pub vrrp_skip_check_adv_addr: bool,
    pub vrrp_check_unicast_src: bool,
    pub vrrp_lower_prio_no_advert: bool,
    pub vrrp_higher_prio_send_advert: bool,
    pub notify_fifo: Option<Fifo>,
    pub vrrp_notify_fifo: Option<Fifo>,
    pub lvs_notify_fifo: Option<Fifo>,
    pub lvs_timeouts: Option<LvsTimeouts>,
    pub lvs_flush: bool,
    pub dynamic_interfaces: bool,
    /// `rs_init_notifies`: at start, each real server that starts up is notified as up
    /// (notify_up, its FIFO line), not only those that come up later.
    pub rs_init_notifies: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpScript {
    pub name: String,
    pub script: Command,
    pub interval: Micros,
    pub timeout: Option<Micros>,
    pub weight: TrackWeight,
    pub weight_reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub init_fail: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackFile {
    pub name: String,
    pub file: String,
    pub weight: i32,
    pub weight_reverse: bool,
    /// `init_file [VALUE] [overwrite]`: create the file at start.
    pub init_file: Option<InitFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitFile {
    pub value: i64,
    pub overwrite: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitialState {
    Master,
    Backup,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Auth {
    /// Simple text password, up to 8 bytes (RFC 2338 type 1).
    Pass([u8; 8]),
    /// IPsec AH (RFC 2338 type 2), with the same 8-byte secret.
    Ah([u8; 8]),
}

/// The protocol version with what only that version allows: VRRPv2 has whole-second intervals
/// and optional authentication, VRRPv3 centisecond intervals and none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    V2 {
        advert_int: AdvertIntSecs,
        auth: Option<Auth>,
    },
    V3 {
        advert_int: AdvertIntCentis,
    },
}

impl Version {
    pub fn number(&self) -> u8 {
        match self {
            Version::V2 { .. } => 2,
            Version::V3 { .. } => 3,
        }
    }
    /// Advertisement interval in centiseconds.
    pub fn advert_int_centis(&self) -> u16 {
        match self {
            Version::V2 { advert_int, .. } => u16::from(advert_int.get()) * 100,
            Version::V3 { advert_int } => advert_int.get(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Broadcast {
    /// `brd +`: the kernel-style all-ones host part.
    Auto,
    /// `brd -`: none.
    Clear,
    Addr(Ipv4Addr),
}

/// One entry of `virtual_ipaddress` / `virtual_ipaddress_excluded`, as `ip address add` takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualAddress<A> {
    pub addr: A,
    pub prefix_len: u8,
    pub broadcast: Option<Broadcast>,
    pub dev: Option<IfName>,
    pub scope: Option<u8>,
    pub label: Option<String>,
    pub peer: Option<IpAddr>,
    pub home: bool,
    pub no_dad: bool,
    pub mngtmpaddr: bool,
    pub no_prefix_route: bool,
    pub autojoin: bool,
    pub no_track: bool,
    pub use_vmac: bool,
    /// `preferred_lft`: `None` as the kernel default, `Some(u32::MAX)` for `forever`.
    pub preferred_lft: Option<u32>,
}

impl<A> VirtualAddress<A> {
    /// The same entry with its address converted (e.g. between `Ipv4Addr` and `IpAddr`).
    pub fn with_addr<B>(self, addr: B) -> VirtualAddress<B> {
        VirtualAddress {
            addr,
            prefix_len: self.prefix_len,
            broadcast: self.broadcast,
            dev: self.dev,
            scope: self.scope,
            label: self.label,
            peer: self.peer,
            home: self.home,
            no_dad: self.no_dad,
            mngtmpaddr: self.mngtmpaddr,
            no_prefix_route: self.no_prefix_route,
            autojoin: self.autojoin,
            no_track: self.no_track,
            use_vmac: self.use_vmac,
            preferred_lft: self.preferred_lft,
        }
    }
}

/// The advertised addresses share one family (RFC 5798 §5.2.9): the type says which.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VirtualAddresses {
    V4(Vec<VirtualAddress<Ipv4Addr>>),
    V6(Vec<VirtualAddress<Ipv6Addr>>),
}

impl VirtualAddresses {
    pub fn is_ipv6(&self) -> bool {
        matches!(self, VirtualAddresses::V6(_))
    }
    pub fn len(&self) -> usize {
        match self {
            VirtualAddresses::V4(v) => v.len(),
            VirtualAddresses::V6(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RouteType {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualRoute {
    pub route_type: RouteType,
    pub src: Option<IpAddr>,
    pub to: IpAddr,
    pub prefix_len: u8,
    pub via: Option<IpAddr>,
    /// `or <IPADDR>`: a second gateway (multipath).
    pub or_via: Option<IpAddr>,
    pub dev: Option<IfName>,
    pub scope: Option<u8>,
    pub table: Option<u32>,
    pub metric: Option<u32>,
    pub protocol: Option<u8>,
    pub no_track: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedInterface {
    pub name: IfName,
    /// `None`: the instance goes to FAULT while the link is down.
    pub weight: Option<TrackWeight>,
    pub reverse: bool,
}

/// A reference by name to a `vrrp_script` or `track_file`, with an optional weight override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedByName {
    pub name: String,
    pub weight: Option<i32>,
    pub reverse: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Notify {
    pub notify_master: Option<Command>,
    pub notify_backup: Option<Command>,
    pub notify_fault: Option<Command>,
    pub notify_stop: Option<Command>,
    pub notify: Option<Command>,
    pub notify_master_rx_lower_pri: Option<Command>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vmac {
    /// Interface name to create; keepalived's default is `vrrp.<VRID>`.
    pub name: Option<IfName>,
    pub xmit_base: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpInstance {
    pub name: String,
    /// `state`; `None` when not written (an address owner then starts as master at once).
    pub state: Option<InitialState>,
    pub interface: IfName,
    pub virtual_router_id: Vrid,
    pub priority: Priority,
    pub version: Version,
    pub virtual_ipaddress: VirtualAddresses,
    pub virtual_ipaddress_excluded: Vec<VirtualAddress<IpAddr>>,
    pub virtual_routes: Vec<VirtualRoute>,
    pub mcast_src_ip: Option<IpAddr>,
    pub mcast_dst_ip: Option<IpAddr>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peer: Vec<UnicastPeer>,
    pub unicast_ttl: Option<u8>,
    pub unicast_fault_no_peer: bool,
    pub check_unicast_src: bool,
    pub old_unicast_checksum: bool,
    pub track_interface: Vec<TrackedInterface>,
    pub track_script: Vec<TrackedByName>,
    pub track_file: Vec<TrackedByName>,
    pub dont_track_primary: bool,
    pub track_src_ip: bool,
    pub nopreempt: bool,
    pub preempt_delay: Micros,
    /// Accept mode (RFC 5798 §6.1): `None` follows strict mode (off when strict, else on).
    pub accept: Option<bool>,
    pub strict_mode: bool,
    pub skip_check_adv_addr: bool,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub garp: Garp,
    pub down_timer_adverts: Option<u8>,
    pub use_vmac: Option<Vmac>,
    pub native_ipv6: bool,
    pub promote_secondaries: bool,
    pub lvs_sync_daemon_interface: Option<IfName>,
    pub smtp_alert: bool,
    /// Sparse (boxed when any is set): six commands are memory per instance.
    #[serde(with = "super::compact::compact_default")]
    pub notify: Sparse<Notify>,
}

impl VrrpInstance {
    pub fn is_ipv6(&self) -> bool {
        self.virtual_ipaddress.is_ipv6()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncGroup {
    pub name: String,
    /// Names of `vrrp_instance`s.
    pub group: Vec<String>,
    #[serde(with = "super::compact::compact_default")]
    pub notify: Notify,
    pub smtp_alert: bool,
    pub global_tracking: bool,
    pub sync_group_tracking_weight: bool,
    pub track_interface: Vec<TrackedInterface>,
    pub track_script: Vec<TrackedByName>,
    pub track_file: Vec<TrackedByName>,
}

// ---- LVS ----

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

impl Scheduler {
    pub const ALL: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Mh,
        Scheduler::Twos,
    ];
    /// The kernel's name (`ip_vs_<name>` module, IPVS_SVC_ATTR_SCHED_NAME).
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
        }
    }
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TunnelType {
    Ipip,
    Gue { port: u16 },
    Gre,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TunnelChecksum {
    NoCsum,
    Csum,
    RemCsum,
}

/// `lvs_method` / `lb_kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardMethod {
    Nat,
    Dr,
    Tun {
        tunnel: TunnelType,
        checksum: Option<TunnelChecksum>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    Inet,
    Inet6,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceKey {
    /// `virtual_server IP PORT` (port 0 with persistence: all ports).
    Addr {
        addr: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
    },
    Group {
        name: String,
    },
}

/// Checker timing that a virtual server, a real server and a checker may each set; the most
/// specific one wins.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckTiming {
    pub delay_loop: Option<Micros>,
    pub connect_timeout: Option<Micros>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Micros>,
    pub warmup: Option<Micros>,
    pub alpha: Option<bool>,
}

impl SparseDefault for CheckTiming {
    fn default_ref() -> &'static Self {
        static DEFAULT: CheckTiming = CheckTiming {
            delay_loop: None,
            connect_timeout: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            alpha: None,
        };
        &DEFAULT
    }
}

impl SparseDefault for Notify {
    fn default_ref() -> &'static Self {
        static NONE: Notify = Notify {
            notify_master: None,
            notify_backup: None,
            notify_fault: None,
            notify_stop: None,
            notify: None,
            notify_master_rx_lower_pri: None,
        };
        &NONE
    }
}

impl SparseDefault for Option<Command> {
    fn default_ref() -> &'static Self {
        static NONE: Option<Command> = None;
        &NONE
    }
}

impl SparseDefault for Option<String> {
    fn default_ref() -> &'static Self {
        static NONE: Option<String> = None;
        &NONE
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SchedulerFlags {
    pub flag_1: bool,
    pub flag_2: bool,
    pub flag_3: bool,
    pub sh_port: bool,
    pub sh_fallback: bool,
    pub mh_port: bool,
    pub mh_fallback: bool,
    pub ops: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persistence {
    pub timeout_secs: u32,
    /// `persistence_granularity` as a netmask length (IPv4 dotted mask or IPv6 prefix).
    pub granularity: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SorryServer {
    pub addr: IpAddr,
    pub port: u16,
    pub lvs_method: Option<ForwardMethod>,
    pub inhibit: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServer {
    pub key: ServiceKey,
    pub protocol: Protocol,
    pub lvs_sched: Scheduler,
    pub lvs_method: ForwardMethod,
    #[serde(with = "super::compact::compact_default")]
    pub flags: SchedulerFlags,
    pub persistence: Option<Persistence>,
    pub persistence_engine: Option<String>,
    pub ip_family: Option<Family>,
    pub virtualhost: Option<String>,
    pub sorry_server: Option<SorryServer>,
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<Command>,
    pub quorum_down: Option<Command>,
    pub alpha: bool,
    pub omega: bool,
    pub inhibit_on_failure: bool,
    pub ha_suspend: bool,
    pub smtp_alert: bool,
    #[serde(with = "super::compact::compact_default")]
    pub timing: CheckTiming,
    pub real_servers: Vec<RealServer>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    pub addr: IpAddr,
    pub port: u16,
    pub weight: u32,
    pub lvs_method: Option<ForwardMethod>,
    pub inhibit_on_failure: Option<bool>,
    pub uthreshold: Option<u32>,
    pub lthreshold: Option<u32>,
    /// Sparse (boxed when set), like the fields below: these are memory per real server.
    pub virtualhost: Sparse<Option<String>>,
    /// Sparse (boxed when set): these are memory per real server.
    pub notify_up: Sparse<Option<Command>>,
    pub notify_down: Sparse<Option<Command>>,
    pub smtp_alert: bool,
    #[serde(with = "super::compact::compact_default")]
    pub timing: Sparse<CheckTiming>,
    pub checkers: Vec<Checker>,
}

/// What every checker may set about where and how it connects.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckTarget {
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<IfName>,
    pub fwmark: Option<u32>,
    pub log_all_failures: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checker {
    pub kind: CheckKind,
    #[serde(with = "super::compact::compact_default")]
    pub target: CheckTarget,
    #[serde(with = "super::compact::compact_default")]
    pub timing: CheckTiming,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    Tcp,
    Http(HttpCheck),
    Ssl(HttpCheck),
    Misc(MiscCheck),
    Smtp(SmtpCheck),
    Dns(DnsCheck),
    Udp(UdpCheck),
    Ping,
    File(FileCheck),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpProtocol {
    Http10,
    Http10Close,
    Http10KeepAlive,
    Http11,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HttpCheck {
    pub urls: Vec<Url>,
    pub virtualhost: Option<String>,
    pub http_protocol: Option<HttpProtocol>,
    pub enable_sni: bool,
    pub fast_recovery: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Url {
    pub path: String,
    /// MD5 of the body, as `genhash` prints it.
    pub digest: Option<[u8; 16]>,
    /// Inclusive ranges; empty means keepalived's default 200-299.
    pub status_code: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiscCheck {
    pub misc_path: Command,
    pub misc_timeout: Option<Micros>,
    pub misc_dynamic: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SmtpCheck {
    pub helo_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DnsType {
    A,
    Ns,
    Cname,
    Soa,
    Mx,
    Txt,
    Aaaa,
}

impl DnsType {
    pub const ALL: [DnsType; 7] = [
        DnsType::A,
        DnsType::Ns,
        DnsType::Cname,
        DnsType::Soa,
        DnsType::Mx,
        DnsType::Txt,
        DnsType::Aaaa,
    ];
    pub fn name(self) -> &'static str {
        match self {
            DnsType::A => "A",
            DnsType::Ns => "NS",
            DnsType::Cname => "CNAME",
            DnsType::Soa => "SOA",
            DnsType::Mx => "MX",
            DnsType::Txt => "TXT",
            DnsType::Aaaa => "AAAA",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsCheck {
    pub query_type: DnsType,
    pub name: String,
}

/// One byte of a UDP_CHECK reply pattern: a value and which bits must match (`x` ignores a nibble).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedByte {
    pub value: u8,
    pub mask: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UdpCheck {
    pub payload: Option<Vec<u8>>,
    /// `require_reply` alone is `Some(empty)`; with a pattern, the bytes to match.
    pub require_reply: Option<Vec<MaskedByte>>,
    pub min_reply_length: Option<u32>,
    pub max_reply_length: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheck {
    pub track_file: String,
    pub weight: Option<i32>,
    pub reverse: bool,
    pub dynamic: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupEntry {
    /// `IP[-LAST] PORT`: `last` is the last address of the range (equal to `first` for one).
    Range {
        first: IpAddr,
        last: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
        family: Option<Family>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServerGroup {
    pub name: String,
    pub entries: Vec<GroupEntry>,
}
