//! The Prometheus query API answer reader on arbitrary bodies: a vector of finite values or an error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanflow::fuzzing::prometheus_answer(data));
