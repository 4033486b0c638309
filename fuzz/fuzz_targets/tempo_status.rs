//! Tempo's status-endpoint readers (ready, services, config, rings) on arbitrary bodies.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanflow::fuzzing::tempo_status(data));
