//! DNS_CHECK: one query over UDP, passed by a reply with our id and RCODE 0 (keepalived's
//! check_dns.c). Datagrams that are not our reply are skipped until the deadline.

use super::{Target, SCRATCH_LEN};
use crate::check::dns::{classify, set_id, Reply, MAX_QUERY_LEN};
use crate::check::outcome::{Failure, ProbeResult, WeightEffect};
use crate::sys::reactor::Async;

/// The scratch buffer holds the query, then the reply.
const _: () = assert!(MAX_QUERY_LEN + 512 <= SCRATCH_LEN);

pub(super) async fn check(
    target: &Target,
    query: &[u8],
    nonce: u64,
    buf: &mut [u8; SCRATCH_LEN],
) -> ProbeResult {
    let socket = Async::new(crate::sys::check_socket::udp_connect(
        target.addr(),
        &target.options(),
    )?)?;
    let (message, rx) = buf.split_at_mut(MAX_QUERY_LEN);
    let message = message.get_mut(..query.len()).ok_or(Failure::BadResponse)?;
    message.copy_from_slice(query);
    // The low 16 bits of the nonce are as good an id as any.
    let id = nonce as u16;
    set_id(message, id);
    socket.write_with(|s| s.send(message)).await?;
    loop {
        let n = socket.read_with(|s| s.recv(&mut *rx)).await?;
        match classify(&rx[..n], id) {
            Reply::Ok => return Ok(WeightEffect::Keep),
            Reply::Rcode(rcode) => return Err(Failure::Rcode(rcode)),
            Reply::Ignore => {}
        }
    }
}
