//! PING_CHECK (keepalived's check_ping.c): one ICMP echo request, passed by the matching echo
//! reply before the deadline. Any other message (an unreachable, a reply to someone else's
//! ping on a raw socket) is skipped; an ICMP error reported on the socket is a failure.

use super::{within, Target, SCRATCH_LEN};
use crate::check::echo::{self, Packet, Repr};
use crate::check::outcome::{Failure, ProbeResult, WeightEffect};
use crate::sys::check_socket::IcmpSocket;
use crate::sys::reactor::Async;
use crate::time::Instant;

/// Echo data: 56 bytes, as ping(8) sends by default.
const DATA: [u8; 56] = *b"keeplite PING_CHECK keeplite PING_CHECK keeplite PING_CH";
const MESSAGE_LEN: usize = echo::HEADER_LEN + DATA.len();
/// The scratch buffer holds the request, then a reply behind a raw socket's IPv4 header.
const _: () = assert!(2 * MESSAGE_LEN + 60 <= SCRATCH_LEN);

pub(super) async fn check(
    target: &Target,
    nonce: u64,
    deadline: Instant,
    buf: &mut [u8; SCRATCH_LEN],
) -> ProbeResult {
    let exchange = std::pin::pin!(async {
        let ip = target.addr().ip();
        let socket = Async::new(IcmpSocket::open(ip, &target.options())?)?;
        let raw = socket.get_ref().is_raw();
        let (request, reply) = if ip.is_ipv4() {
            (echo::ECHO_REQUEST_V4, echo::ECHO_REPLY_V4)
        } else {
            (echo::ECHO_REQUEST_V6, echo::ECHO_REPLY_V6)
        };
        // A ping socket replaces the identifier with its own and demultiplexes replies by it.
        let ident = (nonce >> 16) as u16;
        let seq = nonce as u16;
        let (message, rx) = buf.split_at_mut(MESSAGE_LEN);
        let mut packet = Packet::new_checked(&mut *message).map_err(|_| Failure::Echo)?;
        Repr {
            msg_type: request,
            ident,
            seq,
            data: &DATA,
        }
        .emit(&mut packet);
        if raw && ip.is_ipv4() {
            packet.fill_checksum_v4();
        }
        socket.write_with(|s| s.send(message)).await?;
        loop {
            let range = socket.read_with(|s| s.recv(&mut *rx)).await?;
            let Ok(got) = Packet::new_checked(&rx[range]) else {
                continue;
            };
            if got.msg_type() == reply && got.seq() == seq && (!raw || got.ident() == ident) {
                return Ok(WeightEffect::Keep);
            }
        }
    });
    within(deadline, exchange).await
}
