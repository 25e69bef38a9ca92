//! Whole-config rules that types alone cannot carry (names that refer to other blocks, one VRID
//! per interface and family), checked on configs that did not come from the text parser.

use super::model::{CheckKind, Config, ServiceKey, VirtualAddresses};
use std::collections::HashSet;

pub fn validate(c: &Config) -> Result<(), String> {
    let scripts = unique(c.scripts.iter().map(|s| s.name.as_str()), "vrrp_script")?;
    let files = unique(c.track_files.iter().map(|f| f.name.as_str()), "track_file")?;
    let instances = unique(c.instances.iter().map(|i| i.name.as_str()), "vrrp_instance")?;
    unique(
        c.sync_groups.iter().map(|g| g.name.as_str()),
        "vrrp_sync_group",
    )?;
    let groups = unique(
        c.server_groups.iter().map(|g| g.name.as_str()),
        "virtual_server_group",
    )?;

    let mut vrids = HashSet::new();
    for i in &c.instances {
        let refs = i
            .track_script
            .iter()
            .map(|t| (&t.name, &scripts, "vrrp_script"));
        let file_refs = i.track_file.iter().map(|t| (&t.name, &files, "track_file"));
        for (name, table, what) in refs.chain(file_refs) {
            if !table.contains(name.as_str()) {
                return Err(format!(
                    "vrrp_instance {} tracks unknown {what} {name}",
                    i.name
                ));
            }
        }
        let ipv6 = i.is_ipv6();
        let family_ok = match &i.virtual_ipaddress {
            VirtualAddresses::V4(_) => !ipv6,
            VirtualAddresses::V6(_) => ipv6,
        };
        let peers_ok = i.unicast_peer.iter().all(|p| p.addr.is_ipv6() == ipv6);
        if !family_ok || !peers_ok {
            return Err(format!("vrrp_instance {} mixes address families", i.name));
        }
        if i.unicast_peer.is_empty()
            && !vrids.insert((i.interface.as_str(), ipv6, i.virtual_router_id.get()))
        {
            return Err(format!(
                "virtual_router_id {} is used twice on {}",
                i.virtual_router_id.get(),
                i.interface.as_str()
            ));
        }
    }
    let mut grouped = HashSet::new();
    for g in &c.sync_groups {
        for member in &g.group {
            if !instances.contains(member.as_str()) {
                return Err(format!(
                    "vrrp_sync_group {} names unknown instance {member}",
                    g.name
                ));
            }
            if !grouped.insert(member.as_str()) {
                return Err(format!("vrrp_instance {member} is in two sync groups"));
            }
        }
    }
    for vs in &c.virtual_servers {
        if let ServiceKey::Group { name } = &vs.key {
            if !groups.contains(name.as_str()) {
                return Err(format!("virtual_server group {name} is not defined"));
            }
        }
        for rs in &vs.real_servers {
            for checker in &rs.checkers {
                if let CheckKind::File(f) = &checker.kind {
                    if !files.contains(f.track_file.as_str()) {
                        return Err(format!(
                            "FILE_CHECK names unknown track_file {}",
                            f.track_file
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn unique<'a>(
    names: impl Iterator<Item = &'a str>,
    what: &str,
) -> Result<HashSet<&'a str>, String> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(format!("{what} {name} is defined twice"));
        }
    }
    Ok(seen)
}
