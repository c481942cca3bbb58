//! Bytes → load, model, lint: never a panic, every position inside its file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        netpol_fix::fuzzing::load(text);
    }
});
