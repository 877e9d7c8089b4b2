//! Fuzz target: the properties of `cardswitch_fuzz::cashback_bodies` on any input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cardswitch_fuzz::cashback_bodies(data));
