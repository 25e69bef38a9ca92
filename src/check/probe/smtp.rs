//! SMTP_CHECK: greeting 220, `HELO` answered by 250, then QUIT (keepalived's check_smtp.c).

use super::{connect_closing, Stream, Target, TcpClose, SCRATCH_LEN};
use crate::check::outcome::{Failure, ProbeResult, WeightEffect};
use crate::check::smtp::{ReplyReader, QUIT};

pub(super) async fn check(
    target: &Target,
    helo: &[u8],
    buf: &mut [u8; SCRATCH_LEN],
) -> ProbeResult {
    // Mail servers log an aborted session as an error; QUIT then FIN as keepalived does.
    let stream = connect_closing(target, TcpClose::Graceful).await?;
    expect(&stream, buf, 220).await?;
    stream.write_all(helo).await?;
    expect(&stream, buf, 250).await?;
    stream.write_all(QUIT).await?;
    // keepalived reads the answer to QUIT without judging it; a server that just closes is
    // as good.
    let _ = reply(&stream, buf).await;
    Ok(WeightEffect::Keep)
}

async fn expect(stream: &Stream, buf: &mut [u8], expected: u16) -> Result<(), Failure> {
    match reply(stream, buf).await? {
        Some(code) if code == expected => Ok(()),
        got => Err(Failure::SmtpReply {
            expected,
            got: got.unwrap_or(0),
        }),
    }
}

/// The next reply's code; `None` for a line that is not a reply.
async fn reply(stream: &Stream, buf: &mut [u8]) -> Result<Option<u16>, Failure> {
    let mut reader = ReplyReader::new();
    loop {
        let n = stream.read(buf).await?;
        if n == 0 {
            return Err(Failure::Closed);
        }
        // Servers do not speak before being spoken to, so bytes past the reply are dropped.
        if let (_, Some(code)) = reader.feed(&buf[..n]) {
            return Ok(code.ok());
        }
    }
}
