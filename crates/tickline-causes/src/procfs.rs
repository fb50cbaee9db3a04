//! The few /proc files a cause needs, held open and re-read in place (a
//! pread from offset 0 regenerates a proc file): one thread's run state,
//! CPU, faults, scheduler times and context switches, and each CPU's steal.
//! A file that is missing or unreadable (a container, another kernel)
//! leaves its fields None, with a note saying which; it never fails a run.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What one read of a thread's files gave; None where a file was unavailable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadSample {
    /// Run state letter of /proc/…/stat (`R`, `S`, `D`, `T`, `t`...); 0 unknown.
    pub state: u8,
    /// The CPU it last ran on.
    pub cpu: Option<u32>,
    /// Minor and major page faults, ever.
    pub minflt: Option<u64>,
    /// Major page faults, ever.
    pub majflt: Option<u64>,
    /// Time on a CPU, ns, ever (schedstat; excludes time the VM stole).
    pub run_ns: Option<u64>,
    /// Time runnable but waiting in a run queue, ns, ever (schedstat).
    pub wait_ns: Option<u64>,
    /// Times it was switched onto a CPU, ever (schedstat): unchanged while
    /// it stayed current, whatever the VM did to the CPU under it.
    pub slices: Option<u64>,
    /// Voluntary context switches (it slept), ever.
    pub vcsw: Option<u64>,
    /// Involuntary ones (it was preempted), ever.
    pub nvcsw: Option<u64>,
}

/// One thread's /proc files, open.
pub struct ThreadFiles {
    stat: Option<File>,
    schedstat: Option<File>,
    status: Option<File>,
    buf: Vec<u8>,
    /// What could not be opened, for the report.
    pub notes: Vec<String>,
}

fn open(path: PathBuf, notes: &mut Vec<String>) -> Option<File> {
    match File::open(&path) {
        Ok(f) => Some(f),
        Err(e) => {
            notes.push(format!("{}: {e}", path.display()));
            None
        }
    }
}

/// Reads a whole proc file from its start into `buf`; false if it could not.
fn reread(f: &File, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    buf.resize(4096, 0);
    let mut n = 0;
    loop {
        match f.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if n == buf.len() {
                    buf.resize(n * 2, 0);
                }
            }
            Err(_) => return false,
        }
    }
    buf.truncate(n);
    true
}

impl ThreadFiles {
    /// Opens the files of thread `tid` of process `pid` under `root` (`/proc`).
    pub fn open(root: &Path, pid: u32, tid: u32) -> Self {
        let dir = root
            .join(pid.to_string())
            .join("task")
            .join(tid.to_string());
        let mut notes = Vec::new();
        ThreadFiles {
            stat: open(dir.join("stat"), &mut notes),
            schedstat: open(dir.join("schedstat"), &mut notes),
            status: open(dir.join("status"), &mut notes),
            buf: Vec::with_capacity(4096),
            notes,
        }
    }

    /// Reads them all now.
    pub fn read(&mut self) -> ThreadSample {
        let mut s = self.read_sched();
        if let Some(f) = &self.status {
            if reread(f, &mut self.buf) {
                parse_status(&self.buf, &mut s);
            }
        }
        s
    }

    /// Reads all but the context switches (`status`, the costliest file to
    /// generate): what a fine-grained sample needs.
    pub fn read_sched(&mut self) -> ThreadSample {
        let mut s = ThreadSample::default();
        if let Some(f) = &self.stat {
            if reread(f, &mut self.buf) {
                parse_stat(&self.buf, &mut s);
            }
        }
        if let Some(f) = &self.schedstat {
            if reread(f, &mut self.buf) {
                let mut it = std::str::from_utf8(&self.buf)
                    .unwrap_or("")
                    .split_ascii_whitespace()
                    .map(|x| x.parse::<u64>().ok());
                s.run_ns = it.next().flatten();
                s.wait_ns = it.next().flatten();
                s.slices = it.next().flatten();
            }
        }
        s
    }
}

/// `pid (comm) state ...`: the fields after the last `)` (comm may hold
/// spaces and parentheses). proc(5) numbers them from 1: state is 3,
/// minflt 10, majflt 12, processor 39.
fn parse_stat(b: &[u8], s: &mut ThreadSample) {
    let text = std::str::from_utf8(b).unwrap_or("");
    let Some((_, rest)) = text.rsplit_once(')') else {
        return;
    };
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|x| x.parse::<u64>().ok());
    s.state = f.first().and_then(|x| x.bytes().next()).unwrap_or(0);
    s.minflt = field(10);
    s.majflt = field(12);
    s.cpu = field(39).and_then(|c| u32::try_from(c).ok());
}

fn parse_status(b: &[u8], s: &mut ThreadSample) {
    for line in std::str::from_utf8(b).unwrap_or("").lines() {
        let value = |l: &str| l.split_ascii_whitespace().nth(1)?.parse::<u64>().ok();
        if line.starts_with("voluntary_ctxt_switches:") {
            s.vcsw = value(line);
        } else if line.starts_with("nonvoluntary_ctxt_switches:") {
            s.nvcsw = value(line);
        }
    }
}

/// Each CPU's steal time from `/proc/stat` (kept in ticks of USER_HZ).
pub struct StealFile {
    file: Option<File>,
    ns_per_tick: u64,
    buf: Vec<u8>,
    /// Why it is unavailable, if it is.
    pub note: Option<String>,
}

impl StealFile {
    /// Opens `root/stat`.
    pub fn open(root: &Path) -> Self {
        let mut notes = Vec::new();
        let file = open(root.join("stat"), &mut notes);
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|h| *h > 0)
            .unwrap_or(100) as u64;
        StealFile {
            file,
            ns_per_tick: 1_000_000_000 / hz,
            buf: Vec::with_capacity(4096),
            note: notes.pop(),
        }
    }

    /// Steal ns of each CPU, ever, into `out` (index = CPU); false if unavailable.
    pub fn read(&mut self, out: &mut Vec<u64>) -> bool {
        out.clear();
        let Some(f) = &self.file else {
            return false;
        };
        if !reread(f, &mut self.buf) {
            return false;
        }
        for line in std::str::from_utf8(&self.buf).unwrap_or("").lines() {
            let mut f = line.split_ascii_whitespace();
            let Some(cpu) = f.next().and_then(|l| l.strip_prefix("cpu")) else {
                continue;
            };
            let Ok(i) = cpu.parse::<usize>() else {
                continue; // the all-CPU line
            };
            let steal = f.nth(7).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
            if out.len() <= i {
                out.resize(i + 1, 0);
            }
            out[i] = steal * self.ns_per_tick;
        }
        !out.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_reads_back_and_a_missing_file_is_a_note() {
        let pid = std::process::id();
        let tid = nix::unistd::gettid().as_raw() as u32;
        let mut t = ThreadFiles::open(Path::new("/proc"), pid, tid);
        let s = t.read();
        assert!(t.notes.is_empty(), "{:?}", t.notes);
        assert_eq!(s.state, b'R');
        assert!(
            s.run_ns.is_some() && s.wait_ns.is_some() && s.vcsw.is_some() && s.slices.is_some()
        );
        // A fresh thread may have faulted nothing yet: only that the figure was read.
        assert!(s.cpu.is_some() && s.minflt.is_some());
        let dir = std::env::temp_dir().join(format!("tickline-fakeproc-{pid}"));
        let task = dir.join("7").join("task").join("7");
        std::fs::create_dir_all(&task).unwrap();
        std::fs::write(
            task.join("stat"),
            "7 (a (b) c) S 1 1 1 0 -1 0 11 0 12 0 0 0 0 0 20 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0",
        )
        .unwrap();
        let mut t = ThreadFiles::open(&dir, 7, 7);
        let s = t.read();
        assert_eq!(
            (s.state, s.minflt, s.majflt, s.cpu),
            (b'S', Some(11), Some(12), Some(1))
        );
        assert_eq!((s.run_ns, s.vcsw), (None, None));
        assert_eq!(t.notes.len(), 2, "{:?}", t.notes);
        let mut steal = Vec::new();
        assert!(!StealFile::open(&dir).read(&mut steal));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn steal_is_read_per_cpu() {
        let mut steal = Vec::new();
        assert!(StealFile::open(Path::new("/proc")).read(&mut steal));
        assert!(!steal.is_empty());
    }
}
