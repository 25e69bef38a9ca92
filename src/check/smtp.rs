//! SMTP replies for SMTP_CHECK (RFC 5321 §4.2): a reply is one or more lines `NNN-text`
//! ending with a line `NNN text` (or just `NNN`). The reader keeps the first four bytes of each
//! line, so a reply of any length costs a few bytes. keepalived's check reads the 220 greeting,
//! sends `HELO <helo_name>`, wants 250, then sends QUIT.

/// keepalived's default `helo_name`.
pub const DEFAULT_HELO_NAME: &str = "smtpchecker.keepalived.org";

pub const QUIT: &[u8] = b"QUIT\r\n";

pub fn helo(name: Option<&str>) -> Vec<u8> {
    format!("HELO {}\r\n", name.unwrap_or(DEFAULT_HELO_NAME)).into_bytes()
}

/// A reply line that does not start with a three-digit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadReply;

/// Reads one reply from a stream of bytes.
#[derive(Clone, Debug, Default)]
pub struct ReplyReader {
    head: [u8; 4],
    head_len: usize,
}

impl ReplyReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes bytes until the end of a reply: returns how many bytes were used and, at the end
    /// of the reply, its code. Bytes after the reply are left to the caller.
    pub fn feed(&mut self, data: &[u8]) -> (usize, Option<Result<u16, BadReply>>) {
        for (i, &b) in data.iter().enumerate() {
            if b != b'\n' {
                if self.head_len < self.head.len() {
                    self.head[self.head_len] = b;
                    self.head_len += 1;
                }
                continue;
            }
            let head = &self.head[..self.head_len];
            self.head_len = 0;
            let Some(code) = reply_code(head) else {
                return (i + 1, Some(Err(BadReply)));
            };
            match head.get(3) {
                Some(b'-') => continue,
                None | Some(b' ') | Some(b'\r') => return (i + 1, Some(Ok(code))),
                Some(_) => return (i + 1, Some(Err(BadReply))),
            }
        }
        (data.len(), None)
    }
}

fn reply_code(head: &[u8]) -> Option<u16> {
    let digits = head.get(..3)?;
    digits.iter().try_fold(0u16, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u16::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> (usize, Option<Result<u16, BadReply>>) {
        ReplyReader::new().feed(bytes)
    }

    #[test]
    fn single_and_multi_line() {
        assert_eq!(read(b"220 mx.example ESMTP\r\n"), (22, Some(Ok(220))));
        let multi = b"250-mx.example\r\n250-SIZE 1000\r\n250 HELP\r\nNEXT";
        assert_eq!(read(multi), (multi.len() - 4, Some(Ok(250))));
        assert_eq!(read(b"221\r\n"), (5, Some(Ok(221))));
        assert_eq!(read(b"221\n"), (4, Some(Ok(221))));
    }

    #[test]
    fn split_anywhere() {
        let reply = b"220-first line that is long\r\n220 done\r\n";
        for split in 1..reply.len() {
            let mut r = ReplyReader::new();
            let (used, got) = r.feed(&reply[..split]);
            assert_eq!((used, got), (split, None));
            assert_eq!(
                r.feed(&reply[split..]),
                (reply.len() - split, Some(Ok(220)))
            );
        }
    }

    #[test]
    fn garbage() {
        assert_eq!(read(b"HTTP/1.0 400\r\n").1, Some(Err(BadReply)));
        assert_eq!(read(b"22\r\n").1, Some(Err(BadReply)));
        assert_eq!(read(b"220x\r\n").1, Some(Err(BadReply)));
        assert_eq!(read(b"220 no newline yet").1, None);
    }

    #[test]
    fn helo_line() {
        assert_eq!(helo(None), b"HELO smtpchecker.keepalived.org\r\n");
        assert_eq!(helo(Some("lb1")), b"HELO lb1\r\n");
    }
}
