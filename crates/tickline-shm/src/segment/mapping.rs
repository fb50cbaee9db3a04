//! A named POSIX shared-memory segment mapped read-write or read-only.
//!
//! We use `shm_open`/`mmap` through `nix` instead of the `shared_memory`
//! crate: its owner unlinks on drop and leaves stale link files after a
//! kill -9, while here the supervisor decides when a segment is removed.

use std::ffi::CString;
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{mmap, munmap, shm_open, shm_unlink, MapFlags, ProtFlags};
use nix::sys::stat::{fchmod, fstat, Mode};
use nix::unistd::{ftruncate, geteuid};

use crate::error::{QueueError, Result};

/// A mapping of a whole segment. Unmapped on drop; never unlinked implicitly.
pub(crate) struct Segment {
    name: String,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; all concurrent access to it goes
// through atomics in the header or through the SPSC slot protocol.
unsafe impl Send for Segment {}

/// Checks a segment name: one leading slash, no other, 2..=255 bytes.
pub(crate) fn validate_name(name: &str) -> Result<CString> {
    let ok = name.len() >= 2
        && name.len() <= 255
        && name.starts_with('/')
        && !name[1..].contains('/')
        && !name.contains('\0');
    if !ok {
        return Err(QueueError::BadName(name.to_owned()));
    }
    CString::new(name).map_err(|_| QueueError::BadName(name.to_owned()))
}

impl Segment {
    /// Creates a new segment of `len` zeroed bytes, mode 0600. Fails if it exists.
    pub(crate) fn create(name: &str, len: usize) -> Result<Self> {
        let cname = validate_name(name)?;
        let len_nz = NonZeroUsize::new(len).ok_or(QueueError::BadName(name.to_owned()))?;
        let mode = Mode::S_IRUSR | Mode::S_IWUSR;
        let fd = shm_open(
            cname.as_c_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
            mode,
        )
        .map_err(|e| match e {
            Errno::EEXIST => QueueError::AlreadyExists(name.to_owned()),
            e => QueueError::sys(name, "shm_open(create)", e),
        })?;
        // umask may have narrowed the mode; make it exactly 0600.
        let setup = fchmod(fd.as_fd(), mode)
            .map_err(|e| QueueError::sys(name, "fchmod", e))
            .and_then(|_| {
                ftruncate(fd.as_fd(), len as libc::off_t)
                    .map_err(|e| QueueError::sys(name, "ftruncate", e))
            });
        if let Err(e) = setup {
            let _ = shm_unlink(cname.as_c_str());
            return Err(e);
        }
        // SAFETY: fresh shared mapping of a file we just sized to `len`.
        let ptr = unsafe {
            mmap(
                None,
                len_nz,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                fd.as_fd(),
                0,
            )
        };
        match ptr {
            Ok(p) => Ok(Self {
                name: name.to_owned(),
                ptr: p.cast(),
                len,
            }),
            Err(e) => {
                let _ = shm_unlink(cname.as_c_str());
                Err(QueueError::sys(name, "mmap", e))
            }
        }
    }

    /// Maps an existing segment whole, after checking owner and minimum size;
    /// `populate`: fault every page in now.
    pub(crate) fn open(name: &str, writable: bool, min_len: usize, populate: bool) -> Result<Self> {
        let cname = validate_name(name)?;
        let flags = if writable {
            OFlag::O_RDWR
        } else {
            OFlag::O_RDONLY
        };
        let fd = shm_open(cname.as_c_str(), flags, Mode::empty()).map_err(|e| match e {
            Errno::ENOENT => QueueError::NotFound(name.to_owned()),
            e => QueueError::sys(name, "shm_open", e),
        })?;
        let st = fstat(fd.as_fd()).map_err(|e| QueueError::sys(name, "fstat", e))?;
        let me = geteuid().as_raw();
        if st.st_uid != me {
            return Err(QueueError::ForeignOwner {
                name: name.to_owned(),
                owner: st.st_uid,
                me,
            });
        }
        let len = usize::try_from(st.st_size).unwrap_or(0);
        if len < min_len {
            return Err(QueueError::Truncated {
                name: name.to_owned(),
                len,
                need: min_len,
            });
        }
        let prot = if writable {
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE
        } else {
            ProtFlags::PROT_READ
        };
        let len_nz = NonZeroUsize::new(len).expect("len >= min_len > 0");
        // Populated at attach: the first message through a slot never faults.
        let flags = if populate {
            MapFlags::MAP_SHARED | MapFlags::MAP_POPULATE
        } else {
            MapFlags::MAP_SHARED
        };
        // SAFETY: we map exactly the file's current size, so every byte of the
        // mapping is backed; the header is validated before any slot is used.
        let ptr = unsafe { mmap(None, len_nz, prot, flags, fd.as_fd(), 0) }
            .map_err(|e| QueueError::sys(name, "mmap", e))?;
        Ok(Self {
            name: name.to_owned(),
            ptr: ptr.cast(),
            len,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned; no references into
        // the mapping outlive the owning queue handle, which owns this.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}

/// Removes a segment name. Processes that still map it keep their mapping.
pub fn unlink(name: &str) -> Result<()> {
    let cname = validate_name(name)?;
    shm_unlink(cname.as_c_str()).map_err(|e| match e {
        Errno::ENOENT => QueueError::NotFound(name.to_owned()),
        e => QueueError::sys(name, "shm_unlink", e),
    })
}

/// Names of the segments in /dev/shm that start with `prefix` (a segment
/// name, leading slash included), sorted.
pub fn list(prefix: &str) -> std::io::Result<Vec<String>> {
    let bare = prefix.strip_prefix('/').unwrap_or(prefix);
    let mut names: Vec<String> = std::fs::read_dir("/dev/shm")?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(bare))
        .map(|n| format!("/{n}"))
        .collect();
    names.sort();
    Ok(names)
}
