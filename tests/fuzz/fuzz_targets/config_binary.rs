//! Fuzzes the compiled-config decoder (`keeplite.bin`): corrupt input must be rejected without a
//! panic, and whatever it accepts must survive an encode/decode round trip unchanged.
#![no_main]

use keeplite::config::binary::{decode, encode, is_binary, FORMAT_VERSION, HEADER_LEN, MAGIC};
use keeplite::config::crc32::crc32;
use keeplite::config::Config;
use libfuzzer_sys::fuzz_target;
use std::sync::Once;

fuzz_target!(|data: &[u8]| {
    static FRAME_MATCHES_ENCODE: Once = Once::new();
    FRAME_MATCHES_ENCODE.call_once(|| {
        // If the header layout changes and `frame` below is not updated, every framed input
        // would be rejected at the header and the body would silently go unfuzzed.
        let real = encode(&Config::default());
        assert_eq!(
            frame(&real[HEADER_LEN..]),
            real,
            "fuzz target's frame() is stale"
        );
    });

    // As given: exercises the header checks (magic, version, length, CRC).
    round_trip(data);

    // Random mutations almost never keep the length and CRC-32 fields right, so on its own the
    // line above would hardly ever reach postcard or validation. Decode the body again under a
    // correct header; a seed that is a whole compiled file keeps its body.
    let body = if is_binary(data) && data.len() >= HEADER_LEN {
        &data[HEADER_LEN..]
    } else {
        data
    };
    round_trip(&frame(body));
});

fn round_trip(bytes: &[u8]) {
    let Ok(config) = decode(bytes) else {
        return;
    };
    // A config the decoder accepts is one the daemon would run, so the encoder must be able to
    // write it back out and the result must mean the same thing; otherwise `keeplite compile`
    // and the watchdog's hand-off to its children could silently change a config.
    let again = decode(&encode(&config)).expect("re-encoded config must decode");
    assert_eq!(config, again);
}

/// The header `encode` writes (src/config/binary.rs), over an arbitrary body.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}
