//! Fuzzes the keepalived.conf lexer and parser: any text must yield a config or diagnostics,
//! never a panic or a hang; and whatever parses must survive `dump` and the binary form
//! unchanged (text → model → dump → model, model → binary → model).
#![no_main]

use keeplite::config::{binary, dump, parse_str, Verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Borrows when the input is valid UTF-8, so most runs feed the bytes exactly as mutated;
    // otherwise invalid sequences become U+FFFD, as they would for a config read lossily.
    let text = String::from_utf8_lossy(data);
    // `parse_str` reads no files: an `include` line is reported, never opened on the host.
    let first = parse_str("fuzz.conf", &text);
    if first.diagnostics.verdict() == Verdict::Unusable {
        return;
    }
    let dumped = dump(&first.config);
    let second = parse_str("dump.conf", &dumped);
    assert_eq!(
        first.config, second.config,
        "dump changed the model:\n{dumped}"
    );
    match binary::decode(&binary::encode(&first.config)) {
        Ok(c) => assert_eq!(first.config, c, "binary round trip changed the model"),
        Err(e) => panic!("binary round trip failed: {e}\ndump:\n{dumped}"),
    }
});
