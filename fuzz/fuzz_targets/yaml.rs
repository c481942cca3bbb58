//! Bytes → the fast YAML reader and the reference: the same documents, nodes, spans and errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        netpol_fix::fuzzing::yaml(text);
    }
});
