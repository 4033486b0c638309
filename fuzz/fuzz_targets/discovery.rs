//! DNS answers and file_sd target files on arbitrary bytes: bounded instances or an error.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanflow::fuzzing::discovery(data));
