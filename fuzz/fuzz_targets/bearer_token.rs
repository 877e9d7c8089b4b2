//! Fuzz target: the properties of `cardswitch_fuzz::bearer_token` on any input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cardswitch_fuzz::bearer_token(data));
