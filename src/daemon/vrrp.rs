//! The VRRP daemon loop: one epoll loop driving every instance's state machine. Sockets are
//! shared per (interface, family, IP protocol: VRRP, or AH for `auth_type AH` as keepalived) and
//! packets go to instances by VRID; rtnetlink carries VIPs and link changes; scripts run as child
//! processes. No allocation per packet or timer tick.

use super::child::{self, ParentLink};
use super::link::{AhCounter, ChildStatus, InstanceKey, InstanceStatus, Link, ToChild, ToParent};
use super::links::Links;
use super::notify::Notifier;
use super::scripts::{self, TrackScript};
use super::{vips, Options, PidFile};
use crate::config::model::{Auth, Config, InitialState, VrrpInstance};
use crate::sys::announce::{self, ArpSocket, NdiscSocket};
use crate::sys::clock;
use crate::sys::event::{EventBuffer, EventLoop, Interest, Signal, SignalSet};
use crate::sys::rtnl::{self, Monitor, Rtnl};
use crate::sys::script::{NotifyKind, UserDb};
use crate::sys::vrrp_socket::{Ipv4Header, Vrrp4Socket, Vrrp6Socket};
use crate::time::Instant;
use crate::vrrp::advert::ah_key;
use crate::vrrp::{self as proto, Action, Advert, AhAdvert, AhSequence, GroupAction, Tracker};
use crate::wire::vrrp::{self as wire, Addresses, ChecksumForm, Endpoints, Family};
use crate::wire::{ah as wire_ah, arp, ipv4, ndisc};
use log::{debug, error, info, warn};
use std::collections::HashMap;
use std::net::IpAddr;

const MONITOR_TOKEN: u64 = 0;
/// The watchdog link (socket channels are 1..=n).
const PARENT_TOKEN: u64 = u64::MAX - 16;
/// Largest datagram we read; anything longer is dropped (and counted as `oversize`).
const RECV_BUFFER: usize = 4096;
/// How far an AH master's sequence numbers may run past the counter the watchdog holds for it:
/// the counter goes to the watchdog with the heartbeat (once a second, when it moved), and at
/// once before an advert would go further (a burst of adverts answering a peer's). A master
/// resumed after its VRRP child died skips this many, so its first advert is above any number
/// the dead child sent: peers accept only numbers above the last they saw (keepalived's rule).
const AH_SEQUENCE_SLACK: u32 = 64;

/// Why a received packet never reached an instance (instances count their own drops).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireDrop {
    Oversize,
    IpHeader,
    Vrrp(wire::Error),
    Ah(wire_ah::Error),
    VridNotOurs,
}

/// Per-reason counts of [`WireDrop`]s.
#[derive(Clone, Debug, Default)]
pub struct WireCounters {
    /// Datagrams longer than the receive buffer.
    pub oversize: u64,
    pub ip_header: u64,
    pub bad_version: u64,
    pub bad_checksum: u64,
    pub bad_type: u64,
    pub length: u64,
    pub other: u64,
    pub vrid_not_ours: u64,
    /// AH sockets: the AH header is cut short or its Payload Len is not HMAC-MD5-96's 4.
    pub ah_length: u64,
    /// AH sockets: the AH header protects something other than VRRP.
    pub ah_next_header: u64,
}

impl WireCounters {
    fn count(&mut self, drop: WireDrop) {
        let slot = match drop {
            WireDrop::Oversize => &mut self.oversize,
            WireDrop::IpHeader => &mut self.ip_header,
            WireDrop::VridNotOurs => &mut self.vrid_not_ours,
            WireDrop::Vrrp(wire::Error::BadVersion) => &mut self.bad_version,
            WireDrop::Vrrp(wire::Error::BadChecksum) => &mut self.bad_checksum,
            WireDrop::Vrrp(wire::Error::BadType) => &mut self.bad_type,
            WireDrop::Vrrp(wire::Error::Truncated | wire::Error::CountMismatch) => &mut self.length,
            WireDrop::Vrrp(_) => &mut self.other,
            WireDrop::Ah(wire_ah::Error::NotVrrp) => &mut self.ah_next_header,
            WireDrop::Ah(_) => &mut self.ah_length,
        };
        *slot += 1;
    }

    pub fn total(&self) -> u64 {
        self.oversize
            + self.ip_header
            + self.bad_version
            + self.bad_checksum
            + self.bad_type
            + self.length
            + self.other
            + self.vrid_not_ours
            + self.ah_length
            + self.ah_next_header
    }

    /// Every counter by the name `keeplite status` shows.
    fn named(&self) -> [(&'static str, u64); 10] {
        [
            ("oversize", self.oversize),
            ("ip_header", self.ip_header),
            ("bad_version", self.bad_version),
            ("bad_checksum", self.bad_checksum),
            ("bad_type", self.bad_type),
            ("length", self.length),
            ("other", self.other),
            ("vrid_not_ours", self.vrid_not_ours),
            ("ah_length", self.ah_length),
            ("ah_next_header", self.ah_next_header),
        ]
    }
}

enum Socket {
    V4(Vrrp4Socket),
    V6(Vrrp6Socket),
}

/// One raw socket per (interface, family, AH or not), shared by the instances on it.
struct Channel {
    ifname: String,
    /// IP protocol 51 (`auth_type AH`, IPv4 only) instead of 112.
    ah: bool,
    members: Vec<usize>,
    socket: Socket,
    drops: WireCounters,
    ident: u16,
}

impl Channel {
    /// How logs and `keeplite status` name the socket's family and protocol.
    fn family_label(&self) -> &'static str {
        match (&self.socket, self.ah) {
            (Socket::V6(_), _) => "ipv6",
            (Socket::V4(_), false) => "ipv4",
            (Socket::V4(_), true) => "ipv4 ah",
        }
    }
}

/// What the loop keeps per instance beside its state machine.
struct InstanceIo {
    channel: usize,
    tracker: Tracker,
    started: bool,
    /// The advertised addresses in wire form, encoded once.
    advertised: Vec<u8>,
    /// Where adverts come from; `None` when the interface has no usable address (fault).
    src: Option<IpAddr>,
    fixed_src: Option<IpAddr>,
    /// Every address the instance adds while master, to keep them out of source selection.
    own_addresses: Vec<IpAddr>,
}

pub struct VrrpDaemon {
    config: Config,
    opts: Options,
    rtnl: Rtnl,
    monitor: Monitor,
    links: Links,
    events: EventLoop,
    channels: Vec<Channel>,
    fsms: Vec<proto::Instance>,
    io: Vec<InstanceIo>,
    groups: Vec<proto::SyncGroup>,
    scripts: Vec<TrackScript>,
    notifier: Notifier,
    arp_sockets: HashMap<u32, ArpSocket>,
    nd_sockets: HashMap<u32, NdiscSocket>,
    rx: Vec<u8>,
    /// The addresses of the advert being handled (see `on_channel`).
    advert_addresses: Vec<IpAddr>,
    tx: [u8; 2048],
    stopping: bool,
    /// VMAC interfaces this run created (deleted on exit).
    created_vmacs: Vec<u32>,
    drop_log: LogLimit,
    /// Paced GARP/NA messages waiting for their time: (when, instance, address, interface).
    announce_queue: Vec<(Instant, usize, IpAddr, String)>,
    /// Per (interface, IPv6): when the next paced message on it may go.
    announce_next: HashMap<(String, bool), Instant>,
    /// Instances the previous child (or the config before a reload) left as master: they
    /// resume as master at once, their VIPs untouched.
    resume: Vec<InstanceKey>,
    /// AH sequence numbers a resumed master skips: [`AH_SEQUENCE_SLACK`] after a restart (the
    /// dead child's counter is known only as last reported), 0 after a reload (kept exactly).
    ah_resume_skip: u32,
    /// Per instance, the AH counter the watchdog holds (`None`: none reported, or not AH).
    ah_reported: Vec<Option<AhSequence>>,
    /// The watchdog must hear the AH counters at start: there are some, or it holds some.
    ah_report_at_start: bool,
    /// Per instance, whether it was master when last reported to the watchdog (empty before
    /// the first report).
    reported_master: Vec<bool>,
    /// A new config from the watchdog, applied when the loop returns.
    reload: Option<Config>,
}

/// Why the loop returned.
enum LoopEnd {
    Stop,
    Reload(Box<Config>),
}

/// The key reload and restart match instances by: keepalived's (VRID, family, interface).
pub fn instance_key(i: &VrrpInstance) -> InstanceKey {
    InstanceKey {
        vrid: i.virtual_router_id.get(),
        ipv6: i.is_ipv6(),
        interface: i.interface.as_str().to_string(),
    }
}

/// At most `PER_SECOND` drop lines a second: a flood must not turn into a flood of log lines.
#[derive(Default)]
struct LogLimit {
    window_start: Instant,
    in_window: u32,
    suppressed: u64,
}

impl LogLimit {
    const PER_SECOND: u32 = 20;

    fn allow(&mut self, now: Instant) -> bool {
        if now.saturating_since(self.window_start) >= crate::time::Micros::from_secs(1) {
            if self.suppressed > 0 {
                debug!("{} more dropped packets not logged", self.suppressed);
            }
            self.window_start = now;
            self.in_window = 0;
            self.suppressed = 0;
        }
        self.in_window += 1;
        if self.in_window > Self::PER_SECOND {
            self.suppressed += 1;
            return false;
        }
        true
    }
}

/// The VRRP child (`keeplite: vrrp`): gets its config from the watchdog and runs until
/// SIGTERM/SIGINT; a reload from the watchdog rebuilds the daemon around the instances that
/// stay. Returns the exit code.
pub fn run_child(link: Link, opts: Options) -> i32 {
    // `_pid` removes the pid file when the child ends.
    let (mut parent, mut daemon, _pid) = match start(link, &opts) {
        Ok(started) => started,
        Err(code) => return code,
    };
    loop {
        // Decoding and building the daemon ran code and stack the loop will not.
        crate::sys::process::release_start_up_pages();
        match daemon.run_loop(&mut parent) {
            Ok(LoopEnd::Stop) => return 0,
            Ok(LoopEnd::Reload(config)) => match rebuild(daemon, config, &opts, &mut parent) {
                Ok(d) => daemon = d,
                // The sockets or netlink could not be opened again: the watchdog restarts
                // us, and the masters it knows resume.
                Err(e) => {
                    error!("reload: {e}");
                    return 1;
                }
            },
            Err(e) => {
                error!("{e}");
                return 1;
            }
        }
    }
}

/// The child's start-up: the config from the watchdog, the event loop, the daemon. Its own
/// frame (kept out of `run_child`'s, which lives as long as the child): the config and the
/// daemon's parts pass through it by value.
#[inline(never)]
fn start(mut link: Link, opts: &Options) -> Result<(ParentLink, Box<VrrpDaemon>, PidFile), i32> {
    let start = child::receive_start(&mut link);
    let mut parent = ParentLink::new(link);
    let (config, resume) = match start {
        Ok(x) => x,
        Err(e) => return Err(child::fatal(&mut parent, e)),
    };
    // Signals must be blocked before anything else, so they arrive on the signalfd only.
    let mut events = match EventLoop::with_signals(SignalSet::DAEMON) {
        Ok(e) => e,
        Err(e) => return Err(child::fatal(&mut parent, format!("event loop: {e}"))),
    };
    if let Err(e) = events.add(
        std::os::fd::AsFd::as_fd(&parent),
        PARENT_TOKEN,
        Interest::Readable,
    ) {
        return Err(child::fatal(&mut parent, format!("epoll: {e}")));
    }
    let pid = match PidFile::create(opts.pid_file.as_ref()) {
        Ok(p) => p,
        Err(e) => return Err(child::fatal(&mut parent, format!("pid file: {e}"))),
    };
    // The counters as the previous child last reported them; a master among them may have sent
    // up to AH_SEQUENCE_SLACK more.
    let sequences = resume
        .ah_sequences
        .iter()
        .map(|c| {
            let s = AhSequence::from_parts(c.last, c.cycled);
            (c.instance.clone(), s)
        })
        .collect();
    let carried = Carried {
        masters: resume.masters,
        ah_sequences: sequences,
        ah_resume_skip: AH_SEQUENCE_SLACK,
        scripts: Vec::new(),
    };
    match VrrpDaemon::new(config, opts.clone(), events, carried) {
        Ok(d) => Ok((parent, d, pid)),
        Err(e) => Err(child::fatal(&mut parent, e)),
    }
}

/// A reload: the running daemon hands its sockets and state over to one built on `config`.
#[inline(never)]
fn rebuild(
    daemon: Box<VrrpDaemon>,
    config: Box<Config>,
    opts: &Options,
    parent: &mut ParentLink,
) -> Result<Box<VrrpDaemon>, String> {
    let (events, carried) = daemon.hand_over(&config, parent);
    VrrpDaemon::new(*config, opts.clone(), events, carried)
}

/// What a new daemon takes over from the one before it (a reload) or from the watchdog (a
/// restart).
struct Carried {
    /// Instances that were master.
    masters: Vec<InstanceKey>,
    /// AH counters (keepalived keeps them over a reload).
    ah_sequences: Vec<(InstanceKey, AhSequence)>,
    /// See [`VrrpDaemon::ah_resume_skip`].
    ah_resume_skip: u32,
    /// Notify scripts still running at a reload: the new notifier reaps them.
    scripts: Vec<crate::sys::script::Child>,
}

impl VrrpDaemon {
    fn new(
        mut config: Config,
        opts: Options,
        mut events: EventLoop,
        carried: Carried,
    ) -> Result<Box<VrrpDaemon>, String> {
        let mut rtnl = Rtnl::open().map_err(|e| e.to_string())?;
        let monitor = Monitor::open().map_err(|e| e.to_string())?;
        let mut links = Links::load(&mut rtnl).map_err(|e| e.to_string())?;
        let created_vmacs = create_vmacs(&mut config, &mut rtnl, &links);
        if !created_vmacs.is_empty() {
            links = Links::load(&mut rtnl).map_err(|e| e.to_string())?;
        }
        events
            .add(
                std::os::fd::AsFd::as_fd(&monitor),
                MONITOR_TOKEN,
                Interest::Readable,
            )
            .map_err(|e| format!("epoll: {e}"))?;

        // An instance whose interface does not exist cannot bind a socket: it is left out, loudly.
        config.instances.retain(|i| {
            let present = links.get(i.interface.as_str()).is_some();
            if !present {
                error!(
                    "({}) interface {} does not exist; instance not started",
                    i.name,
                    i.interface.as_str()
                );
            }
            present
        });
        let names: Vec<String> = config.instances.iter().map(|i| i.name.clone()).collect();
        for g in &mut config.sync_groups {
            g.group.retain(|m| names.contains(m));
        }

        let now = clock::now();
        let mut channels: Vec<Channel> = Vec::new();
        let mut io = Vec::with_capacity(config.instances.len());
        let mut fsms = Vec::with_capacity(config.instances.len());
        for (k, i) in config.instances.iter().enumerate() {
            let ipv6 = i.is_ipv6();
            let ah = ah_key(i).is_some();
            let send_if = send_ifname(i);
            let channel = match channels.iter().position(|c| {
                c.ifname == send_if && matches!(c.socket, Socket::V6(_)) == ipv6 && c.ah == ah
            }) {
                Some(c) => c,
                None => {
                    let socket = open_socket(&send_if, ipv6, ah)?;
                    let token = 1 + channels.len() as u64;
                    let fd = match &socket {
                        Socket::V4(s) => std::os::fd::AsFd::as_fd(s),
                        Socket::V6(s) => std::os::fd::AsFd::as_fd(s),
                    };
                    events
                        .add(fd, token, Interest::Readable)
                        .map_err(|e| format!("epoll: {e}"))?;
                    channels.push(Channel {
                        ifname: send_if.clone(),
                        ah,
                        members: Vec::new(),
                        socket,
                        drops: WireCounters::default(),
                        ident: 0,
                    });
                    channels.len() - 1
                }
            };
            if i.unicast_peer.is_empty() {
                join_group(&channels[channel].socket, i, &config)?;
            }
            channels[channel].members.push(k);
            let family = if ipv6 { Family::Ipv6 } else { Family::Ipv4 };
            let mut buf = [0u8; 255 * 16];
            let advertised = proto_advertised(i);
            let advertised = Addresses::encode(&mut buf, family, advertised.iter().copied())
                .map(|a| a.as_bytes().to_vec())
                .unwrap_or_default();
            let own_addresses = vips::addresses(i).iter().map(|v| v.addr).collect();
            let fixed_src = i.unicast_src_ip.or(i.mcast_src_ip);
            let mut tracker = Tracker::new(&config, i);
            let tracked: Vec<String> = tracker.interfaces().map(str::to_string).collect();
            for name in tracked {
                let up = links.get(&name).is_some_and(|l| l.up);
                tracker.set_interface(&name, up);
            }
            let mut fsm = proto::Instance::new(i, now);
            if ah && i.state == Some(InitialState::Master) && i.priority.get() != 255 {
                warn!(
                    "({}) initial state MASTER is incompatible with auth_type AH; starting as \
                     BACKUP (keepalived does the same)",
                    i.name
                );
            }
            let key = instance_key(i);
            if let Some((_, s)) = carried.ah_sequences.iter().find(|(k, _)| *k == key) {
                fsm.restore_ah_sequence(*s);
            }
            fsms.push(fsm);
            io.push(InstanceIo {
                channel,
                tracker,
                started: false,
                advertised,
                src: None,
                fixed_src,
                own_addresses,
            });
        }
        let groups = config
            .sync_groups
            .iter()
            .map(|g| proto::SyncGroup::new(g, &config.instances, &mut fsms))
            .collect();
        let users = UserDb::load().map_err(|e| format!("reading users: {e}"))?;
        let scripts = scripts::prepare(&config, &users, now);
        let mut notifier = Notifier::for_vrrp(&config, users, opts.vrrp_only);
        notifier.adopt(carried.scripts);
        let fsms_len = fsms.len();
        let ah_report_at_start =
            !carried.ah_sequences.is_empty() || fsms.iter().any(|f| f.ah_sequence().is_some());
        // Boxed: the daemon lives as long as the child, and on the stack it would stay in the
        // frame of every caller up to the loop.
        Ok(Box::new(VrrpDaemon {
            config,
            opts,
            rtnl,
            monitor,
            links,
            events,
            channels,
            fsms,
            io,
            groups,
            scripts,
            notifier,
            arp_sockets: HashMap::new(),
            nd_sockets: HashMap::new(),
            rx: vec![0; RECV_BUFFER],
            advert_addresses: Vec::new(),
            tx: [0; 2048],
            stopping: false,
            created_vmacs,
            drop_log: LogLimit::default(),
            announce_queue: Vec::new(),
            announce_next: HashMap::new(),
            resume: carried.masters,
            ah_resume_skip: carried.ah_resume_skip,
            ah_reported: vec![None; fsms_len],
            ah_report_at_start,
            reported_master: Vec::new(),
            reload: None,
        }))
    }

    fn run_loop(&mut self, parent: &mut ParentLink) -> Result<LoopEnd, String> {
        info!(
            "keeplite {} VRRP: {} instance(s) on {} socket(s)",
            env!("CARGO_PKG_VERSION"),
            self.fsms.len(),
            self.channels.len()
        );
        let now = clock::now();
        if self.ah_report_at_start {
            // What the watchdog holds now is this run's counters (before any skip), and none of
            // instances a reload dropped.
            self.report_ah_sequences(parent);
        }
        // Addresses a previous run may have left behind would answer for a VIP we do not own;
        // except those of an instance that was master a moment ago and resumes.
        for k in 0..self.fsms.len() {
            if !self.resumes(k) {
                vips::remove(&mut self.rtnl, &self.links, &self.config.instances[k]);
            }
            self.refresh_source(k);
        }
        for k in 0..self.fsms.len() {
            self.apply_tracking(now, k);
        }
        for g in 0..self.groups.len() {
            self.groups[g].start(now, &mut self.fsms);
        }
        self.settle(now, parent);

        self.report_masters(parent);
        let mut ready = EventBuffer::with_capacity(64 + self.channels.len());
        loop {
            let now = clock::now();
            let beat_due = now >= parent.next_deadline();
            parent.beat(now);
            if beat_due {
                self.report_moved_ah_sequences(parent);
            }
            let deadline = self
                .next_deadline()
                .map_or(parent.next_deadline(), |d| d.min(parent.next_deadline()));
            if let Err(e) = self.events.wait(Some(deadline), &mut ready) {
                return Err(format!("event loop: {e}"));
            }
            let now = clock::now();
            for event in ready.iter() {
                match event.token {
                    MONITOR_TOKEN => self.on_monitor(now),
                    PARENT_TOKEN => self.on_parent(parent),
                    token => self.on_channel(now, (token - 1) as usize),
                }
            }
            for signal in ready.signals().iter() {
                match signal {
                    Signal::Term | Signal::Int => self.stopping = true,
                    Signal::Hup => {
                        warn!("SIGHUP: reloading is not implemented yet; configuration unchanged")
                    }
                    Signal::Usr1 | Signal::Usr2 => self.log_state(),
                    Signal::Chld => {}
                }
            }
            let now = clock::now();
            if self.stopping {
                self.shutdown(now, parent);
                return Ok(LoopEnd::Stop);
            }
            if let Some(config) = self.reload.take() {
                return Ok(LoopEnd::Reload(Box::new(config)));
            }
            self.on_timers(now);
            self.settle(now, parent);
            self.report_masters(parent);
        }
    }

    /// Was instance `k` master before this daemon started (restart or reload)?
    fn resumes(&self, k: usize) -> bool {
        let key = instance_key(&self.config.instances[k]);
        self.resume.contains(&key)
    }

    fn on_parent(&mut self, parent: &mut ParentLink) {
        let messages = match parent.read() {
            Ok(m) => m,
            Err(e) => {
                // The watchdog is gone: stop as on SIGTERM (PR_SET_PDEATHSIG sends it too).
                warn!("link to the watchdog: {e}; stopping");
                self.stopping = true;
                return;
            }
        };
        for m in messages {
            match m {
                ToChild::Reload { config } => match child::decode_config(&config) {
                    Ok(c) => self.reload = Some(c),
                    Err(e) => error!("reload: {e}"),
                },
                ToChild::Status => parent.send(&ToParent::Status(self.status())),
                ToChild::Start { .. } => warn!("watchdog sent a second start; ignored"),
            }
        }
    }

    /// Tells the watchdog which instances are master, when that changes, so that a restarted
    /// child resumes them.
    fn report_masters(&mut self, parent: &mut ParentLink) {
        // Called every loop turn: compares states without allocating, builds the report only
        // when a state changed.
        let is_master = |f: &proto::Instance| f.state() == proto::State::Master;
        let unchanged = self.fsms.len() == self.reported_master.len()
            && self
                .fsms
                .iter()
                .zip(&self.reported_master)
                .all(|(f, &was)| is_master(f) == was);
        if unchanged {
            return;
        }
        self.reported_master = self.fsms.iter().map(is_master).collect();
        let masters = self
            .fsms
            .iter()
            .zip(&self.config.instances)
            .filter(|(f, _)| is_master(f))
            .map(|(_, i)| instance_key(i))
            .collect();
        parent.send(&ToParent::Masters(masters));
    }

    /// Sends the watchdog every AH instance's counter, for a restarted child.
    fn report_ah_sequences(&mut self, parent: &mut ParentLink) {
        let mut counters = Vec::new();
        for (k, (f, i)) in self.fsms.iter().zip(&self.config.instances).enumerate() {
            self.ah_reported[k] = f.ah_sequence();
            if let Some(s) = f.ah_sequence() {
                counters.push(AhCounter {
                    instance: instance_key(i),
                    last: s.last(),
                    cycled: s.cycled(),
                });
            }
        }
        parent.send(&ToParent::AhSequences(counters));
    }

    /// With the heartbeat: the AH counters if one moved since the last report (each advert
    /// sent or accepted moves one, so at most one message a second, not one per advert).
    fn report_moved_ah_sequences(&mut self, parent: &mut ParentLink) {
        let moved = self
            .fsms
            .iter()
            .zip(&self.ah_reported)
            .any(|(f, reported)| f.ah_sequence() != *reported);
        if moved {
            self.report_ah_sequences(parent);
        }
    }

    /// Before instance `k` sends AH sequence number `seq`: the watchdog must hold a counter at
    /// most [`AH_SEQUENCE_SLACK`] below it, or a child resumed after a crash could send `seq`
    /// again (and peers would drop it as a replay). A counter that went down (keepalived's
    /// sync to a lower-priority router, or a new start after running out) is reported at once
    /// too: a child resumed as backup from the higher number would drop the master's adverts.
    fn cover_ah_sequence(&mut self, parent: &mut ParentLink, k: usize, seq: u32) {
        let reported = self.ah_reported[k].map_or(0, |s| s.last());
        let lowered = self.fsms[k]
            .ah_sequence()
            .is_some_and(|s| s.last() < reported);
        if lowered || seq > reported.saturating_add(AH_SEQUENCE_SLACK) {
            self.report_ah_sequences(parent);
        }
    }

    fn status(&self) -> ChildStatus {
        let instances = self
            .fsms
            .iter()
            .zip(&self.config.instances)
            .enumerate()
            .map(|(k, (f, i))| {
                let s = f.stats();
                let drops: Vec<(String, u64)> = [
                    ("ttl", s.ttl_error),
                    ("version", s.version_error),
                    ("vrid", s.vrid_error),
                    ("auth_type", s.auth_type_error),
                    ("auth_failure", s.auth_failure),
                    ("ah_icv", s.ah_icv_failure),
                    ("ah_spi", s.ah_spi_error),
                    ("ah_sequence", s.ah_sequence_error),
                    ("address_count", s.address_count_error),
                    ("address_list", s.address_list_error),
                    ("interval", s.interval_error),
                    ("unicast_source", s.unicast_source_error),
                    ("cast", s.cast_error),
                    ("not_running", s.not_running),
                ]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.to_string(), n))
                .collect();
                InstanceStatus {
                    name: i.name.clone(),
                    interface: i.interface.as_str().to_string(),
                    vrid: i.virtual_router_id.get(),
                    ipv6: i.is_ipv6(),
                    state: f.state().as_str().to_string(),
                    priority: i.priority.get(),
                    effective_priority: f.effective_priority(),
                    master: if f.state() == proto::State::Master {
                        self.io[k].src
                    } else {
                        f.master_address()
                    },
                    become_master: s.become_master,
                    adverts_sent: s.adverts_sent,
                    adverts_received: s.adverts_received,
                    drops,
                }
            })
            .collect();
        let mut socket_drops = Vec::new();
        for c in &self.channels {
            for (reason, n) in c.drops.named() {
                if n > 0 {
                    let family = c.family_label();
                    socket_drops.push((format!("{} {family} {reason}", c.ifname), n));
                }
            }
        }
        ChildStatus::Vrrp {
            instances,
            socket_drops,
        }
    }

    /// Before a reload: instances the new config drops stop as on SIGTERM (priority 0, VIPs
    /// removed); masters that stay drop only the VIPs and routes the new config no longer has.
    /// Returns the event loop (with the watchdog link still in it), the masters to resume and
    /// the AH sequence counters of every instance that stays (keepalived keeps them too).
    fn hand_over(mut self, new: &Config, parent: &mut ParentLink) -> (EventLoop, Carried) {
        let now = clock::now();
        let mut resume = Vec::new();
        let mut sequences = Vec::new();
        for k in 0..self.fsms.len() {
            let old = &self.config.instances[k];
            let key = instance_key(old);
            if let Some(s) = self.fsms[k].ah_sequence() {
                sequences.push((key.clone(), s));
            }
            let kept = new.instances.iter().find(|n| instance_key(n) == key);
            match kept {
                None => {
                    info!("({}) not in the new configuration: stopping it", old.name);
                    self.fsms[k].shutdown(now);
                }
                Some(n) if self.fsms[k].state() == proto::State::Master => {
                    vips::remove_dropped(&mut self.rtnl, &self.links, old, n);
                    resume.push(key);
                }
                Some(_) => {}
            }
        }
        self.settle(now, parent);
        // Track scripts start again with the new config (their states are re-learned).
        scripts::kill_all(&mut self.scripts);
        let carried = Carried {
            masters: resume,
            ah_sequences: sequences,
            // Kept exactly in this process: nothing was sent unrecorded.
            ah_resume_skip: 0,
            scripts: self.notifier.into_children(),
        };
        (self.events, carried)
    }

    fn next_deadline(&self) -> Option<Instant> {
        let fsm = self.fsms.iter().filter_map(|f| f.poll_timeout()).min();
        [
            fsm,
            scripts::next_deadline(&self.scripts),
            self.notifier.next_deadline(),
            self.announce_queue.iter().map(|a| a.0).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_timers(&mut self, now: Instant) {
        // A due Master_Down timer must not win over an advert already queued on a socket (the
        // process was stopped, or late on a loaded machine): read the sockets first.
        if self
            .fsms
            .iter()
            .any(|f| f.poll_timeout().is_some_and(|t| t <= now))
        {
            for c in 0..self.channels.len() {
                self.on_channel(now, c);
            }
        }
        for fsm in &mut self.fsms {
            if fsm.poll_timeout().is_some_and(|t| t <= now) {
                fsm.handle_timeout(now);
            }
        }
        let mut changed = Vec::new();
        scripts::poll(&mut self.scripts, now, |k, status| {
            changed.push((k, status))
        });
        for (k, status) in changed {
            let name = self.scripts[k].name.clone();
            for i in 0..self.io.len() {
                if self.io[i].tracker.set_script(&name, status) {
                    self.apply_tracking(now, i);
                }
            }
        }
        self.notifier.reap(now);
        self.send_due_announcements(now);
    }

    /// Feeds tracking results to an instance, starting it once nothing is pending.
    fn apply_tracking(&mut self, now: Instant, k: usize) {
        let verdict = self.io[k].tracker.verdict();
        let fault = verdict.fault || self.io[k].src.is_none();
        let fsm = &mut self.fsms[k];
        fsm.set_priority_offset(now, verdict.offset);
        if !self.io[k].started {
            let resume = self
                .resume
                .contains(&instance_key(&self.config.instances[k]));
            // A resuming master does not wait for its scripts' first results: silence now
            // would hand the VIP to a backup.
            if verdict.pending && !resume {
                return;
            }
            let fsm = &mut self.fsms[k];
            fsm.set_fault(now, fault);
            if resume {
                let name = &self.config.instances[k].name;
                info!("({name}) resuming as master");
                fsm.resume_master(now, self.ah_resume_skip);
                if let (proto::State::Master, Some(s)) = (fsm.state(), fsm.ah_sequence()) {
                    info!("({name}) AH sequence numbers go on from {}", s.last());
                }
            } else {
                fsm.start(now);
            }
            self.io[k].started = true;
        } else {
            fsm.set_fault(now, fault);
        }
    }

    /// Picks the advert source address again (after address changes).
    fn refresh_source(&mut self, k: usize) {
        let i = &self.config.instances[k];
        let io = &mut self.io[k];
        let src = io.fixed_src.or_else(|| {
            // IPv4 adverts come from the interface's address even over a VMAC (which has none);
            // IPv6 ones from the link-local address of the interface they leave by.
            let ifname = if i.is_ipv6() {
                send_ifname(i)
            } else {
                i.interface.as_str().to_string()
            };
            let index = self.links.get(&ifname)?.index;
            self.links
                .source_address(index, i.is_ipv6(), &io.own_addresses)
        });
        if src != io.src {
            match src {
                Some(a) => info!("({}) advert source {a}", i.name),
                None => warn!(
                    "({}) {} has no usable address to send adverts from",
                    i.name,
                    i.interface.as_str()
                ),
            }
            io.src = src;
            self.fsms[k].set_src_addr(src);
        }
    }

    fn on_monitor(&mut self, now: Instant) {
        let mut links_changed: Vec<(String, bool)> = Vec::new();
        let mut addresses_changed = false;
        let links = &mut self.links;
        let result = self.monitor.read_events(|event| match event {
            rtnl::Event::Link {
                index,
                name,
                up,
                running,
            } => {
                if links.set_link(index, name, up && running) {
                    links_changed.push((name.to_string(), up && running));
                }
            }
            rtnl::Event::LinkDeleted { index, name } => {
                if links.set_link(index, name, false) {
                    links_changed.push((name.to_string(), false));
                }
            }
            rtnl::Event::Address {
                added,
                index,
                addr,
                prefix,
            } => {
                links.address_event(added, index, addr, prefix);
                addresses_changed = true;
            }
            rtnl::Event::Overrun => addresses_changed = true,
        });
        if let Err(e) = result {
            error!("rtnetlink monitor: {e}");
        }
        for (name, up) in &links_changed {
            info!("interface {name} is {}", if *up { "up" } else { "down" });
        }
        for k in 0..self.io.len() {
            let before = self.io[k].src;
            if addresses_changed {
                self.refresh_source(k);
            }
            let mut touched = before != self.io[k].src;
            for (name, up) in &links_changed {
                touched |= self.io[k].tracker.set_interface(name, *up);
            }
            if touched {
                self.apply_tracking(now, k);
            }
        }
    }

    fn on_channel(&mut self, now: Instant, c: usize) {
        let Some(channel) = self.channels.get_mut(c) else {
            return;
        };
        // Drain the socket: level-triggered epoll would wake us again anyway, but one pass is cheaper.
        loop {
            let received = match &channel.socket {
                Socket::V4(s) => s.recv(&mut self.rx),
                Socket::V6(s) => s.recv(&mut self.rx),
            };
            let rx = match received {
                Ok(Some(rx)) => rx,
                Ok(None) => return,
                Err(e) => {
                    warn!("{}: receive: {e}", channel.ifname);
                    return;
                }
            };
            if rx.truncated {
                channel.drops.count(WireDrop::Oversize);
                continue;
            }
            let mut ah: Option<AhAdvert> = None;
            let (payload, src, dst, ttl, family) = match &channel.socket {
                Socket::V4(_) => {
                    let datagram = &self.rx[..rx.len];
                    let Ok(packet) = ipv4::Packet::new_checked(datagram) else {
                        channel.drops.count(WireDrop::IpHeader);
                        continue;
                    };
                    let Ok(header) = ipv4::Repr::parse(&packet) else {
                        channel.drops.count(WireDrop::IpHeader);
                        continue;
                    };
                    let expected = if channel.ah {
                        wire_ah::IP_PROTOCOL
                    } else {
                        wire::IP_PROTOCOL
                    };
                    if header.protocol != expected {
                        channel.drops.count(WireDrop::IpHeader);
                        continue;
                    }
                    let start = packet.header_len();
                    let end = (start + usize::from(header.payload_len)).min(rx.len);
                    let mut payload = &self.rx[start..end];
                    if channel.ah {
                        let parsed = wire_ah::Packet::new_checked(payload)
                            .and_then(|p| wire_ah::Repr::parse(&p));
                        let repr = match parsed {
                            Ok(x) => x,
                            Err(e) => {
                                if self.opts.detailed_log && self.drop_log.allow(now) {
                                    debug!(
                                        "{}: dropped a packet from {}: {e}",
                                        channel.ifname, header.src_addr
                                    );
                                }
                                channel.drops.count(WireDrop::Ah(e));
                                continue;
                            }
                        };
                        ah = Some(AhAdvert {
                            spi: repr.spi,
                            sequence_number: repr.sequence_number,
                            datagram: &self.rx[..end],
                        });
                        // The checked view proved the header is there.
                        payload = &payload[wire_ah::HEADER_LEN..];
                    }
                    (
                        payload,
                        IpAddr::V4(header.src_addr),
                        IpAddr::V4(header.dst_addr),
                        header.ttl,
                        Family::Ipv4,
                    )
                }
                Socket::V6(_) => (
                    rx.payload(&self.rx),
                    rx.src,
                    rx.dst.unwrap_or(IpAddr::V6(wire::IPV6_GROUP)),
                    rx.ttl_or_hop_limit,
                    Family::Ipv6,
                ),
            };
            let parsed = parse_advert(payload, family, src, dst);
            let repr = match parsed {
                Ok(repr) => repr,
                Err(e) => {
                    if self.opts.detailed_log && self.drop_log.allow(now) {
                        debug!("{}: dropped a packet from {src}: {e}", channel.ifname);
                    }
                    channel.drops.count(WireDrop::Vrrp(e));
                    continue;
                }
            };
            // The instance on this socket with this VRID (unicast instances may share one VRID
            // with disjoint peers: prefer the one that lists the sender).
            let instances = &self.config.instances;
            let target = channel
                .members
                .iter()
                .copied()
                .filter(|&k| instances[k].virtual_router_id.get() == repr.vrid)
                .max_by_key(|&k| instances[k].unicast_peer.iter().any(|p| p.addr == src));
            let Some(k) = target else {
                channel.drops.count(WireDrop::VridNotOurs);
                continue;
            };
            // Kept between packets: no allocation once it has held the largest list seen (at
            // most 255 addresses), and no 4 KiB array on the stack of every packet.
            let addresses = &mut self.advert_addresses;
            addresses.clear();
            addresses.extend(repr.addresses.iter());
            let (adver_int_centis, auth) = match repr.version {
                wire::Version::V2 {
                    auth_type,
                    adver_int_secs,
                    auth_data,
                } => (
                    u16::from(adver_int_secs) * 100,
                    Some((auth_type, auth_data)),
                ),
                wire::Version::V3 {
                    max_adver_int_centis,
                } => (max_adver_int_centis, None),
            };
            let advert = Advert {
                src,
                ttl,
                unicast: !dst.is_multicast(),
                version: repr.version.number(),
                vrid: repr.vrid,
                priority: repr.priority,
                adver_int_centis,
                auth,
                ah,
                addresses,
            };
            if let Err(reason) = self.fsms[k].handle_advert(now, &advert) {
                if self.opts.detailed_log && self.drop_log.allow(now) {
                    debug!(
                        "({}) dropped an advert from {src}: {reason:?}",
                        instances[k].name
                    );
                }
            }
        }
    }

    /// Lets sync groups react, then carries out every pending action.
    fn settle(&mut self, now: Instant, parent: &mut ParentLink) {
        for g in 0..self.groups.len() {
            self.groups[g].update(now, &mut self.fsms);
        }
        for k in 0..self.fsms.len() {
            while let Some(action) = self.fsms[k].poll_action() {
                self.act(now, k, action, parent);
            }
        }
        for g in 0..self.groups.len() {
            while let Some(GroupAction::Notify(state)) = self.groups[g].poll_action() {
                let cfg = &self.config.sync_groups[g];
                info!(
                    "({}) sync group entering {} state",
                    cfg.name,
                    state.as_str()
                );
                self.notifier.state_change(
                    now,
                    NotifyKind::Group,
                    &cfg.name,
                    &cfg.notify,
                    state,
                    0,
                );
            }
        }
    }

    fn act(&mut self, now: Instant, k: usize, action: Action, parent: &mut ParentLink) {
        if let Action::SendAdvert {
            ah_sequence: Some(seq),
            ..
        } = action
        {
            self.cover_ah_sequence(parent, k, seq);
        }
        let i = &self.config.instances[k];
        match action {
            Action::SendAdvert {
                priority,
                adver_int_centis,
                ah_sequence,
            } => self.send_advert(k, priority, adver_int_centis, ah_sequence),
            Action::AddAddresses => vips::add(&mut self.rtnl, &self.links, i),
            Action::RemoveAddresses => {
                if !(self.stopping && self.opts.dont_release_vrrp) {
                    vips::remove(&mut self.rtnl, &self.links, i);
                }
            }
            Action::Announce { repeat } => self.announce(now, k, repeat, false),
            Action::AnnounceSource => self.announce(now, k, 1, true),
            Action::Notify(state) => {
                info!("({}) Entering {} STATE", i.name, state.as_str());
                let priority = self.fsms[k].effective_priority();
                self.notifier.state_change(
                    now,
                    NotifyKind::Instance,
                    &i.name,
                    &i.notify,
                    state,
                    priority,
                );
            }
            Action::NotifyMasterRxLowerPri => self
                .notifier
                .run_command(now, &i.notify.notify_master_rx_lower_pri),
            Action::NotifyStop => {
                let priority = self.fsms[k].effective_priority();
                self.notifier
                    .stop(now, NotifyKind::Instance, &i.name, &i.notify, priority);
            }
        }
    }

    fn send_advert(
        &mut self,
        k: usize,
        priority: u8,
        adver_int_centis: u16,
        ah_sequence: Option<u32>,
    ) {
        let i = &self.config.instances[k];
        let io = &self.io[k];
        let Some(src) = io.src else { return };
        let family = if i.is_ipv6() {
            Family::Ipv6
        } else {
            Family::Ipv4
        };
        let Some(addresses) = Addresses::new(&io.advertised, family) else {
            return;
        };
        let version = match i.version {
            crate::config::model::Version::V2 { auth, .. } => {
                let (auth_type, auth_data) = match auth {
                    Some(Auth::Pass(key)) => (wire::auth_type::PASS, key),
                    // The AH header carries the proof; keepalived sends zeros here.
                    Some(Auth::Ah(_)) => (wire::auth_type::AH, [0; 8]),
                    None => (wire::auth_type::NONE, [0; 8]),
                };
                wire::Version::V2 {
                    auth_type,
                    adver_int_secs: u8::try_from(adver_int_centis / 100).unwrap_or(u8::MAX),
                    auth_data,
                }
            }
            crate::config::model::Version::V3 { .. } => wire::Version::V3 {
                max_adver_int_centis: adver_int_centis,
            },
        };
        let repr = wire::Repr {
            version,
            vrid: i.virtual_router_id.get(),
            priority,
            addresses,
        };
        let ah = ah_key(i).zip(ah_sequence);
        // keepalived hashes the TTL of multicast adverts only (see `wire::ah`).
        let unicast = !i.unicast_peer.is_empty();
        let group = multicast_group(i, &self.config);
        let peers = i.unicast_peer.iter().map(|p| p.addr);
        let destinations: heapless::Vec<IpAddr, 64> = if i.unicast_peer.is_empty() {
            heapless::Vec::from_slice(&[group]).unwrap_or_default()
        } else {
            peers.take(64).collect()
        };
        let channel = &mut self.channels[io.channel];
        for dst in destinations {
            let result = match (&channel.socket, src, dst) {
                (Socket::V4(socket), IpAddr::V4(s), IpAddr::V4(d)) => {
                    // keepalived before 1.3.6 put the group in the pseudo-header for unicast too.
                    let sum_dst = if i.old_unicast_checksum { group } else { dst };
                    let Some(endpoints) = Endpoints::new(src, sum_dst) else {
                        continue;
                    };
                    let body_len = repr.buffer_len();
                    let ah_len = if ah.is_some() { wire_ah::HEADER_LEN } else { 0 };
                    let total = 20 + ah_len + body_len;
                    let Some(out) = self.tx.get_mut(..total) else {
                        continue;
                    };
                    // 0 would let the kernel pick the id, which the AH ICV covers; keepalived
                    // skips it too.
                    channel.ident = channel.ident.wrapping_add(1).max(1);
                    let header = ipv4::Repr {
                        src_addr: s,
                        dst_addr: d,
                        protocol: if ah.is_some() {
                            wire_ah::IP_PROTOCOL
                        } else {
                            wire::IP_PROTOCOL
                        },
                        payload_len: (ah_len + body_len) as u16,
                        tos: wire::IPV4_TOS,
                        ident: channel.ident,
                        dont_frag: false,
                        ttl: if d.is_multicast() {
                            wire::TTL
                        } else {
                            i.unicast_ttl.unwrap_or(wire::TTL)
                        },
                    };
                    let mut packet = ipv4::Packet::new_unchecked(&mut out[..]);
                    header.emit(&mut packet);
                    if let Some((_, sequence_number)) = ah {
                        let ah_header = wire_ah::Repr {
                            spi: wire_ah::spi_of(s),
                            sequence_number,
                        };
                        ah_header.emit(&mut wire_ah::Packet::new_unchecked(&mut out[20..]));
                    }
                    let mut body =
                        wire::Packet::new_unchecked(&mut out[20 + ah_len..], Family::Ipv4);
                    repr.emit(&mut body, &endpoints, ChecksumForm::WithPseudoHeader);
                    if let Some((key, _)) = ah {
                        if let Err(e) = wire_ah::fill_icv(out, &key, unicast) {
                            warn!("({}) AH: {e}", i.name);
                            continue;
                        }
                    }
                    socket.send_datagram(&out[..total], d)
                }
                (Socket::V6(socket), IpAddr::V6(s), IpAddr::V6(d)) => {
                    let Some(endpoints) = Endpoints::new(src, dst) else {
                        continue;
                    };
                    let len = repr.buffer_len();
                    let Some(out) = self.tx.get_mut(..len) else {
                        continue;
                    };
                    let mut body = wire::Packet::new_unchecked(&mut out[..], Family::Ipv6);
                    repr.emit(&mut body, &endpoints, ChecksumForm::WithPseudoHeader);
                    socket.send(&out[..len], Some(s), d)
                }
                _ => continue,
            };
            if let Err(e) = result {
                warn!("({}) sending advert to {dst}: {e}", i.name);
            }
        }
    }

    /// Gratuitous ARP / unsolicited NA for every VIP (or, for `source`, our own address).
    /// Gratuitous ARP / unsolicited NA for every VIP (or, for `source`, our own address):
    /// `repeat` rounds. With `vrrp_garp_interval` / `vrrp_gna_interval` the messages on one
    /// interface are spaced by that interval (keepalived's pacing); otherwise they go at once.
    fn announce(&mut self, now: Instant, k: usize, repeat: u32, source: bool) {
        let i = &self.config.instances[k];
        let targets: Vec<(IpAddr, String)> = if source {
            self.io[k]
                .src
                .map(|a| (a, i.interface.as_str().to_string()))
                .into_iter()
                .collect()
        } else {
            vips::addresses(i)
                .iter()
                .map(|v| (v.addr, vips::vip_ifname(i, v).to_string()))
                .collect()
        };
        let (garp_interval, gna_interval) = (
            self.config.global.vrrp_garp_interval,
            self.config.global.vrrp_gna_interval,
        );
        for _ in 0..repeat.max(1) {
            for (addr, ifname) in &targets {
                let interval = if addr.is_ipv6() {
                    gna_interval
                } else {
                    garp_interval
                };
                match interval.filter(|d| d.0 > 0) {
                    None => self.send_announcement(k, *addr, ifname),
                    Some(interval) => {
                        let key = (ifname.clone(), addr.is_ipv6());
                        let slot = self
                            .announce_next
                            .get(&key)
                            .copied()
                            .unwrap_or(now)
                            .max(now);
                        self.announce_next.insert(key, slot + interval);
                        self.announce_queue.push((slot, k, *addr, ifname.clone()));
                    }
                }
            }
        }
        self.send_due_announcements(now);
    }

    /// Sends the paced announcements whose time has come.
    fn send_due_announcements(&mut self, now: Instant) {
        let mut k = 0;
        while k < self.announce_queue.len() {
            if self.announce_queue[k].0 <= now {
                let (_, inst, addr, ifname) = self.announce_queue.swap_remove(k);
                self.send_announcement(inst, addr, &ifname);
            } else {
                k += 1;
            }
        }
    }

    fn send_announcement(&mut self, k: usize, addr: IpAddr, ifname: &str) {
        let i = &self.config.instances[k];
        let Some(link) = self.links.get(ifname) else {
            return;
        };
        let (index, mac) = (link.index, link.mac);
        let Some(mac) = mac else { return };
        let result = match addr {
            IpAddr::V4(a) => {
                let mut frame = [0u8; arp::GRATUITOUS_ARP_LEN];
                let len = arp::emit_gratuitous_arp(&mut frame, mac, a);
                let socket = match self.arp_sockets.entry(index) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => match ArpSocket::open(index) {
                        Ok(s) => v.insert(s),
                        Err(e) => {
                            warn!("({}) GARP socket on {ifname}: {e}", i.name);
                            return;
                        }
                    },
                };
                socket.send_frame(&frame[..len])
            }
            IpAddr::V6(a) => {
                let mut message = [0u8; ndisc::UNSOLICITED_NA_LEN];
                let router = announce::ipv6_forwarding(ifname);
                let len = ndisc::emit_unsolicited_na(&mut message, mac, a, router);
                let socket = match self.nd_sockets.entry(index) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => match NdiscSocket::open(ifname)
                    {
                        Ok(s) => v.insert(s),
                        Err(e) => {
                            warn!("({}) NA socket on {ifname}: {e}", i.name);
                            return;
                        }
                    },
                };
                socket.send_unsolicited_na(&message[..len], a)
            }
        };
        if let Err(e) = result {
            warn!("({}) announcing {addr} on {ifname}: {e}", i.name);
        }
    }

    fn shutdown(&mut self, now: Instant, parent: &mut ParentLink) {
        crate::sys::process::end_of_steady_state();
        info!("stopping");
        // keepalived stops its scripts (the FIFO readers among them) before the STOP lines.
        self.notifier.stop_readers();
        for fsm in &mut self.fsms {
            fsm.shutdown(now);
        }
        self.settle(now, parent);
        scripts::kill_all(&mut self.scripts);
        for &index in &self.created_vmacs {
            if let Err(e) = self.rtnl.del_link(index) {
                warn!("deleting VMAC interface {index}: {e}");
            }
        }
    }

    fn log_state(&self) {
        for (k, fsm) in self.fsms.iter().enumerate() {
            let i = &self.config.instances[k];
            info!(
                "({}) state {} priority {} (configured {}), master {:?}, stats {:?}",
                i.name,
                fsm.state().as_str(),
                fsm.effective_priority(),
                i.priority.get(),
                fsm.master_address(),
                fsm.stats()
            );
        }
        for c in &self.channels {
            let family = match (&c.socket, c.ah) {
                (Socket::V6(_), _) => "IPv6",
                (Socket::V4(_), false) => "IPv4",
                (Socket::V4(_), true) => "IPv4 AH",
            };
            info!(
                "socket {} {family}: dropped before an instance: {:?}",
                c.ifname, c.drops
            );
        }
    }
}

/// The interface adverts leave by: the VMAC unless `vmac_xmit_base`.
fn send_ifname(i: &VrrpInstance) -> String {
    match &i.use_vmac {
        Some(v) if !v.xmit_base => vmac_name(i),
        _ => i.interface.as_str().to_string(),
    }
}

/// keepalived's default VMAC name is `vrrp.<VRID>`.
fn vmac_name(i: &VrrpInstance) -> String {
    i.use_vmac
        .as_ref()
        .and_then(|v| v.name.as_ref())
        .map_or_else(
            || format!("vrrp.{}", i.virtual_router_id.get()),
            |n| n.as_str().to_string(),
        )
}

/// Creates the macvlan interfaces of `use_vmac` instances (00:00:5e:00:01:VRID, or :02: for
/// IPv6) and points their VIPs without a `dev` at them. Returns the indexes it created.
fn create_vmacs(config: &mut Config, rtnl: &mut Rtnl, links: &Links) -> Vec<u32> {
    use crate::config::model::{IfName, VirtualAddresses};
    let mut created = Vec::new();
    for i in &mut config.instances {
        if i.use_vmac.is_none() {
            continue;
        }
        let name = vmac_name(i);
        let Ok(ifname) = IfName::new(&name) else {
            continue;
        };
        if links.get(&name).is_none() {
            let Some(parent) = links.get(i.interface.as_str()) else {
                continue;
            };
            let vrid = i.virtual_router_id.get();
            let mac = crate::wire::netlink::link::virtual_router_mac(vrid, i.is_ipv6());
            match rtnl.add_macvlan(parent.index, &name, mac) {
                Ok(index) => {
                    info!("({}) created VMAC interface {name}", i.name);
                    created.push(index);
                }
                Err(e) => {
                    error!("({}) cannot create VMAC interface {name}: {e}", i.name);
                    continue;
                }
            }
        }
        let dev = || Some(ifname.clone());
        match &mut i.virtual_ipaddress {
            VirtualAddresses::V4(list) => list
                .iter_mut()
                .filter(|v| v.dev.is_none())
                .for_each(|v| v.dev = dev()),
            VirtualAddresses::V6(list) => list
                .iter_mut()
                .filter(|v| v.dev.is_none())
                .for_each(|v| v.dev = dev()),
        }
        for v in i
            .virtual_ipaddress_excluded
            .iter_mut()
            .filter(|v| v.dev.is_none())
        {
            v.dev = dev();
        }
    }
    created
}

fn proto_advertised(i: &VrrpInstance) -> Vec<IpAddr> {
    use crate::config::model::VirtualAddresses;
    match &i.virtual_ipaddress {
        VirtualAddresses::V4(v) => v.iter().map(|a| IpAddr::V4(a.addr)).take(255).collect(),
        VirtualAddresses::V6(v) => v.iter().map(|a| IpAddr::V6(a.addr)).take(89).collect(),
    }
}

fn multicast_group(i: &VrrpInstance, config: &Config) -> IpAddr {
    i.mcast_dst_ip.unwrap_or(if i.is_ipv6() {
        IpAddr::V6(config.global.vrrp_mcast_group6.unwrap_or(wire::IPV6_GROUP))
    } else {
        IpAddr::V4(config.global.vrrp_mcast_group4.unwrap_or(wire::IPV4_GROUP))
    })
}

/// `ah`: IP protocol 51 (IPv4 only), as keepalived's socket for `auth_type AH`.
fn open_socket(ifname: &str, ipv6: bool, ah: bool) -> Result<Socket, String> {
    let socket = if ipv6 {
        Vrrp6Socket::open(ifname).map(Socket::V6)
    } else if ah {
        Vrrp4Socket::open_with_protocol(ifname, Ipv4Header::Caller, wire_ah::IP_PROTOCOL)
            .map(Socket::V4)
    } else {
        Vrrp4Socket::open(ifname, Ipv4Header::Caller).map(Socket::V4)
    };
    socket.map_err(|e| format!("VRRP socket on {ifname}: {e}"))
}

fn join_group(socket: &Socket, i: &VrrpInstance, config: &Config) -> Result<(), String> {
    let result = match (socket, multicast_group(i, config)) {
        (Socket::V4(s), IpAddr::V4(g)) => s.join(g),
        (Socket::V6(s), IpAddr::V6(g)) => s.join(g),
        _ => return Ok(()),
    };
    match result {
        Ok(()) => Ok(()),
        // Another instance on this socket joined it already.
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(()),
        Err(e) => Err(format!(
            "({}) joining the VRRP group on {}: {e}",
            i.name,
            i.interface.as_str()
        )),
    }
}

/// Parses a VRRP message; for VRRPv3 over IPv4 also accepts the checksum keepalived before
/// 1.3.6 sent for unicast (group address in the pseudo-header).
fn parse_advert(
    payload: &[u8],
    family: Family,
    src: IpAddr,
    dst: IpAddr,
) -> Result<wire::Repr<'_>, wire::Error> {
    let packet = wire::Packet::new_checked(payload, family)?;
    let endpoints = Endpoints::new(src, dst).ok_or(wire::Error::FamilyMismatch)?;
    match wire::Repr::parse(&packet, &endpoints) {
        Ok((repr, _form)) => Ok(repr),
        Err(wire::Error::BadChecksum) if family == Family::Ipv4 && !dst.is_multicast() => {
            let old = Endpoints::new(src, IpAddr::V4(wire::IPV4_GROUP))
                .ok_or(wire::Error::FamilyMismatch)?;
            wire::Repr::parse(&packet, &old).map(|(repr, _)| repr)
        }
        Err(e) => Err(e),
    }
}
