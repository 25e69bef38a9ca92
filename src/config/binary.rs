//! The compact binary config for flash images: an 18-byte header (magic, format version, body
//! length, CRC-32 of the body) and a postcard body. Decoding checks everything the text parser
//! checks, so a crafted file cannot smuggle in a state the text could not express.

use super::crc32::crc32;
use super::model::Config;
use super::validate::validate;
use std::fmt;

pub const MAGIC: &[u8; 8] = b"KEEPLITE";
/// Bumped whenever the model's serialized layout changes (2: `rs_init_notifies`).
pub const FORMAT_VERSION: u16 = 2;
pub const HEADER_LEN: usize = 18;
/// Far above any real config; refuses to allocate on a corrupt length field.
pub const MAX_BODY_LEN: u32 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryError {
    TooShort { len: usize },
    BadMagic,
    NewerFormat { version: u16 },
    OlderFormat { version: u16 },
    BodyTooLarge { len: u32 },
    LengthMismatch { header: u32, actual: usize },
    Checksum { header: u32, actual: u32 },
    Decode(String),
    TrailingBytes { extra: usize },
    Invalid(String),
}

impl fmt::Display for BinaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("binary config: ")?;
        match self {
            BinaryError::TooShort { len } => write!(f, "{len} bytes is shorter than the {HEADER_LEN}-byte header (truncated?)"),
            BinaryError::BadMagic => write!(f, "does not start with the KEEPLITE magic"),
            BinaryError::NewerFormat { version } => write!(
                f,
                "format version {version} is newer than this keeplite reads ({FORMAT_VERSION}); recompile the config with this keeplite or upgrade it"
            ),
            BinaryError::OlderFormat { version } => write!(
                f,
                "format version {version} is not one this keeplite reads ({FORMAT_VERSION}); recompile the config"
            ),
            BinaryError::BodyTooLarge { len } => write!(f, "body length {len} is beyond the {MAX_BODY_LEN}-byte limit (corrupt header)"),
            BinaryError::LengthMismatch { header, actual } => write!(
                f,
                "header says the body is {header} bytes but {actual} follow (truncated or corrupt)"
            ),
            BinaryError::Checksum { header, actual } => write!(
                f,
                "CRC-32 mismatch: header {header:#010x}, body {actual:#010x} (corrupt file)"
            ),
            BinaryError::Decode(e) => write!(f, "body does not decode: {e}"),
            BinaryError::TrailingBytes { extra } => write!(f, "{extra} bytes left over after the body"),
            BinaryError::Invalid(e) => write!(f, "decodes but is not a valid config: {e}"),
        }
    }
}

impl std::error::Error for BinaryError {}

pub fn is_binary(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

pub fn encode(config: &Config) -> Vec<u8> {
    // Serializing plain data into a Vec cannot fail: postcard only errors on a full buffer or
    // on types it does not support, and the model has neither.
    let body = postcard::to_allocvec(config).expect("the model always serializes");
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

pub fn decode(bytes: &[u8]) -> Result<Config, BinaryError> {
    if bytes.len() < HEADER_LEN {
        return Err(if bytes.len() >= MAGIC.len() && !is_binary(bytes) {
            BinaryError::BadMagic
        } else {
            BinaryError::TooShort { len: bytes.len() }
        });
    }
    if !is_binary(bytes) {
        return Err(BinaryError::BadMagic);
    }
    let field = |range: std::ops::Range<usize>| -> [u8; 4] {
        let mut b = [0u8; 4];
        b.copy_from_slice(&bytes[range]);
        b
    };
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version > FORMAT_VERSION {
        return Err(BinaryError::NewerFormat { version });
    }
    if version < FORMAT_VERSION {
        return Err(BinaryError::OlderFormat { version });
    }
    let len = u32::from_le_bytes(field(10..14));
    if len > MAX_BODY_LEN {
        return Err(BinaryError::BodyTooLarge { len });
    }
    let body = &bytes[HEADER_LEN..];
    if body.len() != len as usize {
        return Err(BinaryError::LengthMismatch {
            header: len,
            actual: body.len(),
        });
    }
    let expected = u32::from_le_bytes(field(14..18));
    let actual = crc32(body);
    if expected != actual {
        return Err(BinaryError::Checksum {
            header: expected,
            actual,
        });
    }
    let (config, rest): (Config, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| BinaryError::Decode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(BinaryError::TrailingBytes { extra: rest.len() });
    }
    validate(&config).map_err(BinaryError::Invalid)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Config {
        crate::config::parse_str(
            "t.conf",
            "vrrp_instance A {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress { 10.0.0.1/24 }\n}\n",
        )
        .config
    }

    #[test]
    fn round_trip() {
        let c = sample();
        assert_eq!(c.instances.len(), 1);
        assert_eq!(decode(&encode(&c)).unwrap(), c);
    }

    #[test]
    fn every_corruption_is_an_error() {
        let good = encode(&sample());
        for len in 0..good.len() {
            assert!(decode(&good[..len]).is_err(), "truncated to {len}");
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            assert!(decode(&bad).is_err(), "flipped byte {i}");
        }
        let mut newer = good.clone();
        newer[8..10].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(matches!(
            decode(&newer),
            Err(BinaryError::NewerFormat { .. })
        ));
    }

    #[test]
    fn out_of_range_values_are_refused_even_with_a_good_crc() {
        let c = sample();
        let mut body = postcard::to_allocvec(&c).unwrap();
        // Find the VRID byte (7) right after the interface name and make it 0.
        let pos = body.windows(5).position(|w| w == b"\x04eth0").unwrap() + 5;
        assert_eq!(body[pos], 7);
        body[pos] = 0;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32(&body).to_le_bytes());
        bytes.extend_from_slice(&body);
        assert!(matches!(decode(&bytes), Err(BinaryError::Decode(_))));
    }
}
