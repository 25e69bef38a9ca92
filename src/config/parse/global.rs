//! `global_defs { ... }`.

use super::value::{self, secs, u32_in};
use super::Cx;
use crate::config::diag::Location;
use crate::config::model::{Command, Fifo, GlobalDefs, IfName, LvsTimeouts, SmtpServer};
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

/// A `*_notify_fifo_script` read before its FIFO's line (keepalived takes either order): it
/// waits for the FIFO.
struct EarlyScript {
    script: Command,
    at: Location,
}

pub(super) fn global_defs(cx: &mut Cx, s: &Statement, g: &mut GlobalDefs) {
    // notify_fifo, vrrp_notify_fifo, lvs_notify_fifo.
    let mut early: [Option<EarlyScript>; 3] = [None, None, None];
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
            "notify_fifo" => fifo_path(cx, item, &mut g.notify_fifo, &mut early[0]),
            "notify_fifo_script" => fifo_script(cx, item, &mut g.notify_fifo, &mut early[0]),
            "vrrp_notify_fifo" => fifo_path(cx, item, &mut g.vrrp_notify_fifo, &mut early[1]),
            "vrrp_notify_fifo_script" => {
                fifo_script(cx, item, &mut g.vrrp_notify_fifo, &mut early[1])
            }
            "lvs_notify_fifo" => fifo_path(cx, item, &mut g.lvs_notify_fifo, &mut early[2]),
            "lvs_notify_fifo_script" => {
                fifo_script(cx, item, &mut g.lvs_notify_fifo, &mut early[2])
            }
            "lvs_timeouts" => lvs_timeouts(cx, item, g),
            "lvs_flush" => cx.set_flag(&mut g.lvs_flush, item),
            "rs_init_notifies" => cx.set_flag(&mut g.rs_init_notifies, item),
            "dynamic_interfaces" => cx.set_flag(&mut g.dynamic_interfaces, item),
            w if IGNORED.contains(&w) => cx.warning(
                item.keyword.at,
                format!("`{w}` is not supported by keeplite; ignored"),
            ),
            _ => cx.unknown(item),
        }
    }
    let fifos = ["notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo"];
    for (fifo, early) in fifos.into_iter().zip(early) {
        if let Some(e) = early {
            cx.warning(
                e.at,
                format!("`{fifo}_script` without `{fifo}` in this block: ignored"),
            );
        }
    }
}

/// `vrrp_garp_master_refresh 0` turns the refresh off.
fn refresh(text: &str) -> Result<Option<crate::config::model::Micros>, String> {
    let t = secs(text)?;
    Ok((t.0 != 0).then_some(t))
}

/// `*_notify_fifo PATH [USER [GROUP]]`; keeps a script given before.
fn fifo_path(cx: &mut Cx, s: &Statement, fifo: &mut Option<Fifo>, early: &mut Option<EarlyScript>) {
    let Some(c) = cx.command(s) else { return };
    let script = early
        .take()
        .map(|e| e.script)
        .or_else(|| fifo.take().and_then(|f| f.script));
    *fifo = Some(Fifo {
        path: c.command,
        owner: c.run_as.map(|r| *r),
        script,
    });
}

/// `*_notify_fifo_script COMMAND [USER [GROUP]]`, before or after its FIFO's line.
fn fifo_script(
    cx: &mut Cx,
    s: &Statement,
    fifo: &mut Option<Fifo>,
    early: &mut Option<EarlyScript>,
) {
    let Some(script) = cx.command(s) else { return };
    match fifo {
        Some(f) => f.script = Some(script),
        None => {
            *early = Some(EarlyScript {
                script,
                at: s.keyword.at,
            })
        }
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

#[cfg(test)]
mod tests {
    use crate::config::model::{Command, Fifo, RunAs};
    use crate::config::{binary, dump, parse_str, Config, Severity};

    /// The config and its diagnostics at `severity` or above, as (line, message).
    fn parse(text: &str, severity: Severity) -> (Config, Vec<(u32, String)>) {
        let l = parse_str("t.conf", text);
        let found = l
            .diagnostics
            .items
            .iter()
            .filter(|d| d.severity >= severity)
            .map(|d| (d.location.map_or(0, |l| l.line), d.message.clone()))
            .collect();
        (l.config, found)
    }

    fn fifo(path: &str, script: Option<&str>) -> Option<Fifo> {
        Some(Fifo {
            path: path.into(),
            owner: None,
            script: script.map(|s| Command {
                command: s.into(),
                run_as: None,
            }),
        })
    }

    #[test]
    fn fifo_scripts_before_or_after_their_fifo() {
        let (c, errors) = parse(
            "global_defs {
                notify_fifo_script /bin/global.sh
                notify_fifo /run/notify.fifo
                vrrp_notify_fifo /run/vrrp.fifo nobody nogroup
                vrrp_notify_fifo_script /bin/vrrp.sh
                lvs_notify_fifo_script \"/bin/lvs.sh -v\" root
                lvs_notify_fifo /run/lvs.fifo
            }",
            Severity::Warning,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let g = &c.global;
        assert_eq!(
            g.notify_fifo,
            fifo("/run/notify.fifo", Some("/bin/global.sh"))
        );
        let vrrp = g.vrrp_notify_fifo.as_ref().expect("vrrp_notify_fifo");
        assert_eq!(
            vrrp.owner,
            Some(RunAs {
                user: "nobody".into(),
                group: Some("nogroup".into())
            })
        );
        assert_eq!(
            vrrp.script.as_ref().map(|s| s.command.as_str()),
            Some("/bin/vrrp.sh")
        );
        let lvs = g.lvs_notify_fifo.as_ref().expect("lvs_notify_fifo");
        let script = lvs.script.as_ref().expect("lvs script");
        assert_eq!(script.command, "/bin/lvs.sh -v");
        assert_eq!(
            script.run_as.as_ref().map(|r| r.user.as_str()),
            Some("root")
        );
        // A second FIFO line keeps the script.
        let (c, _) = parse(
            "global_defs {
                notify_fifo /a
                notify_fifo_script /bin/s.sh
                notify_fifo /b
            }",
            Severity::Warning,
        );
        assert_eq!(c.global.notify_fifo, fifo("/b", Some("/bin/s.sh")));
    }

    #[test]
    fn a_fifo_script_without_its_fifo_is_ignored_with_a_warning() {
        let (c, found) = parse(
            "global_defs {
                router_id r1
                vrrp_notify_fifo_script /bin/vrrp.sh
            }",
            Severity::Warning,
        );
        assert_eq!(c.global.vrrp_notify_fifo, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 3);
        assert!(
            found[0]
                .1
                .contains("`vrrp_notify_fifo_script` without `vrrp_notify_fifo`"),
            "{found:?}"
        );
        let (_, errors) = parse(
            "global_defs { vrrp_notify_fifo_script /bin/vrrp.sh }",
            Severity::Error,
        );
        assert!(errors.is_empty(), "a warning, not an error: {errors:?}");
    }

    #[test]
    fn rs_init_notifies_parses_dumps_and_round_trips() {
        let (c, found) = parse("global_defs {\n rs_init_notifies\n}\n", Severity::Warning);
        assert!(found.is_empty(), "{found:?}");
        assert!(c.global.rs_init_notifies);
        let (off, _) = parse("global_defs { router_id r }", Severity::Warning);
        assert!(!off.global.rs_init_notifies, "off by default");
        let (c2, _) = parse(
            "global_defs {\n rs_init_notifies false\n}\n",
            Severity::Warning,
        );
        assert!(!c2.global.rs_init_notifies);
        let (_, errors) = parse(
            "global_defs {\n rs_init_notifies maybe\n}\n",
            Severity::Error,
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        // Dump, parse again: the same model; the binary form keeps it too.
        let text = dump(&c);
        assert!(text.contains("rs_init_notifies"), "{text}");
        let (again, found) = parse(&text, Severity::Warning);
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(again, c);
        assert_eq!(binary::decode(&binary::encode(&c)), Ok(c));
        assert!(!dump(&off).contains("rs_init_notifies"));
    }
}
