//! Messages on snapshot boards (not queues): what each stage publishes about
//! itself, and what the supervisor publishes about the pipeline.

use bytemuck::{Pod, Zeroable};
use tickline_shm::impl_message;

/// Bytes per serialised histogram (HdrHistogram V2, uncompressed).
pub const HIST_BYTES: usize = 2048 * 8;

/// Which latency a histogram holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// The stage's own work per message.
    Service = 0,
    /// From the upstream stage's publish to this stage's read.
    QueueWait = 1,
    /// From the feed's ingest timestamp to this stage's publish.
    EndToEnd = 2,
}

impl Metric {
    /// Every metric, in board order.
    pub const ALL: [Metric; 3] = [Metric::Service, Metric::QueueWait, Metric::EndToEnd];
    /// Its name in summaries and logs.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Service => "service",
            Metric::QueueWait => "queue_wait",
            Metric::EndToEnd => "end_to_end",
        }
    }
}

/// A stage's cumulative counters and latency histograms since it started,
/// published a few times a second.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub struct StageStats {
    /// The publishing process.
    pub pid: u32,
    /// Padding to 8-byte alignment; zero.
    pub _reserved: u32,
    /// CLOCK_MONOTONIC ns: process start and this snapshot.
    pub started_ns: u64,
    /// CLOCK_MONOTONIC ns of this snapshot.
    pub updated_ns: u64,
    /// Input messages handled since start.
    pub messages_in: u64,
    /// Output messages published since start.
    pub messages_out: u64,
    /// Bad input and failed work, all kinds summed (the stage's summary splits them).
    pub errors: u64,
    /// Serialised length of each histogram in `hist` (0: none recorded).
    pub hist_len: [u32; 4],
    /// One serialised histogram per [`Metric`].
    pub hist: [[u64; HIST_BYTES / 8]; 3],
}

impl StageStats {
    /// The serialised histogram of `m` (empty if none).
    pub fn hist_bytes(&self, m: Metric) -> &[u8] {
        let n = (self.hist_len[m as usize] as usize).min(HIST_BYTES);
        &bytemuck::bytes_of(&self.hist[m as usize])[..n]
    }
    /// The buffer `m`'s histogram is serialised into.
    pub fn hist_bytes_mut(&mut self, m: Metric) -> &mut [u8] {
        bytemuck::bytes_of_mut(&mut self.hist[m as usize])
    }
}

/// Most stages a pipeline has.
pub const MAX_STAGES: usize = 8;

/// What the supervisor last decided about a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum StageState {
    /// Not started yet.
    NotStarted = 0,
    /// Its process runs.
    Running = 1,
    /// Waiting out a restart backoff.
    Backoff = 2,
    /// Finished its input (a replay's end).
    Done = 3,
    /// Asked to stop, and it did (or cannot run any more).
    Stopped = 4,
    /// Gave up: restart intensity exceeded.
    Failed = 5,
}

impl StageState {
    /// The state a board's word holds (unknown values read as stopped).
    pub fn from_u32(v: u32) -> Self {
        match v {
            1 => StageState::Running,
            2 => StageState::Backoff,
            3 => StageState::Done,
            4 => StageState::Stopped,
            5 => StageState::Failed,
            _ => StageState::NotStarted,
        }
    }
    /// Its name in summaries.
    pub fn name(self) -> &'static str {
        match self {
            StageState::NotStarted => "not-started",
            StageState::Running => "running",
            StageState::Backoff => "backoff",
            StageState::Done => "done",
            StageState::Stopped => "stopped",
            StageState::Failed => "failed",
        }
    }
}

/// One stage as the supervisor sees it.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct StageStatus {
    /// NUL-padded stage name.
    pub name: [u8; 32],
    /// NUL-padded names of its input and output queues and its stats board.
    pub input: [u8; 64],
    /// NUL-padded output queue name.
    pub output: [u8; 64],
    /// NUL-padded stats board name.
    pub board: [u8; 64],
    /// Running process, 0 if none.
    pub pid: u32,
    /// A [`StageState`].
    pub state: u32,
    /// Restarts so far.
    pub restarts: u32,
    /// Times found hung.
    pub hangs: u32,
    /// Last exit: code, or 128 + signal; -1 if none yet.
    pub last_exit: i32,
    /// Padding; zero.
    pub _pad: u32,
}

/// The supervisor's view of the pipeline, for `stats`.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct PipelineStatus {
    /// The supervisor's pid.
    pub supervisor_pid: u32,
    /// Stages in use in `stages`.
    pub n_stages: u32,
    /// CLOCK_MONOTONIC ns of the supervisor's start.
    pub started_ns: u64,
    /// NUL-padded directory of interval logs and journals.
    pub run_dir: [u8; 256],
    /// Each stage, in config order.
    pub stages: [StageStatus; MAX_STAGES],
}

/// Copies `s` into a NUL-padded field (truncating).
pub fn put_str(dst: &mut [u8], s: &str) {
    dst.fill(0);
    let n = s.len().min(dst.len());
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
}

/// The text of a NUL-padded field.
pub fn get_str(src: &[u8]) -> &str {
    let n = src.iter().position(|b| *b == 0).unwrap_or(src.len());
    std::str::from_utf8(&src[..n]).unwrap_or("?")
}

impl_message!(
    StageStats,
    name = "StageStats",
    version = 1,
    fields = [
        pid,
        started_ns,
        updated_ns,
        messages_in,
        messages_out,
        errors,
        hist_len,
        hist
    ]
);
impl_message!(
    PipelineStatus,
    name = "PipelineStatus",
    version = 1,
    fields = [supervisor_pid, n_stages, started_ns, run_dir, stages]
);

const _: () = {
    assert!(std::mem::size_of::<StageStats>() == 64 + 3 * HIST_BYTES);
    assert!(std::mem::size_of::<StageStatus>() == 248);
};
