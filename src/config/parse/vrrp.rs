//! `vrrp_script`, `track_file`, `vrrp_instance` and `vrrp_sync_group`.

use super::value::{self, int, ip, ip_prefix, scope, secs, u32_in, u8_in};
use super::Cx;
use crate::config::diag::Location;
use crate::config::lexer::Token;
use crate::config::model::*;
use crate::config::tree::Statement;
use std::net::IpAddr;

pub(super) fn vrrp_script(cx: &mut Cx, s: &Statement, _g: &GlobalDefs) -> Option<VrrpScript> {
    let name = cx.block_name(s)?;
    let items = cx.block(s);
    let mut script: Option<Command> = None;
    let mut run_as = None;
    let mut out = VrrpScript {
        name: name.text.clone(),
        script: Command {
            command: String::new(),
            run_as: None,
        },
        interval: Micros::from_secs(1),
        timeout: None,
        weight: TrackWeight::new(0).expect("0 is in range"),
        weight_reverse: false,
        rise: 1,
        fall: 1,
        init_fail: false,
    };
    for item in items {
        match item.keyword.text.as_str() {
            "script" => {
                if let Some(text) = cx.text(item) {
                    script = Some(Command {
                        command: text,
                        run_as: None,
                    });
                }
            }
            "interval" => cx.set(&mut out.interval, item, |t| {
                value::secs_in(t, Micros(10_000), Micros::from_secs(86_400))
            }),
            "timeout" => cx.set_opt(&mut out.timeout, item, |t| {
                value::secs_in(t, Micros(10_000), Micros::from_secs(86_400))
            }),
            "weight" => {
                if let Some((w, reverse)) = weight_words(cx, item, &item.args, -253, 253) {
                    out.weight = TrackWeight::new(w).expect("checked range");
                    out.weight_reverse = reverse;
                }
            }
            "rise" => cx.set(&mut out.rise, item, |t| u32_in(t, 1, 1_000_000)),
            "fall" => cx.set(&mut out.fall, item, |t| u32_in(t, 1, 1_000_000)),
            "user" => run_as = cx.run_as(item).or(run_as),
            "init_fail" => cx.set_flag(&mut out.init_fail, item),
            _ => cx.unknown(item),
        }
    }
    let Some(mut script) = script else {
        cx.error(
            s.keyword.at,
            format!("vrrp_script `{}` has no `script`; it is dropped", name.text),
        );
        return None;
    };
    script.run_as = run_as.map(Box::new);
    out.script = script;
    if !cx.define(|n| &mut n.scripts, "vrrp_script", name) {
        return None;
    }
    Some(out)
}

pub(super) fn track_file(cx: &mut Cx, s: &Statement) -> Option<TrackFile> {
    let name = cx.block_name(s)?;
    let mut file = None;
    let mut out = TrackFile {
        name: name.text.clone(),
        file: String::new(),
        weight: 1,
        weight_reverse: false,
        init_file: None,
    };
    for item in cx.block(s) {
        match item.keyword.text.as_str() {
            "file" => file = cx.text(item).or(file),
            "weight" => {
                if let Some((w, reverse)) =
                    weight_words(cx, item, &item.args, -2_147_483_647, 2_147_483_647)
                {
                    out.weight = w;
                    out.weight_reverse = reverse;
                }
            }
            "init_file" => {
                let mut init = InitFile {
                    value: 0,
                    overwrite: false,
                };
                for arg in &item.args {
                    if arg.text == "overwrite" {
                        init.overwrite = true;
                    } else if let Some(v) = cx.parse_token(item, arg, |t| {
                        int(t, i64::from(i32::MIN), i64::from(i32::MAX))
                    }) {
                        init.value = v;
                    }
                }
                out.init_file = Some(init);
            }
            _ => cx.unknown(item),
        }
    }
    let Some(file) = file else {
        cx.error(
            s.keyword.at,
            format!("track_file `{}` has no `file`; it is dropped", name.text),
        );
        return None;
    };
    out.file = file;
    if !cx.define(|n| &mut n.track_files, "track_file", name) {
        return None;
    }
    Some(out)
}

/// `weight N [reverse|noreverse|no_reverse]` arguments (after the keyword `weight`).
fn weight_words(
    cx: &mut Cx,
    s: &Statement,
    args: &[Token],
    min: i64,
    max: i64,
) -> Option<(i32, bool)> {
    let Some(w) = args.first() else {
        cx.error(s.keyword.at, "`weight` needs a number");
        return None;
    };
    let w = cx.parse_token(s, w, |t| int(t, min, max))? as i32;
    let mut reverse = false;
    for extra in &args[1..] {
        match extra.text.as_str() {
            "reverse" => reverse = true,
            "noreverse" | "no_reverse" => reverse = false,
            other => cx.warning(extra.at, format!("`{other}` after the weight is ignored")),
        }
    }
    Some((w, reverse))
}

/// What an instance block says before defaults and families are settled.
struct Draft {
    vrid: Option<(Vrid, Location)>,
    advert_int: Option<(Micros, Location)>,
    version: Option<(u8, Location)>,
    auth_type: Option<(bool, Location)>,
    auth_pass: Option<([u8; 8], Location)>,
    /// Where `state` was written.
    state_at: Option<Location>,
    vips: Vec<(VirtualAddress<IpAddr>, Location)>,
    interface: Option<IfName>,
    strict_mode: Option<bool>,
    /// The keyword was written but its value was refused (already reported).
    vrid_refused: bool,
    interface_refused: bool,
    priority_given: bool,
}

pub(super) fn vrrp_instance(cx: &mut Cx, s: &Statement, g: &GlobalDefs) -> Option<VrrpInstance> {
    let name = cx.block_name(s)?;
    let mut d = Draft {
        vrid: None,
        advert_int: None,
        version: None,
        auth_type: None,
        auth_pass: None,
        state_at: None,
        vips: Vec::new(),
        interface: None,
        strict_mode: None,
        vrid_refused: false,
        interface_refused: false,
        priority_given: false,
    };
    let mut i = VrrpInstance {
        name: name.text.clone(),
        state: None,
        // Placeholders until the block is read; settled below.
        interface: IfName::new("lo").expect("valid"),
        virtual_router_id: Vrid::new(1).expect("valid"),
        priority: Priority::new(100).expect("valid"),
        version: Version::V3 {
            advert_int: AdvertIntCentis::new(100).expect("valid"),
        },
        virtual_ipaddress: VirtualAddresses::V4(Vec::new()),
        virtual_ipaddress_excluded: Vec::new(),
        virtual_routes: Vec::new(),
        mcast_src_ip: None,
        mcast_dst_ip: None,
        unicast_src_ip: None,
        unicast_peer: Vec::new(),
        unicast_ttl: None,
        unicast_fault_no_peer: false,
        check_unicast_src: g.vrrp_check_unicast_src,
        old_unicast_checksum: false,
        track_interface: Vec::new(),
        track_script: Vec::new(),
        track_file: Vec::new(),
        dont_track_primary: false,
        track_src_ip: false,
        nopreempt: false,
        preempt_delay: Micros(0),
        accept: None,
        strict_mode: g.vrrp_strict,
        skip_check_adv_addr: g.vrrp_skip_check_adv_addr,
        lower_prio_no_advert: g.vrrp_lower_prio_no_advert,
        higher_prio_send_advert: g.vrrp_higher_prio_send_advert,
        garp: g.garp.clone(),
        down_timer_adverts: None,
        use_vmac: None,
        native_ipv6: false,
        promote_secondaries: false,
        lvs_sync_daemon_interface: None,
        smtp_alert: false,
        notify: Default::default(),
    };
    for item in cx.block(s) {
        let at = item.keyword.at;
        match item.keyword.text.as_str() {
            "state" => {
                d.state_at = Some(at);
                cx.set_opt(&mut i.state, item, |t| match t {
                    "MASTER" => Ok(InitialState::Master),
                    "BACKUP" => Ok(InitialState::Backup),
                    _ => Err(format!("`{t}` is not MASTER or BACKUP")),
                })
            }
            "interface" => {
                cx.set_opt(&mut d.interface, item, IfName::new);
                d.interface_refused = d.interface.is_none();
            }
            "virtual_router_id" => match cx.value(item, |t| u8_in(t, 1, 255)) {
                Some(v) => d.vrid = Some((Vrid::new(v).expect("checked"), item.args[0].at)),
                None => d.vrid_refused = true,
            },
            "priority" => {
                d.priority_given = true;
                cx.set(&mut i.priority, item, |t| {
                    u8_in(t, 1, 255).map(|p| Priority::new(p).expect("checked"))
                })
            }
            "advert_int" => {
                if let Some(v) = cx.value(item, secs) {
                    d.advert_int = Some((v, item.args[0].at));
                }
            }
            "version" => {
                if let Some(v) = cx.value(item, |t| u8_in(t, 2, 3)) {
                    d.version = Some((v, item.args[0].at));
                }
            }
            "authentication" => authentication(cx, item, &mut d),
            "virtual_ipaddress" => {
                for entry in cx.block(item) {
                    if let Some(vip) = virtual_address(cx, entry) {
                        d.vips.push((vip, entry.keyword.at));
                    }
                }
            }
            "virtual_ipaddress_excluded" => {
                for entry in cx.block(item) {
                    i.virtual_ipaddress_excluded
                        .extend(virtual_address(cx, entry));
                }
            }
            "virtual_routes" => {
                for entry in cx.block(item) {
                    i.virtual_routes.extend(virtual_route(cx, entry));
                }
            }
            "mcast_src_ip" => cx.set_opt(&mut i.mcast_src_ip, item, ip),
            "mcast_dst_ip" => cx.set_opt(&mut i.mcast_dst_ip, item, |t| {
                ip(t).and_then(|a| {
                    if a.is_multicast() {
                        Ok(a)
                    } else {
                        Err(format!("`{t}` is not a multicast address"))
                    }
                })
            }),
            "unicast_src_ip" => cx.set_opt(&mut i.unicast_src_ip, item, ip),
            "unicast_peer" => {
                for entry in cx.block(item) {
                    i.unicast_peer.extend(unicast_peer(cx, entry));
                }
            }
            "unicast_ttl" => cx.set_opt(&mut i.unicast_ttl, item, |t| u8_in(t, 0, 255)),
            "unicast_fault_no_peer" => cx.set_flag(&mut i.unicast_fault_no_peer, item),
            "check_unicast_src" => cx.set_flag(&mut i.check_unicast_src, item),
            "old_unicast_checksum" => {
                i.old_unicast_checksum = item.args.first().is_none_or(|a| a.text != "never");
            }
            "track_interface" => {
                for entry in cx.block(item) {
                    i.track_interface.extend(tracked_interface(cx, entry));
                }
            }
            "track_script" => {
                for entry in cx.block(item) {
                    i.track_script
                        .extend(tracked_by_name(cx, entry, NameKind::Script));
                }
            }
            "track_file" => {
                for entry in cx.block(item) {
                    i.track_file
                        .extend(tracked_by_name(cx, entry, NameKind::File));
                }
            }
            "dont_track_primary" => cx.set_flag(&mut i.dont_track_primary, item),
            "track_src_ip" => cx.set_flag(&mut i.track_src_ip, item),
            "nopreempt" | "no_preempt" => cx.set_flag(&mut i.nopreempt, item),
            "preempt" => i.nopreempt = false,
            "preempt_delay" => cx.set(&mut i.preempt_delay, item, |t| {
                value::secs_in(t, Micros(0), Micros::from_secs(1000))
            }),
            "accept" => i.accept = Some(true),
            "no_accept" => i.accept = Some(false),
            "strict_mode" => {
                if let Some(on) = cx.flag(item) {
                    d.strict_mode = Some(on);
                }
            }
            "skip_check_adv_addr" => cx.set_flag(&mut i.skip_check_adv_addr, item),
            "lower_prio_no_advert" => cx.set_flag(&mut i.lower_prio_no_advert, item),
            "higher_prio_send_advert" => cx.set_flag(&mut i.higher_prio_send_advert, item),
            "garp_master_delay" => cx.set(&mut i.garp.master_delay, item, secs),
            "garp_master_repeat" => {
                cx.set(&mut i.garp.master_repeat, item, |t| u32_in(t, 1, 1_000_000))
            }
            "garp_master_refresh" => cx.set(&mut i.garp.master_refresh, item, |t| {
                secs(t).map(|v| (v.0 != 0).then_some(v))
            }),
            "garp_master_refresh_repeat" => cx.set(&mut i.garp.master_refresh_repeat, item, |t| {
                u32_in(t, 1, 1_000_000)
            }),
            "garp_lower_prio_delay" => cx.set_opt(&mut i.garp.lower_prio_delay, item, secs),
            "garp_lower_prio_repeat" => cx.set_opt(&mut i.garp.lower_prio_repeat, item, |t| {
                u32_in(t, 0, 1_000_000)
            }),
            "down_timer_adverts" => {
                cx.set_opt(&mut i.down_timer_adverts, item, |t| u8_in(t, 1, 100))
            }
            "use_vmac" => {
                let name = match item.args.first() {
                    Some(n) => match cx.parse_token(item, n, IfName::new) {
                        Some(n) => Some(n),
                        None => continue,
                    },
                    None => None,
                };
                let xmit_base = i.use_vmac.as_ref().is_some_and(|v| v.xmit_base);
                i.use_vmac = Some(Vmac { name, xmit_base });
            }
            "vmac_xmit_base" => match &mut i.use_vmac {
                Some(v) => v.xmit_base = true,
                None => cx.warning(
                    at,
                    "`vmac_xmit_base` without `use_vmac` has no effect; put it after use_vmac",
                ),
            },
            "native_ipv6" => cx.set_flag(&mut i.native_ipv6, item),
            "promote_secondaries" => cx.set_flag(&mut i.promote_secondaries, item),
            "lvs_sync_daemon_interface" => {
                cx.set_opt(&mut i.lvs_sync_daemon_interface, item, IfName::new)
            }
            "smtp_alert" => cx.set_flag(&mut i.smtp_alert, item),
            "notify_master" => cx.set_command(&mut i.notify.notify_master, item),
            "notify_backup" => cx.set_command(&mut i.notify.notify_backup, item),
            "notify_fault" => cx.set_command(&mut i.notify.notify_fault, item),
            "notify_stop" => cx.set_command(&mut i.notify.notify_stop, item),
            "notify" => cx.set_command(&mut i.notify.notify, item),
            "notify_master_rx_lower_pri" => {
                cx.set_command(&mut i.notify.notify_master_rx_lower_pri, item)
            }
            "debug" => cx.warning(
                at,
                "`debug` is not implemented by keepalived either; ignored",
            ),
            w @ ("virtual_rules" | "track_process" | "track_bfd" | "garp_extra_if"
            | "garp_extra_if_vmac") => {
                cx.warning(at, format!("`{w}` is not supported by keeplite; ignored"))
            }
            _ => cx.unknown(item),
        }
    }
    settle_instance(cx, s, name, d, i, g)
}

/// Applies defaults that depend on several keywords (family, version, interface) and checks
/// what only the whole block can tell.
fn settle_instance(
    cx: &mut Cx,
    s: &Statement,
    name: &Token,
    d: Draft,
    mut i: VrrpInstance,
    g: &GlobalDefs,
) -> Option<VrrpInstance> {
    let mut usable = true;
    // keepalived: `state MASTER` without a priority means the address owner.
    if !d.priority_given && i.state == Some(InitialState::Master) {
        i.priority = Priority::new(255).expect("valid");
    }
    i.strict_mode = d.strict_mode.unwrap_or(g.vrrp_strict);
    match d.interface.or_else(|| g.default_interface.clone()) {
        Some(ifname) => i.interface = ifname,
        None => {
            if !d.interface_refused {
                cx.error(
                    s.keyword.at,
                    format!("vrrp_instance `{}` has no `interface` (and global_defs has no default_interface)", name.text),
                );
            }
            usable = false;
        }
    }
    let vrid = match d.vrid {
        Some(v) => Some(v),
        None => {
            if !d.vrid_refused {
                cx.error(
                    s.keyword.at,
                    format!("vrrp_instance `{}` has no `virtual_router_id`", name.text),
                );
            }
            usable = false;
            None
        }
    };

    // The family: the first VIP's, else the unicast or source address's, else native_ipv6.
    let hint = d
        .vips
        .first()
        .map(|(v, _)| v.addr.is_ipv6())
        .or(i.unicast_src_ip.map(|a| a.is_ipv6()))
        .or(i.unicast_peer.first().map(|p| p.addr.is_ipv6()))
        .or(i.mcast_src_ip.map(|a| a.is_ipv6()))
        .unwrap_or(i.native_ipv6);
    let ipv6 = hint;
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for (vip, at) in d.vips {
        match vip.addr {
            IpAddr::V4(a) if !ipv6 => v4.push(vip.with_addr(a)),
            IpAddr::V6(a) if ipv6 => v6.push(vip.with_addr(a)),
            other => cx.error(
                at,
                format!(
                    "virtual_ipaddress {other} is not {} like the instance's first address; all advertised addresses share one family (use virtual_ipaddress_excluded for the other family)",
                    if ipv6 { "IPv6" } else { "IPv4" }
                ),
            ),
        }
    }
    i.virtual_ipaddress = if ipv6 {
        VirtualAddresses::V6(v6)
    } else {
        VirtualAddresses::V4(v4)
    };
    if i.virtual_ipaddress.is_empty() {
        cx.warning(
            s.keyword.at,
            format!("vrrp_instance `{}` has no virtual_ipaddress", name.text),
        );
    }
    let family_ok = |a: &IpAddr| a.is_ipv6() == ipv6;
    for (what, addr) in [
        ("unicast_src_ip", i.unicast_src_ip),
        ("mcast_src_ip", i.mcast_src_ip),
    ] {
        if addr.is_some_and(|a| !family_ok(&a)) {
            cx.error(
                s.keyword.at,
                format!(
                    "{what} of `{}` is not the instance's address family",
                    name.text
                ),
            );
            usable = false;
        }
    }
    let before = i.unicast_peer.len();
    i.unicast_peer.retain(|p| family_ok(&p.addr));
    if i.unicast_peer.len() != before {
        cx.error(
            s.keyword.at,
            format!(
                "unicast_peer of `{}` mixes address families; the others are dropped",
                name.text
            ),
        );
    }

    // Version and interval.
    let version = match d.version {
        Some((3, _)) => 3,
        Some((_, at)) if ipv6 => {
            cx.warning(at, "IPv6 needs VRRP version 3; using version 3");
            3
        }
        Some((v, _)) => v,
        None if ipv6 => 3,
        None => g.vrrp_version.unwrap_or(2),
    };
    let (interval, interval_at) = d.advert_int.unwrap_or((Micros::from_secs(1), s.keyword.at));
    // `state MASTER` that AH turns into BACKUP (the runtime does it, `vrrp::Instance::new`).
    let mut ah_starts_as_backup = false;
    i.version = if version == 2 {
        let secs = if interval.0 % 1_000_000 != 0 || interval.0 == 0 || interval.0 > 255_000_000 {
            cx.error(
                interval_at,
                format!(
                    "advert_int {}: VRRPv2 needs whole seconds 1-255; using 1",
                    value::show_secs(interval)
                ),
            );
            1
        } else {
            (interval.0 / 1_000_000) as u8
        };
        // keepalived's order: strict mode first, then the password.
        let auth = match (d.auth_type, d.auth_pass) {
            (None, _) => None,
            (Some((_, at)), _) if i.strict_mode => {
                cx.warning(at, "strict mode forbids authentication; it is ignored");
                None
            }
            (Some((pass, _)), Some((key, _))) if key[0] != 0 => {
                Some(if pass { Auth::Pass(key) } else { Auth::Ah(key) })
            }
            // keepalived reads the password as a C string: empty when none was given, when it
            // is "" or when it starts with a NUL; it then runs without authentication.
            (Some((_, at)), pass) => {
                cx.warning(
                    pass.map_or(at, |(_, pass_at)| pass_at),
                    "authentication specified but no password given; ignored",
                );
                None
            }
        };
        if matches!(auth, Some(Auth::Ah(_)))
            && i.state == Some(InitialState::Master)
            && i.priority.get() != 255
        {
            // keepalived wants an advert (and its AH sequence number) before taking over.
            cx.warning(
                d.state_at.unwrap_or(s.keyword.at),
                "state MASTER is incompatible with auth_type AH unless priority is 255; starting as BACKUP",
            );
            ah_starts_as_backup = true;
        }
        Version::V2 {
            advert_int: AdvertIntSecs::new(secs).expect("checked"),
            auth,
        }
    } else {
        if let Some((_, at)) = d.auth_type {
            cx.warning(at, "VRRPv3 has no authentication; it is ignored");
        }
        let centis = if interval.0 % 10_000 != 0 || interval.0 < 10_000 || interval.0 > 40_950_000 {
            cx.error(
                interval_at,
                format!(
                    "advert_int {}: VRRPv3 needs 0.01-40.95 seconds in steps of 0.01; using 1",
                    value::show_secs(interval)
                ),
            );
            100
        } else {
            (interval.0 / 10_000) as u16
        };
        Version::V3 {
            advert_int: AdvertIntCentis::new(centis).expect("checked"),
        }
    };
    if i.nopreempt && i.state == Some(InitialState::Master) && !ah_starts_as_backup {
        cx.warning(
            s.keyword.at,
            "nopreempt needs `state BACKUP` to have an effect",
        );
    }
    if i.strict_mode && !i.unicast_peer.is_empty() {
        cx.warning(
            s.keyword.at,
            "strict mode and unicast_peer do not go together (RFC: multicast only)",
        );
    }

    if !usable {
        return None;
    }
    let (vrid, vrid_at) = vrid?;
    i.virtual_router_id = vrid;
    // One VRID per interface and family on multicast; unicast peers may share one.
    if i.unicast_peer.is_empty() {
        let key = (i.interface.as_str().to_string(), ipv6, vrid.get(), false);
        if let Some(first) = cx.names.vrids.get(&key).copied() {
            cx.error(
                vrid_at,
                format!(
                    "virtual_router_id {} is already used on {} ({}) at line {}",
                    vrid.get(),
                    i.interface.as_str(),
                    if ipv6 { "IPv6" } else { "IPv4" },
                    first.line
                ),
            );
            return None;
        }
        cx.names.vrids.insert(key, vrid_at);
    }
    if !cx.define(|n| &mut n.instances, "vrrp_instance", name) {
        return None;
    }
    Some(i)
}

fn authentication(cx: &mut Cx, s: &Statement, d: &mut Draft) {
    for item in cx.block(s) {
        match item.keyword.text.as_str() {
            "auth_type" => {
                if let Some(pass) = cx.value(item, |t| match t {
                    "PASS" => Ok(true),
                    "AH" => Ok(false),
                    _ => Err(format!("`{t}` is not PASS or AH")),
                }) {
                    d.auth_type = Some((pass, item.keyword.at));
                }
            }
            "auth_pass" => {
                let Some(text) = cx.text(item) else { continue };
                if text.len() > 8 {
                    cx.warning(
                        item.args[0].at,
                        "auth_pass: only the first 8 bytes are used",
                    );
                }
                let mut key = [0u8; 8];
                for (k, b) in key.iter_mut().zip(text.bytes()) {
                    *k = b;
                }
                d.auth_pass = Some((key, item.args[0].at));
            }
            _ => cx.unknown(item),
        }
    }
}

/// `<IPADDR>[/<MASK>] [brd <IPADDR>|+|-] [dev <STRING>] [use_vmac] [scope <SCOPE>] [label <LABEL>]
/// [peer <IPADDR>] [home] [-nodad] [mngtmpaddr] [noprefixroute] [autojoin] [no_track]
/// [preferred_lft nn|forever]`.
fn virtual_address(cx: &mut Cx, s: &Statement) -> Option<VirtualAddress<IpAddr>> {
    let (addr, len) = cx.parse_token(s, &s.keyword, ip_prefix)?;
    let mut v = VirtualAddress {
        addr,
        prefix_len: len.unwrap_or(if addr.is_ipv6() { 128 } else { 32 }),
        broadcast: None,
        dev: None,
        scope: None,
        label: None,
        peer: None,
        home: false,
        no_dad: false,
        mngtmpaddr: false,
        no_prefix_route: false,
        autojoin: false,
        no_track: false,
        use_vmac: false,
        preferred_lft: None,
    };
    let mut args = s.args.iter();
    while let Some(word) = args.next() {
        let needs_value = matches!(
            word.text.as_str(),
            "brd" | "broadcast" | "dev" | "scope" | "label" | "peer" | "preferred_lft"
        );
        let arg = if needs_value {
            match args.next() {
                Some(a) => Some(a),
                None => {
                    cx.error(word.at, format!("`{}` needs a value", word.text));
                    return None;
                }
            }
        } else {
            None
        };
        let ok = match (word.text.as_str(), arg) {
            ("brd" | "broadcast", Some(a)) => cx
                .parse_token(s, a, |t| match t {
                    "+" => Ok(Broadcast::Auto),
                    "-" => Ok(Broadcast::Clear),
                    t => t
                        .parse()
                        .map(Broadcast::Addr)
                        .map_err(|_| format!("`{t}` is not an IPv4 broadcast address, + or -")),
                })
                .map(|b| v.broadcast = Some(b)),
            ("dev", Some(a)) => cx.parse_token(s, a, IfName::new).map(|d| v.dev = Some(d)),
            ("scope", Some(a)) => cx.parse_token(s, a, scope).map(|x| v.scope = Some(x)),
            ("label", Some(a)) => {
                v.label = Some(a.text.clone());
                Some(())
            }
            ("peer", Some(a)) => cx.parse_token(s, a, ip).map(|p| v.peer = Some(p)),
            ("preferred_lft", Some(a)) => cx
                .parse_token(s, a, |t| {
                    if t == "forever" {
                        Ok(u32::MAX)
                    } else {
                        u32_in(t, 0, u32::MAX - 1)
                    }
                })
                .map(|p| v.preferred_lft = Some(p)),
            ("home", _) => {
                v.home = true;
                Some(())
            }
            ("-nodad" | "nodad", _) => {
                v.no_dad = true;
                Some(())
            }
            ("mngtmpaddr", _) => {
                v.mngtmpaddr = true;
                Some(())
            }
            ("noprefixroute", _) => {
                v.no_prefix_route = true;
                Some(())
            }
            ("autojoin", _) => {
                v.autojoin = true;
                Some(())
            }
            ("no_track", _) => {
                v.no_track = true;
                Some(())
            }
            ("use_vmac", _) => {
                v.use_vmac = true;
                Some(())
            }
            (other, _) => {
                cx.error(word.at, format!("`{other}` is not an address option"));
                None
            }
        };
        ok?;
    }
    if v.broadcast.is_some() && addr.is_ipv6() {
        cx.warning(
            s.keyword.at,
            "IPv6 has no broadcast address; `brd` is ignored",
        );
        v.broadcast = None;
    }
    Some(v)
}

/// `[blackhole|unreachable|prohibit|throw] [src IP] [to] DST[/LEN]|default [via|gw IP] [or IP]
/// [dev IF] [scope S] [table N] [metric N] [protocol N] [no_track]`.
fn virtual_route(cx: &mut Cx, s: &Statement) -> Option<VirtualRoute> {
    let words: Vec<&Token> = std::iter::once(&s.keyword).chain(s.args.iter()).collect();
    let mut r = VirtualRoute {
        route_type: RouteType::Unicast,
        src: None,
        to: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        prefix_len: 0,
        via: None,
        or_via: None,
        dev: None,
        scope: None,
        table: None,
        metric: None,
        protocol: None,
        no_track: false,
    };
    // `Some(None)` is `default`.
    let mut dst: Option<Option<Prefix>> = None;
    let mut k = 0;
    while k < words.len() {
        let word = words[k];
        let next = words.get(k + 1).copied();
        let needs_value = matches!(
            word.text.as_str(),
            "src"
                | "to"
                | "via"
                | "gw"
                | "or"
                | "dev"
                | "oif"
                | "scope"
                | "table"
                | "metric"
                | "priority"
                | "preference"
                | "protocol"
                | "proto"
        );
        let v = match (needs_value, next) {
            (true, Some(v)) => v,
            (true, None) => {
                cx.error(word.at, format!("`{}` needs a value", word.text));
                return None;
            }
            (false, _) => word,
        };
        let mut took_value = true;
        match word.text.as_str() {
            "blackhole" | "unreachable" | "prohibit" | "throw" if k == 0 => {
                r.route_type = match word.text.as_str() {
                    "blackhole" => RouteType::Blackhole,
                    "unreachable" => RouteType::Unreachable,
                    "prohibit" => RouteType::Prohibit,
                    _ => RouteType::Throw,
                };
                took_value = false;
            }
            "src" => r.src = Some(cx.parse_token(s, v, ip)?),
            "to" => dst = Some(route_dst(cx, s, v)?),
            "via" | "gw" => r.via = Some(cx.parse_token(s, v, ip)?),
            "or" => r.or_via = Some(cx.parse_token(s, v, ip)?),
            "dev" | "oif" => r.dev = Some(cx.parse_token(s, v, IfName::new)?),
            "scope" => r.scope = Some(cx.parse_token(s, v, scope)?),
            "table" => r.table = Some(cx.parse_token(s, v, route_table)?),
            "metric" | "priority" | "preference" => {
                r.metric = Some(cx.parse_token(s, v, |t| u32_in(t, 0, u32::MAX))?)
            }
            "protocol" | "proto" => r.protocol = Some(cx.parse_token(s, v, |t| u8_in(t, 0, 255))?),
            "no_track" => {
                r.no_track = true;
                took_value = false;
            }
            _ if dst.is_none() => {
                dst = Some(route_dst(cx, s, word)?);
                took_value = false;
            }
            other => {
                cx.error(
                    word.at,
                    format!("`{other}` is not a route option keeplite supports"),
                );
                return None;
            }
        }
        k += if took_value { 2 } else { 1 };
    }
    let Some(dst) = dst else {
        cx.error(s.keyword.at, "virtual route has no destination");
        return None;
    };
    // `default`: the family comes from the gateway or source, else IPv4.
    let (to, len) = dst.unwrap_or_else(|| {
        let v6 = r.via.or(r.src).is_some_and(|a| a.is_ipv6());
        let any = if v6 {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        };
        (any, Some(0))
    });
    r.to = to;
    r.prefix_len = len.unwrap_or(if to.is_ipv6() { 128 } else { 32 });
    for gw in [r.via, r.or_via, r.src].into_iter().flatten() {
        if gw.is_ipv6() != to.is_ipv6() {
            cx.error(s.keyword.at, "virtual route mixes IPv4 and IPv6 addresses");
            return None;
        }
    }
    Some(r)
}

/// A route destination; `None` for `default`.
type Prefix = (IpAddr, Option<u8>);

fn route_dst(cx: &mut Cx, s: &Statement, t: &Token) -> Option<Option<Prefix>> {
    if t.text == "default" {
        return Some(None);
    }
    cx.parse_token(s, t, ip_prefix).map(Some)
}

fn route_table(t: &str) -> Result<u32, String> {
    match t {
        "default" => Ok(253),
        "main" => Ok(254),
        "local" => Ok(255),
        _ => u32_in(t, 0, u32::MAX)
            .map_err(|_| format!("`{t}` is not a routing table (number, main, local, default)")),
    }
}

/// `<IPADDR> [min_ttl N] [max_ttl N]`.
fn unicast_peer(cx: &mut Cx, s: &Statement) -> Option<UnicastPeer> {
    let addr = cx.parse_token(s, &s.keyword, ip)?;
    let mut p = UnicastPeer {
        addr,
        min_ttl: None,
        max_ttl: None,
    };
    let mut args = s.args.iter();
    while let Some(word) = args.next() {
        let slot = match word.text.as_str() {
            "min_ttl" => &mut p.min_ttl,
            "max_ttl" => &mut p.max_ttl,
            other => {
                cx.error(word.at, format!("`{other}` is not min_ttl or max_ttl"));
                return None;
            }
        };
        let Some(v) = args.next() else {
            cx.error(word.at, format!("`{}` needs a number", word.text));
            return None;
        };
        *slot = Some(cx.parse_token(s, v, |t| u8_in(t, 0, 255))?);
    }
    Some(p)
}

/// `IFNAME [weight N [reverse|noreverse]]`.
fn tracked_interface(cx: &mut Cx, s: &Statement) -> Option<TrackedInterface> {
    let name = cx.parse_token(s, &s.keyword, IfName::new)?;
    let mut t = TrackedInterface {
        name,
        weight: None,
        reverse: false,
    };
    match s.args.first() {
        None => {}
        Some(w) if w.text == "weight" => {
            let (weight, reverse) = weight_words(cx, s, &s.args[1..], -253, 253)?;
            t.weight = Some(TrackWeight::new(weight).expect("checked range"));
            t.reverse = reverse;
        }
        Some(other) => {
            cx.error(other.at, format!("`{}` is not `weight`", other.text));
            return None;
        }
    }
    Some(t)
}

#[derive(Clone, Copy)]
pub(super) enum NameKind {
    Script,
    File,
}

/// `NAME [weight N] [reverse|noreverse]`, where NAME must name a vrrp_script or track_file.
pub(super) fn tracked_by_name(cx: &mut Cx, s: &Statement, kind: NameKind) -> Option<TrackedByName> {
    let (what, defined, min, max) = match kind {
        NameKind::Script => (
            "vrrp_script",
            cx.names.scripts.contains_key(&s.keyword.text),
            -253,
            253,
        ),
        NameKind::File => (
            "track_file",
            cx.names.track_files.contains_key(&s.keyword.text),
            -254,
            254,
        ),
    };
    if !defined {
        cx.error(
            s.keyword.at,
            format!("no {what} named `{}` is defined", s.keyword.text),
        );
        return None;
    }
    let mut t = TrackedByName {
        name: s.keyword.text.clone(),
        weight: None,
        reverse: false,
    };
    let mut k = 0;
    while k < s.args.len() {
        let word = &s.args[k];
        match word.text.as_str() {
            "weight" => {
                let Some(v) = s.args.get(k + 1) else {
                    cx.error(word.at, "`weight` needs a number");
                    return None;
                };
                t.weight = Some(cx.parse_token(s, v, |x| int(x, min, max))? as i32);
                k += 2;
                continue;
            }
            "reverse" => t.reverse = true,
            "noreverse" | "no_reverse" => t.reverse = false,
            other => {
                cx.error(word.at, format!("`{other}` is not weight or reverse"));
                return None;
            }
        }
        k += 1;
    }
    Some(t)
}

pub(super) fn sync_group(cx: &mut Cx, s: &Statement) -> Option<SyncGroup> {
    let name = cx.block_name(s)?;
    let mut g = SyncGroup {
        name: name.text.clone(),
        group: Vec::new(),
        notify: Notify::default(),
        smtp_alert: false,
        global_tracking: false,
        sync_group_tracking_weight: false,
        track_interface: Vec::new(),
        track_script: Vec::new(),
        track_file: Vec::new(),
    };
    for item in cx.block(s) {
        match item.keyword.text.as_str() {
            "group" => {
                for member in cx.block(item) {
                    let m = &member.keyword;
                    if let Some(extra) = member.args.first() {
                        cx.warning(
                            extra.at,
                            "one instance name per line; extra words are ignored",
                        );
                    }
                    if !cx.names.instances.contains_key(&m.text) {
                        cx.error(
                            m.at,
                            format!("no vrrp_instance named `{}` is defined", m.text),
                        );
                        continue;
                    }
                    if let Some(other) = cx.names.grouped.get(&m.text) {
                        let msg = format!(
                            "vrrp_instance `{}` is already in sync group `{other}`",
                            m.text
                        );
                        cx.error(m.at, msg);
                        continue;
                    }
                    cx.names.grouped.insert(m.text.clone(), name.text.clone());
                    g.group.push(m.text.clone());
                }
            }
            "notify_master" => cx.set_command(&mut g.notify.notify_master, item),
            "notify_backup" => cx.set_command(&mut g.notify.notify_backup, item),
            "notify_fault" => cx.set_command(&mut g.notify.notify_fault, item),
            "notify_stop" => cx.set_command(&mut g.notify.notify_stop, item),
            "notify" => cx.set_command(&mut g.notify.notify, item),
            "smtp_alert" => cx.set_flag(&mut g.smtp_alert, item),
            "global_tracking" => cx.set_flag(&mut g.global_tracking, item),
            "sync_group_tracking_weight" => cx.set_flag(&mut g.sync_group_tracking_weight, item),
            "track_interface" => {
                for entry in cx.block(item) {
                    g.track_interface.extend(tracked_interface(cx, entry));
                }
            }
            "track_script" => {
                for entry in cx.block(item) {
                    g.track_script
                        .extend(tracked_by_name(cx, entry, NameKind::Script));
                }
            }
            "track_file" => {
                for entry in cx.block(item) {
                    g.track_file
                        .extend(tracked_by_name(cx, entry, NameKind::File));
                }
            }
            _ => cx.unknown(item),
        }
    }
    if !cx.define(|n| &mut n.sync_groups, "vrrp_sync_group", name) {
        return None;
    }
    Some(g)
}

#[cfg(test)]
mod tests {
    use crate::config::model::*;
    use crate::config::{parse_str, Severity};

    fn errors(text: &str) -> Vec<(u32, String)> {
        let l = parse_str("t.conf", text);
        l.diagnostics
            .items
            .iter()
            .filter(|d| d.severity >= Severity::Error)
            .map(|d| (d.location.map_or(0, |l| l.line), d.message.clone()))
            .collect()
    }

    const BASE: &str = "vrrp_instance A {\n interface eth0\n virtual_router_id 9\n";

    #[test]
    fn defaults_follow_keepalived() {
        let c = parse_str(
            "t.conf",
            &format!("{BASE} virtual_ipaddress {{ 10.0.0.1 }}\n}}\n"),
        )
        .config;
        let i = &c.instances[0];
        assert_eq!(i.state, None);
        assert_eq!(i.priority.get(), 100);
        assert_eq!(i.version.number(), 2);
        assert_eq!(i.version.advert_int_centis(), 100);
        assert_eq!(i.garp.master_delay, Micros::from_secs(5));
        assert_eq!(i.garp.master_repeat, 5);
        let VirtualAddresses::V4(v) = &i.virtual_ipaddress else {
            panic!()
        };
        assert_eq!(v[0].prefix_len, 32);
    }

    #[test]
    fn ipv6_forces_version_3_and_centisecond_interval() {
        let c = parse_str(
            "t.conf",
            &format!(
                "{BASE} advert_int 0.25\n virtual_ipaddress {{ fe80::1/64\n 2001:db8::5 }}\n}}\n"
            ),
        )
        .config;
        let i = &c.instances[0];
        assert!(i.is_ipv6());
        assert_eq!(i.version.number(), 3);
        assert_eq!(i.version.advert_int_centis(), 25);
    }

    #[test]
    fn global_defaults_reach_instances() {
        let c = parse_str(
            "t.conf",
            "global_defs {\n vrrp_version 3\n default_interface br-lan\n vrrp_garp_master_repeat 2\n vrrp_strict\n}\nvrrp_instance A {\n virtual_router_id 1\n authentication {\n auth_type PASS\n auth_pass x\n }\n}\n",
        )
        .config;
        let i = &c.instances[0];
        assert_eq!(i.interface.as_str(), "br-lan");
        assert_eq!(i.version.number(), 3);
        assert_eq!(i.garp.master_repeat, 2);
        assert!(i.strict_mode);
    }

    #[test]
    fn auth_keeps_eight_bytes() {
        let c = parse_str(
            "t.conf",
            &format!("{BASE} authentication {{\n auth_type PASS\n auth_pass 0123456789\n }}\n}}\n"),
        )
        .config;
        assert_eq!(
            c.instances[0].version,
            Version::V2 {
                advert_int: AdvertIntSecs::new(1).unwrap(),
                auth: Some(Auth::Pass(*b"01234567")),
            }
        );
    }

    fn warnings(text: &str) -> Vec<(u32, String)> {
        let l = parse_str("t.conf", text);
        l.diagnostics
            .items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .map(|d| (d.location.map_or(0, |l| l.line), d.message.clone()))
            .collect()
    }

    /// `BASE` with an address (without one, a warning says so).
    const VBASE: &str =
        "vrrp_instance A {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress { 10.0.0.1 }\n";

    fn auth_of(text: &str) -> Option<Auth> {
        match parse_str("t.conf", text).config.instances[0].version {
            Version::V2 { auth, .. } => auth,
            Version::V3 { .. } => panic!("not VRRPv2"),
        }
    }

    #[test]
    fn authentication_without_a_password_is_ignored_like_keepalived() {
        const NO_PASSWORD: &str = "authentication specified but no password given; ignored";
        for auth_type in ["PASS", "AH"] {
            // An empty password: the warning points at it, and the instance runs without
            // authentication (keepalived's "Authentication specified but no password given").
            let text = format!(
                "{VBASE} authentication {{\n auth_type {auth_type}\n auth_pass \"\"\n }}\n}}\n"
            );
            assert_eq!(auth_of(&text), None, "{auth_type}");
            assert!(errors(&text).is_empty(), "{:?}", errors(&text));
            assert_eq!(
                warnings(&text),
                [(7, NO_PASSWORD.to_string())],
                "{auth_type}"
            );
            // No auth_pass at all: the same, at auth_type.
            let text = format!("{VBASE} authentication {{\n auth_type {auth_type}\n }}\n}}\n");
            assert_eq!(auth_of(&text), None);
            assert!(errors(&text).is_empty(), "{:?}", errors(&text));
            assert_eq!(warnings(&text), [(6, NO_PASSWORD.to_string())]);
        }
        // A NUL ends the line (keepalived reads C strings): the lexer says so, and the
        // password is missing as above.
        let text = format!("{VBASE} authentication {{\n auth_type AH\n auth_pass \0abc\n }}\n}}\n");
        assert_eq!(auth_of(&text), None);
        assert!(warnings(&text).contains(&(6, NO_PASSWORD.to_string())));
        // A password that is there is kept.
        let text =
            format!("{VBASE} authentication {{\n auth_type AH\n auth_pass s3cret\n }}\n}}\n");
        assert_eq!(auth_of(&text), Some(Auth::Ah(*b"s3cret\0\0")));
        assert!(warnings(&text).is_empty(), "{:?}", warnings(&text));
    }

    #[test]
    fn ah_with_state_master_below_255_starts_as_backup() {
        const AH: &str = " authentication {\n auth_type AH\n auth_pass k\n }\n";
        let text = format!("{VBASE} state MASTER\n priority 200\n nopreempt\n{AH}}}\n");
        let w = warnings(&text);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].0, 5);
        assert!(w[0].1.contains("starting as BACKUP"), "{w:?}");
        // The model keeps what was written; `vrrp::Instance::new` applies the rule.
        let c = parse_str("t.conf", &text).config;
        assert_eq!(c.instances[0].state, Some(InitialState::Master));
        // The owner (priority 255, or `state MASTER` without a priority) is master at once.
        for owner in [
            format!("{VBASE} state MASTER\n priority 255\n{AH}}}\n"),
            format!("{VBASE} state MASTER\n{AH}}}\n"),
        ] {
            assert!(warnings(&owner).is_empty(), "{:?}", warnings(&owner));
        }
        // PASS, BACKUP, or an AH that was dropped (no password): no such warning.
        for other in [
            format!("{VBASE} state MASTER\n priority 200\n authentication {{\n auth_type PASS\n auth_pass k\n }}\n}}\n"),
            format!("{VBASE} state BACKUP\n priority 200\n{AH}}}\n"),
            format!("{VBASE} state MASTER\n priority 200\n authentication {{\n auth_type AH\n }}\n}}\n"),
        ] {
            assert!(
                !warnings(&other).iter().any(|w| w.1.contains("starting as BACKUP")),
                "{other}"
            );
        }
    }

    #[test]
    fn unicast_instances_may_share_a_vrid() {
        let unicast = "vrrp_instance U{n} {{\n interface eth0\n virtual_router_id 9\n unicast_peer {{ 10.0.0.{n} }}\n}}\n";
        let text = format!(
            "{}{}",
            unicast
                .replace("{n}", "1")
                .replace("{{", "{")
                .replace("}}", "}"),
            unicast
                .replace("{n}", "2")
                .replace("{{", "{")
                .replace("}}", "}")
        );
        assert!(errors(&text).is_empty(), "{:?}", errors(&text));
        let multicast = format!("{BASE}}}\n{}", BASE.replace("A {", "B {") + "}\n");
        assert_eq!(errors(&multicast).len(), 1);
        assert_eq!(errors(&multicast)[0].0, 7);
    }

    #[test]
    fn routes_and_tracking() {
        let c = parse_str(
            "t.conf",
            &format!(
                "vrrp_script chk {{\n script \"/bin/true\"\n weight -5 reverse\n}}\n{BASE} virtual_routes {{\n default via 10.0.0.254 table main\n unreachable 2001:db8::/32\n }}\n track_script {{ chk weight 10 }}\n track_interface {{\n eth1\n eth2 weight -20 reverse\n }}\n}}\n"
            ),
        )
        .config;
        let i = &c.instances[0];
        assert_eq!(i.virtual_routes[0].table, Some(254));
        assert_eq!(i.virtual_routes[0].prefix_len, 0);
        assert_eq!(i.virtual_routes[1].route_type, RouteType::Unreachable);
        assert_eq!(i.track_script[0].weight, Some(10));
        assert!(i.track_interface[0].weight.is_none());
        assert!(i.track_interface[1].reverse);
        assert!(c.scripts[0].weight_reverse);
    }

    #[test]
    fn located_errors() {
        assert_eq!(errors(&format!("{BASE} priority 0\n}}\n"))[0].0, 4);
        assert_eq!(errors(&format!("{BASE} advert_int 1.5\n}}\n"))[0].0, 4);
        assert_eq!(
            errors(&format!("{BASE} track_script {{\n nope\n }}\n}}\n"))[0].0,
            5
        );
        assert_eq!(
            errors(&format!(
                "{BASE} virtual_ipaddress {{\n 10.0.0.1\n ::1\n }}\n}}\n"
            ))[0]
                .0,
            6
        );
        assert_eq!(
            errors("vrrp_instance A {\n virtual_router_id 1\n}\n")[0].0,
            1
        );
        assert_eq!(
            errors(&format!(
                "{BASE}}}\nvrrp_sync_group G {{\n group {{\n A\n B\n }}\n}}\n"
            ))[0]
                .0,
            8
        );
    }
}
