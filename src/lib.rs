//! schtasks-detect: Splunk ESCU "Schtasks scheduling job on remote system"
//! (T1053.005), re-implemented exactly, for logs read where they are.
//!
//! Data flows one way:
//! bytes → [`input`] (container readers) → [`record::RawRecord`] →
//! [`source`] (Sysmon, 4688, CrowdStrike mappers) → [`source::CimEvent`] →
//! [`matcher`] → [`aggregate`] → [`report`] → CLI | wasm binding.
//! The detection itself is data: [`rule`] reads the seed's definition and
//! [`spl`] parses its search.

// No `unsafe` anywhere in the engine: the only unsafe code is the Fluent Bit
// module's allocator exports, in their own crate.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod annotate;
pub mod cmdline;
pub mod engine;
pub mod escu;
pub mod index;
pub mod input;
pub mod judge;
pub mod matcher;
pub mod partial;
pub mod record;
pub mod report;
pub mod risk;
pub mod rule;
pub mod ruleset;
pub mod source;
pub mod spl;
pub mod time;

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub mod cli;

#[cfg(feature = "wasm")]
pub mod wasm;

pub use engine::{Detector, Mode, Options};
pub use report::Report;
