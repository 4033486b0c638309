//! The exposition parser and the page reader on arbitrary bodies: never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanflow::fuzzing::exposition(data));
