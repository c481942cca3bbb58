//! Bytes → a Calico selector: parsed without a panic or a stack overflow, errors inside it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        netpol_fix::fuzzing::calico_selector(text);
    }
});
