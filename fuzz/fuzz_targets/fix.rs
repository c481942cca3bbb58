//! Manifests → fixes: the fixed texts load with no new errors and fixing again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        netpol_fix::fuzzing::fix(text);
    }
});
