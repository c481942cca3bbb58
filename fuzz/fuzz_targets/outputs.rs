//! Bytes → the probe Jobs, table and script, and the patches: inside their directory, with
//! safe names, and loading without errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        netpol_fix::fuzzing::probes_and_patches(text);
    }
});
