#![no_main]
//! libFuzzer target: see `fuzz::api_query` for the properties checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::api_query(data));
