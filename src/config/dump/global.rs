//! Dump of `global_defs`.

use super::Writer;
use crate::config::model::{Fifo, GlobalDefs};

pub(super) fn global_defs(w: &mut Writer, g: &GlobalDefs) {
    w.open(&["global_defs"]);
    if !g.notification_email.is_empty() {
        w.open(&["notification_email"]);
        for email in &g.notification_email {
            w.line(&[email]);
        }
        w.close();
    }
    w.opt(
        "notification_email_from",
        g.notification_email_from.as_ref(),
    );
    if let Some(smtp) = &g.smtp_server {
        w.line(&[
            "smtp_server".to_string(),
            smtp.host.clone(),
            smtp.port.to_string(),
        ]);
    }
    w.opt("smtp_helo_name", g.smtp_helo_name.as_ref());
    w.secs_opt("smtp_connect_timeout", g.smtp_connect_timeout);
    w.opt("router_id", g.router_id.as_ref());
    w.opt(
        "default_interface",
        g.default_interface.as_ref().map(|i| i.as_str()),
    );
    w.opt("vrrp_version", g.vrrp_version);
    w.flag("vrrp_strict", g.vrrp_strict);
    w.flag("enable_script_security", g.enable_script_security);
    w.run_as("script_user", g.script_user.as_ref());
    w.opt("vrrp_mcast_group4", g.vrrp_mcast_group4);
    w.opt("vrrp_mcast_group6", g.vrrp_mcast_group6);
    w.secs("vrrp_garp_master_delay", g.garp.master_delay);
    w.opt("vrrp_garp_master_repeat", Some(g.garp.master_repeat));
    w.secs(
        "vrrp_garp_master_refresh",
        g.garp.master_refresh.unwrap_or_default(),
    );
    w.opt(
        "vrrp_garp_master_refresh_repeat",
        Some(g.garp.master_refresh_repeat),
    );
    w.secs_opt("vrrp_garp_lower_prio_delay", g.garp.lower_prio_delay);
    w.opt("vrrp_garp_lower_prio_repeat", g.garp.lower_prio_repeat);
    w.secs_opt("vrrp_garp_interval", g.vrrp_garp_interval);
    w.secs_opt("vrrp_gna_interval", g.vrrp_gna_interval);
    w.flag("vrrp_skip_check_adv_addr", g.vrrp_skip_check_adv_addr);
    w.flag("vrrp_check_unicast_src", g.vrrp_check_unicast_src);
    w.flag("vrrp_lower_prio_no_advert", g.vrrp_lower_prio_no_advert);
    w.flag(
        "vrrp_higher_prio_send_advert",
        g.vrrp_higher_prio_send_advert,
    );
    fifo(w, "notify_fifo", &g.notify_fifo);
    fifo(w, "vrrp_notify_fifo", &g.vrrp_notify_fifo);
    fifo(w, "lvs_notify_fifo", &g.lvs_notify_fifo);
    if let Some(t) = &g.lvs_timeouts {
        let mut words = vec!["lvs_timeouts".to_string()];
        for (name, v) in [("tcp", t.tcp), ("tcpfin", t.tcpfin), ("udp", t.udp)] {
            if let Some(v) = v {
                words.push(name.to_string());
                words.push(v.to_string());
            }
        }
        w.line(&words);
    }
    w.flag("lvs_flush", g.lvs_flush);
    w.flag("dynamic_interfaces", g.dynamic_interfaces);
    w.flag("rs_init_notifies", g.rs_init_notifies);
    w.close();
}

fn fifo(w: &mut Writer, keyword: &str, fifo: &Option<Fifo>) {
    if let Some(f) = fifo {
        let mut words = vec![keyword.to_string(), f.path.clone()];
        if let Some(owner) = &f.owner {
            words.push(owner.user.clone());
            words.extend(owner.group.clone());
        }
        w.line(&words);
        w.command(&format!("{keyword}_script"), &f.script);
    }
}
