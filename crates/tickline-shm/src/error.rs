use thiserror::Error;

pub type Result<T> = std::result::Result<T, QueueError>;

/// Everything that can go wrong attaching to or creating a queue segment.
#[derive(Debug, Error)]
pub enum QueueError {
    #[error("bad segment name {0:?}: expected '/name' with no other '/', at most 255 bytes")]
    BadName(String),
    #[error("segment {0} already exists")]
    AlreadyExists(String),
    #[error("segment {0} does not exist (is the supervisor running, or was it created under another name?)")]
    NotFound(String),
    #[error("segment {name} is owned by uid {owner}, not by us (uid {me}); refusing it")]
    ForeignOwner { name: String, owner: u32, me: u32 },
    #[error("segment {name} is {len} bytes, smaller than the {need} bytes its header needs; truncated or foreign")]
    Truncated {
        name: String,
        len: usize,
        need: usize,
    },
    #[error("segment {name} is not a tickline queue: {reason}")]
    Foreign { name: String, reason: String },
    #[error("segment {name} holds {found}, but this process expects {expected}")]
    TypeMismatch {
        name: String,
        found: String,
        expected: String,
    },
    #[error("segment {name}: the {role} role is held by live pid {pid}")]
    RoleTaken {
        name: String,
        role: &'static str,
        pid: u32,
    },
    #[error(
        "segment {name}: the {role} role changed hands {attempts} times while we tried to claim it"
    )]
    RoleContended {
        name: String,
        role: &'static str,
        attempts: u32,
    },
    #[error("bad queue parameter: {0}")]
    BadParameter(String),
    #[error("segment {name}: {op} failed: {errno}")]
    Sys {
        name: String,
        op: &'static str,
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
