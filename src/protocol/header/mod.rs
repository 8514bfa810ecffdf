//! Typed custom headers, one file per area.

pub mod acl;
pub mod broker;
pub mod namesrv;
