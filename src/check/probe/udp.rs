//! UDP_CHECK (keepalived's check_udp.c): send the payload on a connected socket, then wait.
//! An ICMP error (port or host unreachable) comes back as an error on receive: down. With
//! `require_reply` a matching reply must arrive before the deadline; without it, silence until
//! the deadline is success.

use super::{within, Target, UdpProbe, SCRATCH_LEN};
use crate::check::outcome::{Failure, ProbeResult, WeightEffect};
use crate::sys::reactor::Async;
use crate::time::Instant;

pub(super) async fn check(
    target: &Target,
    probe: &UdpProbe,
    nonce: u64,
    deadline: Instant,
    buf: &mut [u8; SCRATCH_LEN],
) -> ProbeResult {
    let exchange = std::pin::pin!(async {
        let socket = Async::new(crate::sys::check_socket::udp_connect(
            target.addr(),
            &target.options(),
        )?)?;
        let filler = nonce.to_be_bytes();
        let payload = probe.payload.as_deref().unwrap_or(&filler);
        socket.write_with(|s| s.send(payload)).await?;
        let n = socket.read_with(|s| s.recv(&mut buf[..])).await?;
        Ok(probe.reply_matches(&buf[..n]))
    });
    match within(deadline, exchange).await {
        Ok(true) => Ok(WeightEffect::Keep),
        Ok(false) if probe.require_reply.is_none() => Ok(WeightEffect::Keep),
        Ok(false) => Err(Failure::UdpReply),
        Err(Failure::Timeout) if probe.require_reply.is_none() => Ok(WeightEffect::Keep),
        Err(Failure::Timeout) => Err(Failure::UdpReply),
        Err(e) => Err(e),
    }
}
