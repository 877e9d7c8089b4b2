//! Fuzz target: the properties of `cardswitch_fuzz::request_line` on any input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cardswitch_fuzz::request_line(data));
