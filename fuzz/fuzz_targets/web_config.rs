//! The web configuration loader on arbitrary YAML: an error naming a field, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanflow::fuzzing::web_config(data));
