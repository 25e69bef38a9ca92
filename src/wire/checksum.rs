//! Internet checksum (RFC 1071) with an incremental accumulator, and the IPv4 (RFC 793 §3.1) and
//! IPv6 (RFC 2460 §8.1) pseudo-headers that VRRPv3 and ICMPv6 fold into it.

use core::net::{Ipv4Addr, Ipv6Addr};

/// Running ones' complement sum of 16-bit big-endian words.
///
/// Data may arrive in pieces of any length: an odd trailing byte is held back and paired with the
/// first byte of the next piece, so feeding `[a, b, c]` then `[d]` sums the same words as
/// `[a, b, c, d]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum {
    /// Carries are folded only in `finish`: a u64 cannot overflow before 2^48 words (256 TiB).
    sum: u64,
    /// The high byte of a word whose low byte has not been seen yet.
    pending: Option<u8>,
}

impl Checksum {
    pub const fn new() -> Self {
        Checksum {
            sum: 0,
            pending: None,
        }
    }

    /// Adds bytes in network order, continuing any odd byte left by the previous call.
    pub fn add(&mut self, data: &[u8]) -> &mut Self {
        let mut rest = data;
        if let Some(high) = self.pending.take() {
            match rest.split_first() {
                Some((&low, tail)) => {
                    self.sum += u64::from(u16::from_be_bytes([high, low]));
                    rest = tail;
                }
                None => {
                    self.pending = Some(high);
                    return self;
                }
            }
        }
        let mut words = rest.chunks_exact(2);
        for word in &mut words {
            self.sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
        }
        if let [last] = words.remainder() {
            self.pending = Some(*last);
        }
        self
    }

    /// Adds a 16-bit value as its two network-order bytes.
    pub fn add_u16(&mut self, value: u16) -> &mut Self {
        self.add(&value.to_be_bytes())
    }

    /// Adds a 32-bit value as its four network-order bytes.
    pub fn add_u32(&mut self, value: u32) -> &mut Self {
        self.add(&value.to_be_bytes())
    }

    /// The value for the checksum field: the ones' complement of the folded sum, with an odd final
    /// byte padded by a zero byte (RFC 1071 §4.1).
    ///
    /// To verify a message, add it whole (checksum field included, plus its pseudo-header): the
    /// result is 0 when the checksum is right.
    pub fn finish(&self) -> u16 {
        let mut sum = self.sum;
        if let Some(high) = self.pending {
            sum += u64::from(high) << 8;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        // The loop leaves at most 0xffff, so the cast keeps every bit.
        !(sum as u16)
    }
}

/// A checksum started with the IPv4 pseudo-header: source, destination, zero, protocol, and the
/// length of the upper-layer message (its header and data, not the IP header).
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> Checksum {
    let mut sum = Checksum::new();
    sum.add(&src.octets())
        .add(&dst.octets())
        .add(&[0, protocol])
        .add_u16(len);
    sum
}

/// A checksum started with the IPv6 pseudo-header: source, destination, the 32-bit upper-layer
/// packet length, three zero bytes and the next header value of the upper-layer protocol (not of
/// any extension header before it).
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> Checksum {
    let mut sum = Checksum::new();
    sum.add(&src.octets())
        .add(&dst.octets())
        .add_u32(len)
        .add(&[0, 0, 0, next_header]);
    sum
}

/// The checksum of one contiguous message with no pseudo-header.
pub fn checksum(data: &[u8]) -> u16 {
    Checksum::new().add(data).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3's worked example: the words 0001 f203 f4f5 f6f7 sum to ddf2 (before the
    /// complement).
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_lengths_across_calls_match_one_call() {
        let data: [u8; 11] = [
            0x45, 0x00, 0x12, 0xff, 0x80, 0x01, 0x02, 0x7e, 0x99, 0x3c, 0xab,
        ];
        let whole = checksum(&data);
        for split in 0..=data.len() {
            let (a, b) = data.split_at(split);
            assert_eq!(
                Checksum::new().add(a).add(b).finish(),
                whole,
                "split {split}"
            );
        }
        // Byte by byte, including empty pieces between.
        let mut sum = Checksum::new();
        for byte in data {
            sum.add(&[]).add(&[byte]);
        }
        assert_eq!(sum.finish(), whole);
    }

    #[test]
    fn odd_final_byte_is_padded_with_zero() {
        assert_eq!(checksum(&[0xab]), checksum(&[0xab, 0x00]));
        assert_eq!(checksum(&[0x12, 0x34, 0x56]), !(0x1234u16 + 0x5600));
    }

    #[test]
    fn add_u16_and_u32_follow_a_pending_byte() {
        let mut a = Checksum::new();
        a.add(&[0x01]).add_u16(0x0203).add_u32(0x0405_0607);
        assert_eq!(a.finish(), checksum(&[1, 2, 3, 4, 5, 6, 7]));
    }

    #[test]
    fn carries_fold_more_than_once() {
        // 0xffff words: each carry adds one back; a long run exercises the fold loop.
        let data = [0xffu8; 4096];
        assert_eq!(checksum(&data), 0);
        assert_eq!(checksum(&[0xff, 0xff, 0x00, 0x01]), !0x0001);
    }

    #[test]
    fn empty_is_all_ones() {
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn pseudo_headers_are_the_rfc_layouts() {
        let src = Ipv4Addr::new(10, 99, 0, 1);
        let dst = Ipv4Addr::new(224, 0, 0, 18);
        let flat = [10, 99, 0, 1, 224, 0, 0, 18, 0, 112, 0, 12];
        assert_eq!(
            pseudo_header_v4(src, dst, 112, 12).finish(),
            checksum(&flat)
        );

        let src6 = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe99, 1);
        let dst6 = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
        let mut flat6 = [0u8; 40];
        flat6[..16].copy_from_slice(&src6.octets());
        flat6[16..32].copy_from_slice(&dst6.octets());
        flat6[32..36].copy_from_slice(&40u32.to_be_bytes());
        flat6[39] = 112;
        assert_eq!(
            pseudo_header_v6(src6, dst6, 112, 40).finish(),
            checksum(&flat6)
        );
    }

    /// A verified message sums to zero once its checksum field is included.
    #[test]
    fn filled_checksum_verifies_to_zero() {
        let mut msg = [0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0, 0, 10, 99, 0, 100];
        let sum = checksum(&msg);
        msg[6..8].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(checksum(&msg), 0);
    }
}
