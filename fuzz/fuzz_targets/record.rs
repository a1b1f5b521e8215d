#![no_main]
//! libFuzzer target: see `fuzz::record` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::record(data));
