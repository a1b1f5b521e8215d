#![no_main]
//! libFuzzer target: see `fuzz::scenario` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::scenario(data));
