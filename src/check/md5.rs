//! Streaming MD5 (RFC 1321) for HTTP_GET/SSL_GET `digest` checks: response bodies are fed in as
//! they arrive, so a body of any size costs a fixed 96 bytes of state and no allocation.
//!
//! MD5 is broken as a cryptographic hash; keepalived uses it only to notice that a page changed,
//! and that is all it is used for here.

/// Per-step additive constants, `floor(abs(sin(i + 1)) * 2^32)` (RFC 1321 §3.4, table T).
// Four steps to a row, so step i sits in row i / 4.
#[rustfmt::skip]
const K: [u32; 64] = [
    0xd76a_a478, 0xe8c7_b756, 0x2420_70db, 0xc1bd_ceee,
    0xf57c_0faf, 0x4787_c62a, 0xa830_4613, 0xfd46_9501,
    0x6980_98d8, 0x8b44_f7af, 0xffff_5bb1, 0x895c_d7be,
    0x6b90_1122, 0xfd98_7193, 0xa679_438e, 0x49b4_0821,
    0xf61e_2562, 0xc040_b340, 0x265e_5a51, 0xe9b6_c7aa,
    0xd62f_105d, 0x0244_1453, 0xd8a1_e681, 0xe7d3_fbc8,
    0x21e1_cde6, 0xc337_07d6, 0xf4d5_0d87, 0x455a_14ed,
    0xa9e3_e905, 0xfcef_a3f8, 0x676f_02d9, 0x8d2a_4c8a,
    0xfffa_3942, 0x8771_f681, 0x6d9d_6122, 0xfde5_380c,
    0xa4be_ea44, 0x4bde_cfa9, 0xf6bb_4b60, 0xbebf_bc70,
    0x289b_7ec6, 0xeaa1_27fa, 0xd4ef_3085, 0x0488_1d05,
    0xd9d4_d039, 0xe6db_99e5, 0x1fa2_7cf8, 0xc4ac_5665,
    0xf429_2244, 0x432a_ff97, 0xab94_23a7, 0xfc93_a039,
    0x655b_59c3, 0x8f0c_cc92, 0xffef_f47d, 0x8584_5dd1,
    0x6fa8_7e4f, 0xfe2c_e6e0, 0xa301_4314, 0x4e08_11a1,
    0xf753_7e82, 0xbd3a_f235, 0x2ad7_d2bb, 0xeb86_d391,
];

/// Left-rotate amounts, four per round (RFC 1321 §3.4).
#[rustfmt::skip]
const S: [[u32; 4]; 4] = [[7, 12, 17, 22], [5, 9, 14, 20], [4, 11, 16, 23], [6, 10, 15, 21]];

/// Initial chaining values A, B, C, D (RFC 1321 §3.3), already in little-endian word form.
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

const BLOCK: usize = 64;

/// Incremental MD5 state: feed bytes with [`Md5::update`] (or `embedded_io::Write`), then
/// [`Md5::finalize`].
#[derive(Clone)]
pub struct Md5 {
    state: [u32; 4],
    /// Tail of the input that does not yet fill a block.
    buf: [u8; BLOCK],
    buf_len: usize,
    /// Total bytes fed; the padding stores it modulo 2^64 bits, so wrapping is what the RFC wants.
    len: u64,
}

impl Md5 {
    pub const fn new() -> Self {
        Md5 {
            state: INIT,
            buf: [0; BLOCK],
            buf_len: 0,
            len: 0,
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);

        if self.buf_len > 0 {
            let take = (BLOCK - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < BLOCK {
                return;
            }
            let block = self.buf;
            compress(&mut self.state, &block);
            self.buf_len = 0;
        }

        // Whole blocks straight from the input: no copy through `buf`.
        let mut blocks = data.chunks_exact(BLOCK);
        for block in &mut blocks {
            // `chunks_exact` yields exactly BLOCK bytes, so the conversion cannot fail.
            compress(&mut self.state, block.try_into().expect("64-byte chunk"));
        }
        let rest = blocks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    /// The 16-byte digest (RFC 1321 §3.5: A, B, C, D, low-order byte first).
    pub fn finalize(mut self) -> [u8; 16] {
        let bit_len = self.len.wrapping_mul(8);

        // Padding (§3.1): a single 1 bit, then zeros up to 56 mod 64, then the length (§3.2).
        self.buf[self.buf_len] = 0x80;
        self.buf[self.buf_len + 1..].fill(0);
        if self.buf_len + 1 > BLOCK - 8 {
            let block = self.buf;
            compress(&mut self.state, &block);
            self.buf = [0; BLOCK];
        }
        self.buf[BLOCK - 8..].copy_from_slice(&bit_len.to_le_bytes());
        let block = self.buf;
        compress(&mut self.state, &block);

        let mut out = [0u8; 16];
        for (dst, word) in out.chunks_exact_mut(4).zip(self.state) {
            dst.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}

impl Default for Md5 {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Md5 {
    // The buffered input may be part of a response body; showing only the length keeps logs
    // short and free of page contents.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Md5").field("len", &self.len).finish()
    }
}

impl embedded_io::ErrorType for Md5 {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Md5 {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Lowercase hex of a digest, the form keepalived's `digest` keyword and `genhash` use.
pub fn to_hex(digest: &[u8; 16]) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (pair, &b) in out.chunks_exact_mut(2).zip(digest) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0x0f)];
    }
    out
}

/// One 64-byte block through the four rounds (RFC 1321 §3.4). Written as a loop rather than 64
/// unrolled steps: the release profile optimises for size, and this is far from a hot path.
fn compress(state: &mut [u32; 4], block: &[u8; BLOCK]) {
    let mut x = [0u32; 16];
    for (word, bytes) in x.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }

    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let round = i / 16;
        let (f, g) = match round {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let sum = a.wrapping_add(f).wrapping_add(K[i]).wrapping_add(x[g]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(sum.rotate_left(S[round][i % 4]));
    }

    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_digest(data: &[u8]) -> String {
        let mut h = Md5::new();
        h.update(data);
        String::from_utf8(to_hex(&h.finalize()).to_vec()).unwrap()
    }

    /// RFC 1321 appendix A.5, the whole test suite.
    #[test]
    fn rfc1321_test_suite() {
        let suite: [(&[u8], &str); 7] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in suite {
            assert_eq!(hex_digest(input), want, "{:?}", core::str::from_utf8(input));
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i.wrapping_mul(31) + 7) as u8).collect()
    }

    #[test]
    fn longer_input() {
        // Reference from Python's hashlib over the same pattern.
        assert_eq!(
            hex_digest(&pattern(1000)),
            "2b1e78d5765de9e10495a01412a1cf22"
        );
    }

    #[test]
    fn padding_boundaries() {
        // Lengths around the point where the length field no longer fits in the last block.
        for n in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let data = pattern(n);
            let one = hex_digest(&data);
            let mut h = Md5::new();
            for b in &data {
                h.update(core::slice::from_ref(b));
            }
            assert_eq!(
                String::from_utf8(to_hex(&h.finalize()).to_vec()).unwrap(),
                one
            );
        }
    }

    #[test]
    fn split_updates_match_one_shot() {
        let data = pattern(300);
        let whole = hex_digest(&data);
        for first in [1, 55, 56, 63, 64, 65] {
            for second in [0, 1, 55, 56, 63, 64, 65] {
                let mut h = Md5::new();
                h.update(&data[..first]);
                h.update(&data[first..first + second]);
                h.update(&[]);
                h.update(&data[first + second..]);
                assert_eq!(
                    to_hex(&h.finalize()),
                    whole.as_bytes(),
                    "split at {first} then {second}"
                );
            }
        }
        // Repeated chunks of each awkward size, so the buffer fills and drains many times.
        for size in [1, 55, 56, 63, 64, 65] {
            let mut h = Md5::new();
            for chunk in data.chunks(size) {
                h.update(chunk);
            }
            assert_eq!(to_hex(&h.finalize()), whole.as_bytes(), "chunks of {size}");
        }
    }

    #[test]
    fn embedded_io_write() {
        use embedded_io::Write;
        let mut h = Md5::default();
        let word = "digest";
        write!(h, "message {word}").unwrap();
        h.write_all(b"").unwrap();
        h.flush().unwrap();
        assert_eq!(to_hex(&h.finalize()), *b"f96b697d7cb7938d525a2f31aaf161d0");
    }

    #[test]
    fn hex_is_lowercase() {
        let mut d = [0u8; 16];
        d[0] = 0xAB;
        d[15] = 0x0F;
        assert_eq!(&to_hex(&d), b"ab00000000000000000000000000000f");
    }
}
