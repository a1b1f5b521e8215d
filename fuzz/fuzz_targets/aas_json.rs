#![no_main]
//! libFuzzer target: see `fuzz::aas_json` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::aas_json(data));
