//! Shared state that is not a queue: each stage's live counters and latency
//! histograms, and the supervisor's snapshot board about the pipeline.

use bytemuck::{Pod, Zeroable};
use tickline_shm::impl_message;

use crate::flight::{SlowestBlock, SLOWEST_INTERVALS};

/// Latencies a histogram covers: 1 ns to this (larger ones count here).
pub const HIST_HIGHEST_NS: u64 = 100_000_000_000;
/// Buckets per histogram: HdrHistogram's layout for 1 ns to
/// [`HIST_HIGHEST_NS`] at 3 significant digits (28 buckets of 1024).
pub const HIST_COUNTS: usize = 28 * 1024;

/// Which latency a histogram holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// The stage's own work per message.
    Service = 0,
    /// From the upstream stage's publish to this stage's read.
    QueueWait = 1,
    /// From the feed's ingest timestamp to this stage's publish.
    EndToEnd = 2,
    /// From the feed's ingest timestamp to this stage's decision on the
    /// message, whatever it decided (the router: order or not).
    TickToDecision = 3,
    /// The feed's: from the exchange's time for the event to the time its
    /// data reached us (receive − exchange), where both are on the epoch.
    FeedLatency = 4,
}

/// How many metrics there are.
pub const N_METRICS: usize = 5;

impl Metric {
    /// Every metric, in segment order.
    pub const ALL: [Metric; N_METRICS] = [
        Metric::Service,
        Metric::QueueWait,
        Metric::EndToEnd,
        Metric::TickToDecision,
        Metric::FeedLatency,
    ];
    /// Its name in summaries and logs.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Service => "service",
            Metric::QueueWait => "queue_wait",
            Metric::EndToEnd => "end_to_end",
            Metric::TickToDecision => "tick_to_decision",
            Metric::FeedLatency => "feed_latency",
        }
    }
}

/// A stage's counters and latency histograms since it started, kept live in
/// a counters segment: the stage updates the words in place, readers load
/// them (see `tickline_shm::CountersWriter`). Every field is a `u64` word.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub struct StageStats {
    /// The stage's pid.
    pub pid: u64,
    /// CLOCK_MONOTONIC ns of the stage's start.
    pub started_ns: u64,
    /// CLOCK_MONOTONIC ns of its last sign of life (a few times a second).
    pub updated_ns: u64,
    /// CLOCK_MONOTONIC ns at which it was warmed up and ready (0: not yet).
    pub ready_ns: u64,
    /// Input messages handled since start.
    pub messages_in: u64,
    /// Output messages published since start.
    pub messages_out: u64,
    /// Bad input and failed work, all kinds summed (the stage's summary splits them).
    pub errors: u64,
    /// Padding; zero.
    pub _reserved: u64,
    /// Per own-value slot: its [`OwnKind`] (0: unused).
    pub own_kinds: [u64; OWN_SLOTS],
    /// Per own-value slot: its name, UTF-8, NUL-padded, `name` or
    /// `name{label="value"}` (one label at most).
    pub own_names: [[u64; OWN_NAME_WORDS]; OWN_SLOTS],
    /// Per own-value slot: a counter's count, or a gauge's f64 bits.
    pub own_values: [u64; OWN_SLOTS],
    /// The deciding stage's flight recorder: the slowest decisions of the
    /// run so far (zero in other stages).
    pub slowest_run: SlowestBlock,
    /// The slowest decisions of the last completed intervals, interval `k`
    /// in block `k % SLOWEST_INTERVALS`.
    pub slowest: [SlowestBlock; SLOWEST_INTERVALS],
    /// Bucket counts of one latency histogram per [`Metric`], in HdrHistogram's layout.
    pub counts: [[u64; HIST_COUNTS]; N_METRICS],
}

/// Slots for values a stage reports about its own work, beyond messages
/// and latency (the router: orders, fills, rejects by reason, PnL).
pub const OWN_SLOTS: usize = 32;
/// Words of an own value's name (48 bytes).
pub const OWN_NAME_WORDS: usize = 6;

/// What an own-value slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum OwnKind {
    /// A count that only grows (while the process lives).
    Counter = 1,
    /// A value that goes up and down, as f64 bits.
    Gauge = 2,
}

impl OwnKind {
    /// The kind a slot's word holds, if any.
    pub fn from_u64(v: u64) -> Option<Self> {
        match v {
            1 => Some(OwnKind::Counter),
            2 => Some(OwnKind::Gauge),
            _ => None,
        }
    }
}

/// Word offsets of [`StageStats`]' fields, for in-place updates.
pub mod stats_word {
    use super::StageStats;
    use std::mem::offset_of;

    /// `pid`
    pub const PID: usize = offset_of!(StageStats, pid) / 8;
    /// `started_ns`
    pub const STARTED_NS: usize = offset_of!(StageStats, started_ns) / 8;
    /// `updated_ns`
    pub const UPDATED_NS: usize = offset_of!(StageStats, updated_ns) / 8;
    /// `ready_ns`
    pub const READY_NS: usize = offset_of!(StageStats, ready_ns) / 8;
    /// `messages_in`
    pub const MESSAGES_IN: usize = offset_of!(StageStats, messages_in) / 8;
    /// `messages_out`
    pub const MESSAGES_OUT: usize = offset_of!(StageStats, messages_out) / 8;
    /// `errors`
    pub const ERRORS: usize = offset_of!(StageStats, errors) / 8;
    /// First word of `own_kinds`.
    pub const OWN_KINDS: usize = offset_of!(StageStats, own_kinds) / 8;
    /// First word of `own_names`.
    pub const OWN_NAMES: usize = offset_of!(StageStats, own_names) / 8;
    /// First word of `own_values`.
    pub const OWN_VALUES: usize = offset_of!(StageStats, own_values) / 8;
    /// First word of `slowest_run`.
    pub const SLOWEST_RUN: usize = offset_of!(StageStats, slowest_run) / 8;
    /// First word of `slowest`.
    pub const SLOWEST: usize = offset_of!(StageStats, slowest) / 8;
    /// First word of `counts`.
    pub const COUNTS: usize = offset_of!(StageStats, counts) / 8;
    /// Words in all.
    pub const LEN: usize = std::mem::size_of::<StageStats>() / 8;
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
    version = 5,
    fields = [
        pid,
        started_ns,
        updated_ns,
        ready_ns,
        messages_in,
        messages_out,
        errors,
        own_kinds,
        own_names,
        own_values,
        slowest_run,
        slowest,
        counts
    ]
);
impl_message!(
    PipelineStatus,
    name = "PipelineStatus",
    version = 1,
    fields = [supervisor_pid, n_stages, started_ns, run_dir, stages]
);

const _: () = {
    assert!(
        std::mem::size_of::<StageStats>()
            == 64
                + OWN_SLOTS * (2 + OWN_NAME_WORDS) * 8
                + (1 + SLOWEST_INTERVALS) * std::mem::size_of::<SlowestBlock>()
                + N_METRICS * HIST_COUNTS * 8
    );
    assert!(std::mem::size_of::<StageStatus>() == 248);
};
