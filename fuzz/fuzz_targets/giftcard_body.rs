//! Fuzz target: the properties of `cardswitch_fuzz::giftcard_body` on any input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cardswitch_fuzz::giftcard_body(data));
