//! `global_defs { ... }`.

use super::value::{self, secs, u32_in};
use super::Cx;
use crate::config::model::{Fifo, GlobalDefs, IfName, LvsTimeouts, SmtpServer};
use crate::config::tree::Statement;

/// Process tuning keepalived offers that keeplite does not need or do; accepted with a warning.
const IGNORED: &[&str] = &[
    "vrrp_priority",
    "checker_priority",
    "bfd_priority",
    "vrrp_no_swap",
    "checker_no_swap",
    "bfd_no_swap",
    "max_auto_priority",
    "min_auto_priority_delay",
    "vrrp_rt_priority",
    "checker_rt_priority",
    "bfd_rt_priority",
    "vrrp_rlimit_rttime",
    "checker_rlimit_rttime",
    "enable_snmp_vrrp",
    "enable_snmp_checker",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_keepalived",
    "snmp_socket",
    "enable_traps",
    "enable_dbus",
    "vrrp_iptables",
    "vrrp_ipsets",
    "nftables",
    "process_names",
    "process_name",
    "vrrp_process_name",
    "checker_process_name",
    "use_pid_dir",
    "linkbeat_use_polling",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs",
    "vrrp_startup_delay",
    "smtp_alert",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "checker_log_all_failures",
];

pub(super) fn global_defs(cx: &mut Cx, s: &Statement, g: &mut GlobalDefs) {
    for item in cx.block(s) {
        let word = item.keyword.text.as_str();
        match word {
            "notification_email" => {
                for email in cx.block(item) {
                    g.notification_email.push(email.keyword.text.clone());
                    if let Some(extra) = email.args.first() {
                        cx.warning(extra.at, "one address per line; extra words are ignored");
                    }
                }
            }
            "notification_email_from" => {
                cx.set_opt(&mut g.notification_email_from, item, |t| Ok(t.to_string()))
            }
            "smtp_server" => {
                let Some(host) = item.args.first() else {
                    cx.error(item.keyword.at, "`smtp_server` needs an address");
                    continue;
                };
                let port = match item.args.get(1) {
                    Some(p) => match cx.parse_token(item, p, value::port) {
                        Some(p) => p,
                        None => continue,
                    },
                    None => 25,
                };
                g.smtp_server = Some(SmtpServer {
                    host: host.text.clone(),
                    port,
                });
            }
            "smtp_helo_name" => cx.set_opt(&mut g.smtp_helo_name, item, |t| Ok(t.to_string())),
            "smtp_connect_timeout" => cx.set_opt(&mut g.smtp_connect_timeout, item, secs),
            "router_id" | "lvs_id" => cx.set_opt(&mut g.router_id, item, |t| Ok(t.to_string())),
            "default_interface" => cx.set_opt(&mut g.default_interface, item, IfName::new),
            "vrrp_version" => cx.set_opt(&mut g.vrrp_version, item, |t| match t {
                "2" => Ok(2),
                "3" => Ok(3),
                _ => Err(format!("`{t}` is not 2 or 3")),
            }),
            "vrrp_strict" => cx.set_flag(&mut g.vrrp_strict, item),
            "enable_script_security" => cx.set_flag(&mut g.enable_script_security, item),
            "script_user" => {
                if let Some(r) = cx.run_as(item) {
                    g.script_user = Some(r);
                }
            }
            "vrrp_mcast_group4" => cx.set_opt(&mut g.vrrp_mcast_group4, item, |t| {
                t.parse::<std::net::Ipv4Addr>()
                    .ok()
                    .filter(|a| a.is_multicast())
                    .ok_or_else(|| format!("`{t}` is not an IPv4 multicast address"))
            }),
            "vrrp_mcast_group6" => cx.set_opt(&mut g.vrrp_mcast_group6, item, |t| {
                t.parse::<std::net::Ipv6Addr>()
                    .ok()
                    .filter(|a| a.is_multicast())
                    .ok_or_else(|| format!("`{t}` is not an IPv6 multicast address"))
            }),
            "vrrp_garp_master_delay" => cx.set(&mut g.garp.master_delay, item, secs),
            "vrrp_garp_master_repeat" => {
                cx.set(&mut g.garp.master_repeat, item, |t| u32_in(t, 1, 1_000_000))
            }
            "vrrp_garp_master_refresh" => cx.set(&mut g.garp.master_refresh, item, refresh),
            "vrrp_garp_master_refresh_repeat" => {
                cx.set(&mut g.garp.master_refresh_repeat, item, |t| {
                    u32_in(t, 1, 1_000_000)
                })
            }
            "vrrp_garp_lower_prio_delay" => cx.set_opt(&mut g.garp.lower_prio_delay, item, secs),
            "vrrp_garp_lower_prio_repeat" => cx.set_opt(&mut g.garp.lower_prio_repeat, item, |t| {
                u32_in(t, 0, 1_000_000)
            }),
            "vrrp_garp_interval" => cx.set_opt(&mut g.vrrp_garp_interval, item, secs),
            "vrrp_gna_interval" => cx.set_opt(&mut g.vrrp_gna_interval, item, secs),
            "vrrp_skip_check_adv_addr" => cx.set_flag(&mut g.vrrp_skip_check_adv_addr, item),
            "vrrp_check_unicast_src" => cx.set_flag(&mut g.vrrp_check_unicast_src, item),
            "vrrp_lower_prio_no_advert" => cx.set_flag(&mut g.vrrp_lower_prio_no_advert, item),
            "vrrp_higher_prio_send_advert" => {
                cx.set_flag(&mut g.vrrp_higher_prio_send_advert, item)
            }
            "notify_fifo" => fifo_path(cx, item, &mut g.notify_fifo),
            "notify_fifo_script" => fifo_script(cx, item, &mut g.notify_fifo),
            "vrrp_notify_fifo" => fifo_path(cx, item, &mut g.vrrp_notify_fifo),
            "vrrp_notify_fifo_script" => fifo_script(cx, item, &mut g.vrrp_notify_fifo),
            "lvs_notify_fifo" => fifo_path(cx, item, &mut g.lvs_notify_fifo),
            "lvs_notify_fifo_script" => fifo_script(cx, item, &mut g.lvs_notify_fifo),
            "lvs_timeouts" => lvs_timeouts(cx, item, g),
            "lvs_flush" => cx.set_flag(&mut g.lvs_flush, item),
            "dynamic_interfaces" => cx.set_flag(&mut g.dynamic_interfaces, item),
            w if IGNORED.contains(&w) => cx.warning(
                item.keyword.at,
                format!("`{w}` is not supported by keeplite; ignored"),
            ),
            _ => cx.unknown(item),
        }
    }
}

/// `vrrp_garp_master_refresh 0` turns the refresh off.
fn refresh(text: &str) -> Result<Option<crate::config::model::Micros>, String> {
    let t = secs(text)?;
    Ok((t.0 != 0).then_some(t))
}

fn fifo_path(cx: &mut Cx, s: &Statement, fifo: &mut Option<Fifo>) {
    let Some(c) = cx.command(s) else { return };
    let script = fifo.take().and_then(|f| f.script);
    *fifo = Some(Fifo {
        path: c.command,
        owner: c.run_as.map(|r| *r),
        script,
    });
}

fn fifo_script(cx: &mut Cx, s: &Statement, fifo: &mut Option<Fifo>) {
    let Some(c) = cx.command(s) else { return };
    match fifo {
        Some(f) => f.script = Some(c),
        None => cx.error(
            s.keyword.at,
            format!("`{}` needs the FIFO set first", s.keyword.text),
        ),
    }
}

/// `lvs_timeouts [tcp N] [tcpfin N] [udp N]`.
fn lvs_timeouts(cx: &mut Cx, s: &Statement, g: &mut GlobalDefs) {
    let mut t = LvsTimeouts {
        tcp: None,
        tcpfin: None,
        udp: None,
    };
    let mut args = s.args.iter();
    while let Some(name) = args.next() {
        let slot = match name.text.as_str() {
            "tcp" => &mut t.tcp,
            "tcpfin" => &mut t.tcpfin,
            "udp" => &mut t.udp,
            other => {
                cx.error(
                    name.at,
                    format!("lvs_timeouts: `{other}` is not tcp, tcpfin or udp"),
                );
                return;
            }
        };
        let Some(v) = args.next() else {
            cx.error(
                name.at,
                format!("lvs_timeouts: `{}` needs a number of seconds", name.text),
            );
            return;
        };
        match cx.parse_token(s, v, |x| u32_in(x, 1, 86400 * 365)) {
            Some(v) => *slot = Some(v),
            None => return,
        }
    }
    g.lvs_timeouts = Some(t);
}
