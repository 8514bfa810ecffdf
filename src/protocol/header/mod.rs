//! Typed custom headers, one file per area.

pub mod broker;
pub mod namesrv;
