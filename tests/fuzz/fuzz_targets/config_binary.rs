//! Fuzzes the compiled-config decoder (`keeplite.bin`): corrupt input must be rejected without a
//! panic, and whatever it accepts must survive an encode/decode round trip unchanged.
#![no_main]

use keeplite::config::binary::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = decode(data) else {
        return;
    };
    // A config the decoder accepts is one the daemon would run, so the encoder must be able to
    // write it back out and the result must mean the same thing; otherwise `keeplite compile`
    // and the watchdog's hand-off to its children could silently change a config.
    let bytes = encode(&config);
    let again = decode(&bytes).expect("re-encoded config must decode");
    assert_eq!(config, again);
});
