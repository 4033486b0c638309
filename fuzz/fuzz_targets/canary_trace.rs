//! Tempo's trace-by-ID answer and the OTLP/HTTP export answer on arbitrary bodies.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanflow::fuzzing::canary_trace(data));
