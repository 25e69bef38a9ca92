//! Dump of `vrrp_script`, `track_file`, `vrrp_instance` and `vrrp_sync_group`.

use super::Writer;
use crate::config::model::*;
use crate::config::parse::value::show_scope;
use std::fmt::Display;

pub(super) fn vrrp_script(w: &mut Writer, s: &VrrpScript) {
    w.open(&["vrrp_script", &s.name]);
    w.line(&["script", &s.script.command]);
    w.run_as("user", s.script.run_as.as_deref());
    w.secs("interval", s.interval);
    w.secs_opt("timeout", s.timeout);
    weight_line(w, s.weight.get(), s.weight_reverse);
    w.opt("rise", Some(s.rise));
    w.opt("fall", Some(s.fall));
    w.flag("init_fail", s.init_fail);
    w.close();
}

pub(super) fn track_file(w: &mut Writer, f: &TrackFile) {
    w.open(&["track_file", &f.name]);
    w.line(&["file", &f.file]);
    weight_line(w, f.weight, f.weight_reverse);
    if let Some(init) = &f.init_file {
        let mut words = vec!["init_file".to_string(), init.value.to_string()];
        if init.overwrite {
            words.push("overwrite".into());
        }
        w.line(&words);
    }
    w.close();
}

fn weight_line(w: &mut Writer, weight: i32, reverse: bool) {
    let mut words = vec!["weight".to_string(), weight.to_string()];
    if reverse {
        words.push("reverse".into());
    }
    w.line(&words);
}

pub(super) fn vrrp_instance(w: &mut Writer, i: &VrrpInstance) {
    w.open(&["vrrp_instance", &i.name]);
    match i.state {
        Some(InitialState::Master) => w.line(&["state", "MASTER"]),
        Some(InitialState::Backup) => w.line(&["state", "BACKUP"]),
        None => {}
    }
    w.line(&["interface", i.interface.as_str()]);
    w.opt("virtual_router_id", Some(i.virtual_router_id.get()));
    w.opt("priority", Some(i.priority.get()));
    w.opt("version", Some(i.version.number()));
    match i.version {
        Version::V2 { advert_int, auth } => {
            w.opt("advert_int", Some(advert_int.get()));
            if let Some(auth) = auth {
                let (kind, key) = match auth {
                    Auth::Pass(k) => ("PASS", k),
                    Auth::Ah(k) => ("AH", k),
                };
                w.open(&["authentication"]);
                w.line(&["auth_type", kind]);
                let end = key.iter().position(|&b| b == 0).unwrap_or(8);
                w.line(&[
                    "auth_pass".to_string(),
                    String::from_utf8_lossy(&key[..end]).into_owned(),
                ]);
                w.close();
            }
        }
        Version::V3 { advert_int } => {
            w.secs("advert_int", Micros(u64::from(advert_int.get()) * 10_000))
        }
    }
    w.bool_opt("strict_mode", Some(i.strict_mode));
    match &i.virtual_ipaddress {
        VirtualAddresses::V4(list) => addresses(w, "virtual_ipaddress", list),
        VirtualAddresses::V6(list) => addresses(w, "virtual_ipaddress", list),
    }
    if !i.virtual_ipaddress_excluded.is_empty() {
        addresses(
            w,
            "virtual_ipaddress_excluded",
            &i.virtual_ipaddress_excluded,
        );
    }
    if !i.virtual_routes.is_empty() {
        w.open(&["virtual_routes"]);
        for r in &i.virtual_routes {
            route(w, r);
        }
        w.close();
    }
    w.opt("mcast_src_ip", i.mcast_src_ip);
    w.opt("mcast_dst_ip", i.mcast_dst_ip);
    w.opt("unicast_src_ip", i.unicast_src_ip);
    if !i.unicast_peer.is_empty() {
        w.open(&["unicast_peer"]);
        for p in &i.unicast_peer {
            let mut words = vec![p.addr.to_string()];
            opt_pair(&mut words, "min_ttl", p.min_ttl);
            opt_pair(&mut words, "max_ttl", p.max_ttl);
            w.line(&words);
        }
        w.close();
    }
    w.opt("unicast_ttl", i.unicast_ttl);
    w.flag("unicast_fault_no_peer", i.unicast_fault_no_peer);
    w.bool_opt("check_unicast_src", Some(i.check_unicast_src));
    w.flag("old_unicast_checksum", i.old_unicast_checksum);
    tracking(w, &i.track_interface, &i.track_script, &i.track_file);
    w.flag("dont_track_primary", i.dont_track_primary);
    w.flag("track_src_ip", i.track_src_ip);
    w.flag("nopreempt", i.nopreempt);
    w.secs("preempt_delay", i.preempt_delay);
    match i.accept {
        Some(true) => w.line(&["accept"]),
        Some(false) => w.line(&["no_accept"]),
        None => {}
    }
    w.bool_opt("skip_check_adv_addr", Some(i.skip_check_adv_addr));
    w.bool_opt("lower_prio_no_advert", Some(i.lower_prio_no_advert));
    w.bool_opt("higher_prio_send_advert", Some(i.higher_prio_send_advert));
    w.secs("garp_master_delay", i.garp.master_delay);
    w.opt("garp_master_repeat", Some(i.garp.master_repeat));
    w.secs(
        "garp_master_refresh",
        i.garp.master_refresh.unwrap_or_default(),
    );
    w.opt(
        "garp_master_refresh_repeat",
        Some(i.garp.master_refresh_repeat),
    );
    w.secs_opt("garp_lower_prio_delay", i.garp.lower_prio_delay);
    w.opt("garp_lower_prio_repeat", i.garp.lower_prio_repeat);
    w.opt("down_timer_adverts", i.down_timer_adverts);
    if let Some(vmac) = &i.use_vmac {
        let mut words = vec!["use_vmac".to_string()];
        words.extend(vmac.name.as_ref().map(|n| n.as_str().to_string()));
        w.line(&words);
        w.flag("vmac_xmit_base", vmac.xmit_base);
    }
    w.flag("native_ipv6", i.native_ipv6);
    w.flag("promote_secondaries", i.promote_secondaries);
    w.opt(
        "lvs_sync_daemon_interface",
        i.lvs_sync_daemon_interface.as_ref().map(|n| n.as_str()),
    );
    w.flag("smtp_alert", i.smtp_alert);
    notify(w, &i.notify);
    w.close();
}

pub(super) fn sync_group(w: &mut Writer, g: &SyncGroup) {
    w.open(&["vrrp_sync_group", &g.name]);
    w.open(&["group"]);
    for member in &g.group {
        w.line(&[member]);
    }
    w.close();
    notify(w, &g.notify);
    w.flag("smtp_alert", g.smtp_alert);
    w.flag("global_tracking", g.global_tracking);
    w.flag("sync_group_tracking_weight", g.sync_group_tracking_weight);
    tracking(w, &g.track_interface, &g.track_script, &g.track_file);
    w.close();
}

fn notify(w: &mut Writer, n: &Notify) {
    w.command("notify_master", &n.notify_master);
    w.command("notify_backup", &n.notify_backup);
    w.command("notify_fault", &n.notify_fault);
    w.command("notify_stop", &n.notify_stop);
    w.command("notify", &n.notify);
    w.command("notify_master_rx_lower_pri", &n.notify_master_rx_lower_pri);
}

fn tracking(
    w: &mut Writer,
    interfaces: &[TrackedInterface],
    scripts: &[TrackedByName],
    files: &[TrackedByName],
) {
    if !interfaces.is_empty() {
        w.open(&["track_interface"]);
        for t in interfaces {
            let mut words = vec![t.name.as_str().to_string()];
            if let Some(weight) = t.weight {
                words.push("weight".into());
                words.push(weight.get().to_string());
                if t.reverse {
                    words.push("reverse".into());
                }
            }
            w.line(&words);
        }
        w.close();
    }
    for (keyword, list) in [("track_script", scripts), ("track_file", files)] {
        if list.is_empty() {
            continue;
        }
        w.open(&[keyword]);
        for t in list {
            let mut words = vec![t.name.clone()];
            opt_pair(&mut words, "weight", t.weight);
            if t.reverse {
                words.push("reverse".into());
            }
            w.line(&words);
        }
        w.close();
    }
}

fn opt_pair<T: Display>(words: &mut Vec<String>, name: &str, value: Option<T>) {
    if let Some(v) = value {
        words.push(name.to_string());
        words.push(v.to_string());
    }
}

fn addresses<A: Display>(w: &mut Writer, keyword: &str, list: &[VirtualAddress<A>]) {
    w.open(&[keyword]);
    for v in list {
        let mut words = vec![format!("{}/{}", v.addr, v.prefix_len)];
        match v.broadcast {
            Some(Broadcast::Auto) => words.extend(["brd".into(), "+".into()]),
            Some(Broadcast::Clear) => words.extend(["brd".into(), "-".into()]),
            Some(Broadcast::Addr(a)) => words.extend(["brd".into(), a.to_string()]),
            None => {}
        }
        opt_pair(&mut words, "dev", v.dev.as_ref().map(|d| d.as_str()));
        opt_pair(&mut words, "scope", v.scope.map(show_scope));
        opt_pair(&mut words, "label", v.label.as_ref());
        opt_pair(&mut words, "peer", v.peer);
        for (on, word) in [
            (v.home, "home"),
            (v.no_dad, "-nodad"),
            (v.mngtmpaddr, "mngtmpaddr"),
            (v.no_prefix_route, "noprefixroute"),
            (v.autojoin, "autojoin"),
            (v.no_track, "no_track"),
            (v.use_vmac, "use_vmac"),
        ] {
            if on {
                words.push(word.into());
            }
        }
        match v.preferred_lft {
            Some(u32::MAX) => words.extend(["preferred_lft".into(), "forever".into()]),
            other => opt_pair(&mut words, "preferred_lft", other),
        }
        w.line(&words);
    }
    w.close();
}

fn route(w: &mut Writer, r: &VirtualRoute) {
    let mut words: Vec<String> = Vec::new();
    match r.route_type {
        RouteType::Unicast => {}
        RouteType::Blackhole => words.push("blackhole".into()),
        RouteType::Unreachable => words.push("unreachable".into()),
        RouteType::Prohibit => words.push("prohibit".into()),
        RouteType::Throw => words.push("throw".into()),
    }
    opt_pair(&mut words, "src", r.src);
    words.push("to".into());
    words.push(format!("{}/{}", r.to, r.prefix_len));
    opt_pair(&mut words, "via", r.via);
    opt_pair(&mut words, "or", r.or_via);
    opt_pair(&mut words, "dev", r.dev.as_ref().map(|d| d.as_str()));
    opt_pair(&mut words, "scope", r.scope.map(show_scope));
    opt_pair(&mut words, "table", r.table);
    opt_pair(&mut words, "metric", r.metric);
    opt_pair(&mut words, "protocol", r.protocol);
    if r.no_track {
        words.push("no_track".into());
    }
    w.line(&words);
}
