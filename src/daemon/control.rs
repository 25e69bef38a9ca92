//! The control socket: a unix stream socket (mode 0600) where `keeplite status [--json]`,
//! `keeplite reload` and `keeplite stop` talk to the watchdog. A request is one text line
//! (`status`, `reload`, `stop`); the reply is one length-prefixed postcard [`Reply`], rendered
//! by the client as text or JSON (what a LuCI / rpcd page reads).

use super::link::{ChildStatus, InstanceStatus, VirtualServerStatus};
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the control socket lives unless `--control PATH` says otherwise.
pub const DEFAULT_PATH: &str = "/var/run/keeplite.sock";

const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
/// A status reply of a large farm is a few hundred KB.
const MAX_REPLY: usize = 32 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Status,
    Reload,
    Stop,
}

impl Request {
    pub fn parse(line: &str) -> Option<Request> {
        match line.trim() {
            "status" => Some(Request::Status),
            "reload" => Some(Request::Reload),
            "stop" => Some(Request::Stop),
            _ => None,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Request::Status => "status",
            Request::Reload => "reload",
            Request::Stop => "stop",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChildInfo {
    pub role: String,
    pub pid: Option<i32>,
    pub restarts: u32,
    pub up_secs: Option<u64>,
}

/// The VRRP child's instances and its per-socket drop counters.
pub type VrrpReport = (Vec<InstanceStatus>, Vec<(String, u64)>);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub pid: i32,
    pub children: Vec<ChildInfo>,
    pub vrrp: Option<VrrpReport>,
    pub check: Option<Vec<VirtualServerStatus>>,
}

impl Report {
    pub fn add(&mut self, status: ChildStatus) {
        match status {
            ChildStatus::Vrrp {
                instances,
                socket_drops,
            } => self.vrrp = Some((instances, socket_drops)),
            ChildStatus::Check { virtual_servers } => self.check = Some(virtual_servers),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Status(Report),
    Done(String),
    Failed(String),
}

/// The listening socket.
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlServer {
    /// Binds `path`. A socket file nobody answers on (left by a crash) is replaced; one a live
    /// daemon answers on is not taken over.
    pub fn bind(path: &Path) -> io::Result<ControlServer> {
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another keeplite answers on it",
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(ControlServer {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// One client and its request; a client that sends nothing valid within a second is
    /// answered with an error and dropped.
    pub fn accept(&self) -> Option<(UnixStream, Request)> {
        let (stream, _) = self.listener.accept().ok()?;
        stream.set_nonblocking(false).ok()?;
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).ok()?;
        stream.set_write_timeout(Some(CLIENT_TIMEOUT)).ok()?;
        let mut line = String::new();
        let mut reader = BufReader::new((&stream).take(256));
        let _ = reader.read_line(&mut line);
        match Request::parse(&line) {
            Some(r) => Some((stream, r)),
            None => {
                let mut stream = stream;
                send_reply(
                    &mut stream,
                    &Reply::Failed(format!("unknown request {:?}", line.trim())),
                );
                None
            }
        }
    }
}

impl AsFd for ControlServer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes a reply; a client that went away loses it.
pub fn send_reply(stream: &mut UnixStream, reply: &Reply) {
    if let Ok(body) = postcard::to_allocvec(reply) {
        let _ = stream
            .write_all(&(body.len() as u32).to_le_bytes())
            .and_then(|_| stream.write_all(&body));
    }
}

/// The client side: sends `request` to the daemon at `path` and reads its reply.
pub fn request(path: &Path, request: Request) -> Result<Reply, String> {
    let what = |e: io::Error| format!("{}: {e}", path.display());
    let mut stream = UnixStream::connect(path).map_err(what)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(what)?;
    stream
        .write_all(format!("{}\n", request.word()).as_bytes())
        .map_err(what)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(what)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_REPLY {
        return Err(format!(
            "{}: reply of {len} bytes is too long",
            path.display()
        ));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).map_err(what)?;
    postcard::from_bytes(&body).map_err(|e| format!("{}: bad reply: {e}", path.display()))
}

/// `keeplite status` for people.
pub fn render_text(r: &Report) -> String {
    let mut out = format!("keeplite (pid {})\n", r.pid);
    for c in &r.children {
        match (c.pid, c.up_secs) {
            (Some(pid), Some(up)) => {
                out += &format!(
                    "  {} child: pid {pid}, up {up} s, {} restart(s)\n",
                    c.role, c.restarts
                )
            }
            _ => {
                out += &format!(
                    "  {} child: not running, {} restart(s)\n",
                    c.role, c.restarts
                )
            }
        }
    }
    if let Some((instances, socket_drops)) = &r.vrrp {
        out += "VRRP instances:\n";
        for i in instances {
            out += &format!(
                "  {} vrid {} on {} ({}): {}, priority {} (effective {}), master {}, became master {} time(s), adverts sent {} received {}\n",
                i.name,
                i.vrid,
                i.interface,
                if i.ipv6 { "IPv6" } else { "IPv4" },
                i.state,
                i.priority,
                i.effective_priority,
                i.master.map_or("-".to_string(), |a| a.to_string()),
                i.become_master,
                i.adverts_sent,
                i.adverts_received,
            );
            for (reason, n) in &i.drops {
                out += &format!("    dropped {n}: {reason}\n");
            }
        }
        for (reason, n) in socket_drops {
            out += &format!("  dropped before an instance {n}: {reason}\n");
        }
    }
    if let Some(virtual_servers) = &r.check {
        out += "Virtual servers:\n";
        for vs in virtual_servers {
            out += &format!(
                "  {}: quorum {}\n",
                vs.name,
                if vs.quorum_up { "up" } else { "down" }
            );
            for rs in &vs.real_servers {
                out += &format!(
                    "    {} {} weight {}\n",
                    rs.addr,
                    if rs.up { "up" } else { "down" },
                    rs.weight
                );
            }
        }
    }
    out
}

/// `keeplite status --json`: one object, keys in snake_case, no dependency on a JSON crate.
pub fn render_json(r: &Report) -> String {
    let mut out = format!("{{\"pid\":{},\"children\":[", r.pid);
    for (n, c) in r.children.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out += &format!(
            "{{\"role\":{},\"pid\":{},\"restarts\":{},\"up_secs\":{}}}",
            json_str(&c.role),
            opt(c.pid),
            c.restarts,
            opt(c.up_secs)
        );
    }
    out += "]";
    if let Some((instances, socket_drops)) = &r.vrrp {
        out += ",\"vrrp\":{\"instances\":[";
        for (n, i) in instances.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out += &format!(
                "{{\"name\":{},\"interface\":{},\"vrid\":{},\"family\":\"{}\",\"state\":{},\"priority\":{},\"effective_priority\":{},\"master\":{},\"become_master\":{},\"adverts_sent\":{},\"adverts_received\":{},\"drops\":{}}}",
                json_str(&i.name),
                json_str(&i.interface),
                i.vrid,
                if i.ipv6 { "ipv6" } else { "ipv4" },
                json_str(&i.state),
                i.priority,
                i.effective_priority,
                i.master.map_or("null".to_string(), |a| json_str(&a.to_string())),
                i.become_master,
                i.adverts_sent,
                i.adverts_received,
                counters(&i.drops)
            );
        }
        out += &format!("],\"socket_drops\":{}}}", counters(socket_drops));
    }
    if let Some(virtual_servers) = &r.check {
        out += ",\"virtual_servers\":[";
        for (n, vs) in virtual_servers.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out += &format!(
                "{{\"name\":{},\"quorum_up\":{},\"real_servers\":[",
                json_str(&vs.name),
                vs.quorum_up
            );
            for (m, rs) in vs.real_servers.iter().enumerate() {
                if m > 0 {
                    out.push(',');
                }
                out += &format!(
                    "{{\"address\":{},\"up\":{},\"weight\":{}}}",
                    json_str(&rs.addr.to_string()),
                    rs.up,
                    rs.weight
                );
            }
            out += "]}";
        }
        out += "]";
    }
    out += "}\n";
    out
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("null".to_string(), |v| v.to_string())
}

fn counters(items: &[(String, u64)]) -> String {
    let body: Vec<String> = items
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_str(k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// A JSON string literal (RFC 8259 escaping).
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            '\n' => out += "\\n",
            '\r' => out += "\\r",
            '\t' => out += "\\t",
            c if (c as u32) < 0x20 => out += &format!("\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::link::RealServerStatus;

    fn sample() -> Report {
        Report {
            pid: 10,
            children: vec![ChildInfo {
                role: "vrrp".into(),
                pid: Some(11),
                restarts: 1,
                up_secs: Some(5),
            }],
            vrrp: Some((
                vec![InstanceStatus {
                    name: "VI \"1\"".into(),
                    interface: "eth0".into(),
                    vrid: 51,
                    state: "MASTER".into(),
                    priority: 100,
                    effective_priority: 90,
                    master: Some("10.0.0.1".parse().expect("addr")),
                    drops: vec![("ttl".into(), 2)],
                    ..Default::default()
                }],
                vec![],
            )),
            check: Some(vec![VirtualServerStatus {
                name: "10.0.0.100:80 TCP".into(),
                quorum_up: true,
                real_servers: vec![RealServerStatus {
                    addr: "192.168.1.2:80".parse().expect("addr"),
                    up: false,
                    weight: 0,
                }],
            }]),
        }
    }

    #[test]
    fn json_is_escaped_and_complete() {
        let j = render_json(&sample());
        assert!(j.contains("\"name\":\"VI \\\"1\\\"\""), "{j}");
        assert!(j.contains("\"drops\":{\"ttl\":2}"), "{j}");
        assert!(j.contains("\"master\":\"10.0.0.1\""), "{j}");
        assert!(
            j.contains("\"address\":\"192.168.1.2:80\",\"up\":false,\"weight\":0"),
            "{j}"
        );
        // Braces and brackets balance.
        let depth = j.chars().fold(0i32, |d, c| match c {
            '{' | '[' => d + 1,
            '}' | ']' => d - 1,
            _ => d,
        });
        assert_eq!(depth, 0);
        assert_eq!(json_str("a\u{1}"), "\"a\\u0001\"");
    }

    #[test]
    fn text_names_each_part() {
        let t = render_text(&sample());
        assert!(
            t.contains("vrrp child: pid 11, up 5 s, 1 restart(s)"),
            "{t}"
        );
        assert!(
            t.contains("MASTER, priority 100 (effective 90), master 10.0.0.1"),
            "{t}"
        );
        assert!(t.contains("192.168.1.2:80 down weight 0"), "{t}");
    }

    #[test]
    fn requests_round_trip_over_a_socket() {
        let dir = std::env::temp_dir().join(format!("keeplite-control-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("ctl.sock");
        let server = ControlServer::bind(&path).expect("bind");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second daemon must not take over a live socket.
        assert!(ControlServer::bind(&path).is_err());
        let p = path.clone();
        let client = std::thread::spawn(move || request(&p, Request::Reload));
        let (mut stream, req) = loop {
            if let Some(x) = server.accept() {
                break x;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(req, Request::Reload);
        send_reply(&mut stream, &Reply::Done("reloaded".into()));
        assert_eq!(
            client.join().expect("thread"),
            Ok(Reply::Done("reloaded".into()))
        );
        drop(server);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
