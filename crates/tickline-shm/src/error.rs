//! What can go wrong with a segment, each case naming the segment.

use thiserror::Error;

/// Result of queue and board operations.
pub type Result<T> = std::result::Result<T, QueueError>;

/// Everything that can go wrong attaching to or creating a queue segment.
#[derive(Debug, Error)]
pub enum QueueError {
    /// The name is not a valid POSIX shared-memory name.
    #[error("bad segment name {0:?}: expected '/name' with no other '/', at most 255 bytes")]
    BadName(String),
    /// Creating a segment whose name is taken.
    #[error("segment {0} already exists")]
    AlreadyExists(String),
    /// Attaching to a segment that does not exist.
    #[error("segment {0} does not exist (is the supervisor running, or was it created under another name?)")]
    NotFound(String),
    /// The segment belongs to another user.
    #[error("segment {name} is owned by uid {owner}, not by us (uid {me}); refusing it")]
    ForeignOwner {
        /// The segment's name.
        name: String,
        /// The segment owner's uid.
        owner: u32,
        /// This process's uid.
        me: u32,
    },
    /// The segment is smaller than its header says it must be.
    #[error("segment {name} is {len} bytes, smaller than the {need} bytes its header needs; truncated or foreign")]
    Truncated {
        /// The segment's name.
        name: String,
        /// The segment's size in bytes.
        len: usize,
        /// The size its header needs.
        need: usize,
    },
    /// The header is not a tickline queue's (magic, version, geometry, indices).
    #[error("segment {name} is not a tickline queue: {reason}")]
    Foreign {
        /// The segment's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The segment holds another message type (or layout) than this process.
    #[error("segment {name} holds {found}, but this process expects {expected}")]
    TypeMismatch {
        /// The segment's name.
        name: String,
        /// What the segment holds.
        found: String,
        /// What this process expects.
        expected: String,
    },
    /// A live process holds the end this process asked for.
    #[error("segment {name}: the {role} role is held by live pid {pid}")]
    RoleTaken {
        /// The segment's name.
        name: String,
        /// `producer`, `consumer` or `board writer`.
        role: &'static str,
        /// The holder's pid.
        pid: u32,
    },
    #[error(
        "segment {name}: the {role} role changed hands {attempts} times while we tried to claim it"
    )]
    /// The role word kept changing while this process tried to claim it.
    RoleContended {
        /// The segment's name.
        name: String,
        /// `producer`, `consumer` or `board writer`.
        role: &'static str,
        /// Claims tried.
        attempts: u32,
    },
    /// A capacity, type or policy that cannot be.
    #[error("bad queue parameter: {0}")]
    BadParameter(String),
    /// A system call on the segment failed.
    #[error("segment {name}: {op} failed: {errno}")]
    Sys {
        /// The segment's name.
        name: String,
        /// The call, e.g. `mmap`.
        op: &'static str,
        /// Its error.
        errno: nix::errno::Errno,
    },
}

impl QueueError {
    pub(crate) fn sys(name: &str, op: &'static str, errno: nix::errno::Errno) -> Self {
        QueueError::Sys {
            name: name.to_owned(),
            op,
            errno,
        }
    }
}
