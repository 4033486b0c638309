//! The pipeline's vocabulary and the facts about the software in it: roles, stages and
//! statuses ([`stage`]), the counters and how they make a stage's counts ([`counter`]),
//! which family feeds which counter ([`catalogue`]), and which software and generation a
//! target runs ([`software`]).
//!
//! Input: names, values and versions. Output: plain types and pure functions. Nothing here
//! fetches, keeps history or knows a cause; every other module depends on this one, and it
//! on none of them.

pub mod catalogue;
pub mod counter;
pub mod software;
pub mod stage;
