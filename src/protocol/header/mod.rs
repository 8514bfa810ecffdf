//! Typed custom headers, one file per area.

pub mod namesrv;
