//! The broker (issue #5, in progress): the pieces that do not need the network yet.
//!
//! - [`shard_map`]: which core owns a queue.
//! - [`router`]: how a core gets work done by the owner over glommio's channel mesh.

pub mod router;
pub mod shard_map;
