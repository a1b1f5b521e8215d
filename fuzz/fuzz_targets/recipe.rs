#![no_main]
//! libFuzzer target: see `fuzz::recipe` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::recipe(data));
