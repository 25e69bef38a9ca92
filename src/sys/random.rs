//! Random bytes from the kernel (getrandom(2)), for the ephemeral keys of SSL_GET's TLS
//! handshakes.
//!
//! Never blocks: the checker runs every probe on one thread, and a getrandom that waits for the
//! entropy pool early in a router's boot would stall all of them. Before the pool is ready the
//! call falls back to GRND_INSECURE (Linux 5.6+), whose bytes are not guaranteed to be
//! unpredictable; a health check's TLS session carries nothing secret and its peer is not
//! authenticated anyway, so that is no loss. Older kernels report the error instead.

use std::io;

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    let mut flags = libc::GRND_NONBLOCK;
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..).filter(|rest| !rest.is_empty()) {
        // SAFETY: `rest` is a live, writable byte slice and the kernel writes at most its length
        // into it.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), flags) };
        match usize::try_from(n) {
            Ok(n) => done += n,
            Err(_) => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => {}
                    Some(libc::EAGAIN) if flags == libc::GRND_NONBLOCK => {
                        flags = libc::GRND_INSECURE;
                    }
                    _ => return Err(e),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_every_byte_differently_each_time() {
        let mut a = [0u8; 300];
        let mut b = [0u8; 300];
        fill(&mut a).unwrap();
        fill(&mut b).unwrap();
        assert_ne!(a, b);
        // A run of zeros would be a fill that stopped short (by chance: at most 2^-352).
        assert!(a.chunks(64).all(|run| run.iter().any(|&x| x != 0)));
        assert!(b.chunks(64).all(|run| run.iter().any(|&x| x != 0)));
        fill(&mut []).unwrap();
    }
}
