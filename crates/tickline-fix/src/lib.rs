//! FIX 4.4 for the order router: a tag=value codec, an initiator session
//! (logon, heartbeats, sequence numbers, resends) over a store that
//! survives restarts, and [`FixGateway`], which trades through it behind
//! the router's `Gateway` trait from a thread of its own.
#![forbid(unsafe_code)]

pub mod codec;
mod gateway;
pub mod session;
pub mod store;

pub use gateway::{FixConfig, FixGateway, GatewayCounters};
pub use session::{SessionConfig, SessionCounters};

/// What can go wrong in FIX, named with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixError {
    /// Bytes that do not frame as a FIX 4.4 message.
    #[error("garbled: {0}")]
    Garbled(String),
    /// A field that is not `tag=value` with a numeric tag.
    #[error("bad field {0:?}")]
    BadField(String),
    /// The session store could not be read or written.
    #[error("FIX store {0}")]
    Store(String),
    /// A configuration value that cannot work.
    #[error("FIX config: {0}")]
    Config(String),
}
