//! IPVS client over generic netlink (family "IPVS", include/uapi/linux/ip_vs.h), what ipvsadm
//! does through libipvs: list, add, edit and delete virtual services and their destinations,
//! flush, and the connection timeouts. Requests are built by `wire::ipvs` and travel on the
//! shared [`NetlinkSocket`] (fixed buffers, acks matched by sequence number).
//!
//! Errors name the operation and the object ("add service TCP 10.0.0.1:80 (wlc)"), the errno, and
//! what that errno means for IPVS: the kernel answers ENOENT for a missing scheduler module, ESRCH
//! for a missing service, and so on, without any text of its own.

use super::rtnl::{self, genl_family_id, ErrorKind, NetlinkSocket, NETLINK_GENERIC};
use crate::wire::ipvs::{
    Destination, DestinationStats, Info, Request, Service, ServiceKey, Timeouts, IPVS_GENL_NAME,
};
use crate::wire::netlink::{header, Error as WireError, Packet};
use core::fmt;
use rustix::io::Errno;
use std::net::{IpAddr, SocketAddr};

/// How often a dump is retried when the kernel says it changed underneath (NLM_F_DUMP_INTR).
const DUMP_ATTEMPTS: usize = 3;

/// What a request was doing, for the errno's hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Open,
    AddService,
    EditService,
    DelService,
    AddDest,
    EditDest,
    DelDest,
    Other,
}

/// A failed IPVS operation: what was asked, why it failed, and what that probably means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// "add service TCP 10.0.0.1:80 (wlc)".
    pub what: String,
    pub kind: ErrorKind,
    /// The usual cause of this errno for this operation ("scheduler module ip_vs_wlc not found?").
    pub hint: Option<String>,
    operation: Operation,
}

impl Error {
    fn new(what: String, kind: ErrorKind, hint: Option<String>) -> Error {
        Error::of(Operation::Other, what, kind, hint)
    }

    fn of(operation: Operation, what: String, kind: ErrorKind, hint: Option<String>) -> Error {
        Error {
            what,
            kind,
            hint,
            operation,
        }
    }

    /// The errno from the kernel or from a syscall.
    pub fn errno(&self) -> Option<Errno> {
        self.kind.errno()
    }

    fn kernel_errno(&self) -> Option<Errno> {
        self.kind.kernel_errno()
    }

    /// The kernel has no IPVS (the generic netlink family does not exist and could not be
    /// loaded).
    pub fn is_unavailable(&self) -> bool {
        self.operation == Operation::Open && self.kernel_errno() == Some(Errno::NOENT)
    }

    /// The service or destination to add already exists (EEXIST).
    pub fn is_exists(&self) -> bool {
        self.kernel_errno() == Some(Errno::EXIST)
    }

    /// The service named does not exist (ESRCH).
    pub fn is_no_service(&self) -> bool {
        self.kernel_errno() == Some(Errno::SRCH)
    }

    /// The destination named does not exist in its service (ENOENT on a destination command).
    pub fn is_no_dest(&self) -> bool {
        matches!(self.operation, Operation::EditDest | Operation::DelDest)
            && self.kernel_errno() == Some(Errno::NOENT)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.kind)?;
        match &self.hint {
            Some(hint) => write!(f, ": {hint}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Error {}

const UNAVAILABLE: &str = "IPVS is not available in this kernel (modprobe ip_vs)";

/// The usual meaning of `errno` from IPVS for `operation` on `service` (the kernel gives no text).
fn hint(operation: Operation, errno: Errno, service: Option<&Service>) -> Option<String> {
    use Operation::*;
    let text = match (operation, errno) {
        (AddService | EditService, Errno::NOENT) => {
            let service = service?;
            let mut text = format!("scheduler module ip_vs_{} ", service.scheduler);
            if let Some(pe) = &service.pe_name {
                text.push_str(&format!("or persistence engine ip_vs_pe_{pe} "));
            }
            text.push_str("not found?");
            return Some(text);
        }
        (AddService, Errno::EXIST) => "the service already exists",
        (AddDest, Errno::EXIST) => "the destination already exists in this service",
        (EditService | DelService | AddDest | EditDest | DelDest, Errno::SRCH) => "no such service",
        (EditDest | DelDest, Errno::NOENT) => "no such destination in this service",
        (AddService | EditService, Errno::INVAL) => {
            "invalid service (fwmark 0, port 0 without persistence, netmask, scheduler flags?)"
        }
        (AddDest | EditDest, Errno::INVAL) => {
            "invalid destination (thresholds, tunnel type/port, address family only with \
             tunnelling, or no interface up for DR/TUN?)"
        }
        (AddDest | EditDest, Errno::RANGE) => {
            "weight or thresholds out of range, or the lower threshold above the upper?"
        }
        (_, Errno::PROTONOSUPPORT) => "protocol not supported by IPVS (TCP, UDP, SCTP)",
        (_, Errno::AFNOSUPPORT) => "address family not supported (IPv6 IPVS disabled?)",
        (_, Errno::PERM) => "needs CAP_NET_ADMIN",
        (_, Errno::NOMEM) => "the kernel is out of memory",
        _ => return None,
    };
    Some(text.to_owned())
}

fn describe_service(service: &Service) -> String {
    match &service.pe_name {
        Some(pe) => format!("service {} ({}, pe {pe})", service.key, service.scheduler),
        None => format!("service {} ({})", service.key, service.scheduler),
    }
}

fn describe_dest(service: &ServiceKey, addr: IpAddr, port: u16) -> String {
    format!("destination {} in {service}", SocketAddr::new(addr, port))
}

/// An IPVS generic netlink socket with the family resolved.
#[derive(Debug)]
pub struct Ipvs {
    socket: NetlinkSocket,
    family: u16,
}

impl Ipvs {
    /// Opens a generic netlink socket and resolves the "IPVS" family. A kernel without IPVS
    /// answers ENOENT: the error says so ([`Error::is_unavailable`]). Where module autoloading
    /// works the kernel loads `ip_vs` by its family alias during this lookup.
    pub fn open() -> Result<Ipvs, Error> {
        let mut socket = NetlinkSocket::open(Some(NETLINK_GENERIC)).map_err(|errno| {
            Error::new(
                "open generic netlink socket".into(),
                ErrorKind::Io(errno),
                None,
            )
        })?;
        let family = genl_family_id(&mut socket, IPVS_GENL_NAME).map_err(|e: rtnl::Error| {
            if e.errno() == Some(Errno::NOENT) {
                Error::of(Operation::Open, UNAVAILABLE.into(), e.kind, None)
            } else {
                Error::of(Operation::Open, e.what, e.kind, None)
            }
        })?;
        Ok(Ipvs { socket, family })
    }

    /// The family id the kernel gave "IPVS" (the nlmsg_type of every request).
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// Sends a command that expects only the ack.
    fn command(
        &mut self,
        request: Request<'_>,
        operation: Operation,
        what: impl FnOnce() -> String,
        service: Option<&Service>,
    ) -> Result<(), Error> {
        self.socket
            .request(
                self.family,
                header::NLM_F_ACK,
                |b| request.emit(b),
                |_| Ok(()),
            )
            .map(|_| ())
            .map_err(|kind| {
                let hint = match &kind {
                    ErrorKind::Kernel { errno, .. } => hint(operation, *errno, service),
                    _ => None,
                };
                Error::of(operation, what(), kind, hint)
            })
    }

    /// Sends a dump request and returns what `parse` reads from every reply message. A dump the
    /// kernel flags as interrupted is redone, up to [`DUMP_ATTEMPTS`] times.
    fn dump<T, P>(&mut self, request: Request<'_>, what: &str, parse: P) -> Result<Vec<T>, Error>
    where
        P: Fn(&Packet<&[u8]>) -> Result<T, WireError>,
    {
        for _ in 0..DUMP_ATTEMPTS {
            let mut items = Vec::new();
            let interrupted = self
                .socket
                .request(
                    self.family,
                    header::NLM_F_DUMP,
                    |b| request.emit(b),
                    |message| {
                        items.push(parse(message)?);
                        Ok(())
                    },
                )
                .map_err(|kind| Error::new(what.to_owned(), kind, None))?;
            if !interrupted {
                return Ok(items);
            }
        }
        Err(Error::new(
            what.to_owned(),
            ErrorKind::DumpInterrupted,
            None,
        ))
    }

    /// A request answered by one message, which `on_reply` reads.
    fn get<R>(&mut self, request: Request<'_>, what: &str, on_reply: R) -> Result<(), Error>
    where
        R: FnMut(&Packet<&[u8]>) -> Result<(), WireError>,
    {
        self.socket
            .request(
                self.family,
                header::NLM_F_ACK,
                |b| request.emit(b),
                on_reply,
            )
            .map(|_| ())
            .map_err(|kind| Error::new(what.to_owned(), kind, None))
    }

    /// The IPVS version and the size of the connection hash table (`ipvsadm -L`'s first line).
    pub fn info(&mut self) -> Result<Info, Error> {
        let mut info = None;
        self.get(Request::GetInfo, "get IPVS info", |message| {
            info = Some(Info::parse(message)?);
            Ok(())
        })?;
        info.ok_or_else(|| no_reply("get IPVS info"))
    }

    /// Every virtual service, in the kernel's order.
    pub fn services(&mut self) -> Result<Vec<Service>, Error> {
        self.dump(Request::GetServices, "list services", Service::parse)
    }

    /// The destinations of `service`, in the kernel's order. A service that does not exist has
    /// none (the kernel's dump is empty rather than an error).
    pub fn destinations(&mut self, service: &ServiceKey) -> Result<Vec<Destination>, Error> {
        Ok(self
            .destinations_with_stats(service)?
            .into_iter()
            .map(|(dest, _)| dest)
            .collect())
    }

    /// The destinations of `service` with their connection counters.
    pub fn destinations_with_stats(
        &mut self,
        service: &ServiceKey,
    ) -> Result<Vec<(Destination, DestinationStats)>, Error> {
        let family = service.family();
        let what = format!("list destinations of {service}");
        self.dump(Request::GetDests(service), &what, |message| {
            Destination::parse(message, family)
        })
    }

    /// Adds a virtual service (`ipvsadm -A`).
    pub fn add_service(&mut self, service: &Service) -> Result<(), Error> {
        self.command(
            Request::NewService(service),
            Operation::AddService,
            || format!("add {}", describe_service(service)),
            Some(service),
        )
    }

    /// Changes a virtual service's scheduler, flags, persistence (`ipvsadm -E`).
    pub fn edit_service(&mut self, service: &Service) -> Result<(), Error> {
        self.command(
            Request::SetService(service),
            Operation::EditService,
            || format!("edit {}", describe_service(service)),
            Some(service),
        )
    }

    /// Deletes a virtual service and its destinations (`ipvsadm -D`).
    pub fn del_service(&mut self, service: &ServiceKey) -> Result<(), Error> {
        self.command(
            Request::DelService(service),
            Operation::DelService,
            || format!("delete service {service}"),
            None,
        )
    }

    /// Adds a destination to a service (`ipvsadm -a`).
    pub fn add_dest(&mut self, service: &ServiceKey, dest: &Destination) -> Result<(), Error> {
        self.command(
            Request::NewDest(service, dest),
            Operation::AddDest,
            || format!("add {}", describe_dest(service, dest.addr, dest.port)),
            None,
        )
    }

    /// Changes a destination's forwarding, weight, thresholds, tunnel (`ipvsadm -e`).
    pub fn edit_dest(&mut self, service: &ServiceKey, dest: &Destination) -> Result<(), Error> {
        self.command(
            Request::SetDest(service, dest),
            Operation::EditDest,
            || format!("edit {}", describe_dest(service, dest.addr, dest.port)),
            None,
        )
    }

    /// Removes a destination from a service (`ipvsadm -d`).
    pub fn del_dest(&mut self, service: &ServiceKey, addr: IpAddr, port: u16) -> Result<(), Error> {
        let request = Request::DelDest {
            service,
            addr,
            port,
        };
        self.command(
            request,
            Operation::DelDest,
            || format!("delete {}", describe_dest(service, addr, port)),
            None,
        )
    }

    /// Deletes every service and destination (`ipvsadm -C`).
    pub fn flush(&mut self) -> Result<(), Error> {
        self.command(
            Request::Flush,
            Operation::Other,
            || "flush IPVS table".into(),
            None,
        )
    }

    /// Zeroes the counters of every service (`ipvsadm -Z`).
    pub fn zero(&mut self) -> Result<(), Error> {
        self.command(
            Request::Zero,
            Operation::Other,
            || "zero IPVS counters".into(),
            None,
        )
    }

    /// The connection timeouts (`ipvsadm -L --timeout`).
    pub fn timeouts(&mut self) -> Result<Timeouts, Error> {
        let mut timeouts = None;
        self.get(Request::GetConfig, "get IPVS timeouts", |message| {
            timeouts = Some(Timeouts::parse(message)?);
            Ok(())
        })?;
        timeouts.ok_or_else(|| no_reply("get IPVS timeouts"))
    }

    /// Sets the connection timeouts in seconds (`ipvsadm --set tcp tcpfin udp`); 0 leaves that
    /// one unchanged.
    pub fn set_timeouts(&mut self, tcp: u32, tcp_fin: u32, udp: u32) -> Result<(), Error> {
        let timeouts = Timeouts { tcp, tcp_fin, udp };
        self.command(
            Request::SetConfig(timeouts),
            Operation::Other,
            || format!("set IPVS timeouts tcp {tcp} tcpfin {tcp_fin} udp {udp}"),
            None,
        )
    }
}

/// An ack without the reply it should have followed.
fn no_reply(what: &str) -> Error {
    Error::new(
        what.to_owned(),
        ErrorKind::Malformed(WireError::Truncated),
        Some("the kernel acknowledged without a reply".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipvs::IPPROTO_TCP;

    fn wlc() -> Service {
        Service {
            key: ServiceKey::Addr {
                protocol: IPPROTO_TCP,
                addr: "10.0.0.1".parse().unwrap(),
                port: 80,
            },
            scheduler: "wlc".into(),
            flags: 0,
            timeout: 0,
            netmask: u32::MAX,
            pe_name: None,
        }
    }

    fn kernel(errno: Errno) -> ErrorKind {
        ErrorKind::Kernel {
            errno,
            message: None,
        }
    }

    #[test]
    fn errors_say_what_and_why() {
        let service = wlc();
        let error = Error::of(
            Operation::AddService,
            format!("add {}", describe_service(&service)),
            kernel(Errno::NOENT),
            hint(Operation::AddService, Errno::NOENT, Some(&service)),
        );
        assert_eq!(
            error.to_string(),
            "add service TCP 10.0.0.1:80 (wlc): No such file or directory (ENOENT): \
             scheduler module ip_vs_wlc not found?"
        );
        let sip = Service {
            pe_name: Some("sip".into()),
            ..wlc()
        };
        assert_eq!(
            hint(Operation::EditService, Errno::NOENT, Some(&sip)).as_deref(),
            Some("scheduler module ip_vs_wlc or persistence engine ip_vs_pe_sip not found?")
        );
        let key = service.key;
        let error = Error::of(
            Operation::DelDest,
            format!(
                "delete {}",
                describe_dest(&key, "10.0.0.2".parse().unwrap(), 8080)
            ),
            kernel(Errno::NOENT),
            hint(Operation::DelDest, Errno::NOENT, None),
        );
        assert_eq!(
            error.to_string(),
            "delete destination 10.0.0.2:8080 in TCP 10.0.0.1:80: No such file or directory \
             (ENOENT): no such destination in this service"
        );
        assert!(error.is_no_dest() && !error.is_no_service() && !error.is_exists());
        let error = Error::of(
            Operation::DelService,
            format!("delete service {key}"),
            kernel(Errno::SRCH),
            hint(Operation::DelService, Errno::SRCH, None),
        );
        assert_eq!(
            error.to_string(),
            "delete service TCP 10.0.0.1:80: No such process (ESRCH): no such service"
        );
        assert!(error.is_no_service() && !error.is_no_dest());
        assert_eq!(hint(Operation::Other, Errno::BUSY, None), None);
    }

    #[test]
    fn unavailable_is_recognised() {
        let error = Error::of(
            Operation::Open,
            UNAVAILABLE.into(),
            kernel(Errno::NOENT),
            None,
        );
        assert!(error.is_unavailable());
        assert_eq!(
            error.to_string(),
            "IPVS is not available in this kernel (modprobe ip_vs): No such file or directory \
             (ENOENT)"
        );
    }
}
