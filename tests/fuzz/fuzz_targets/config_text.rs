//! Fuzzes the keepalived.conf lexer and parser: any text must yield a config or diagnostics,
//! never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Borrows when the input is valid UTF-8, so most runs feed the bytes exactly as mutated;
    // otherwise invalid sequences become U+FFFD, as they would for a config read lossily.
    let text = String::from_utf8_lossy(data);
    // The file name only appears in diagnostics; `parse_str` reads no files, so an `include`
    // line is reported as an error rather than opening something on the fuzzing host.
    let _ = keeplite::config::parse_str("fuzz.conf", &text);
});
