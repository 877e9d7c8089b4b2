//! Fuzz target: the properties of `cardswitch_fuzz::amount` on any input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cardswitch_fuzz::amount(data));
