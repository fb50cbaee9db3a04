//! One slow decision's cause: its slowest hop, the stage that held it, and
//! what that stage's samples around the hop show beyond its usual.
//!
//! A cause is named only on evidence. Scheduler times are compared with the
//! same stage's baseline (the seconds before), so a polling thread's usual
//! run-queue waits do not explain every stall; a measured time must cover
//! at least half the hop to explain it.

use serde::{Deserialize, Serialize};
use tickline_schema::flight::{SlowDecision, HOPS};

use crate::history::{History, StageSample, Window};
use crate::times::split;

/// Samples further apart than this many hop lengths cannot tell causes apart.
const COARSE: u64 = 20;
/// The baseline: this much time before the hop.
const BASELINE_NS: u64 = 2_000_000_000;

/// Why a decision was slow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The stage was stopped (SIGSTOP, a debugger): its run state said so.
    Stopped,
    /// The VM took the CPU: the thread was neither running nor waiting in
    /// our run queue, and did not sleep (or the CPU's steal grew).
    Steal,
    /// Another thread held the CPU: the stage waited in the run queue.
    RunQueue,
    /// The consumer was asleep and had to be woken (a futex wake-up).
    FutexWake,
    /// A page fault (major, or minor ones beyond the stage's usual).
    PageFault,
    /// The stage's own work.
    Service,
    /// Samples there, but none of the above shown.
    Unknown,
    /// No samples to judge by (a missing /proc file, no sample after it).
    Unavailable,
}

impl Cause {
    /// Every cause, in report order.
    pub const ALL: [Cause; 8] = [
        Cause::Stopped,
        Cause::Steal,
        Cause::RunQueue,
        Cause::FutexWake,
        Cause::PageFault,
        Cause::Service,
        Cause::Unknown,
        Cause::Unavailable,
    ];

    /// Its name in reports and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Stopped => "stopped",
            Cause::Steal => "steal",
            Cause::RunQueue => "run_queue",
            Cause::FutexWake => "futex_wake",
            Cause::PageFault => "page_fault",
            Cause::Service => "service",
            Cause::Unknown => "unknown",
            Cause::Unavailable => "unavailable",
        }
    }

    /// Whether it names a cause.
    pub fn is_named(self) -> bool {
        !matches!(self, Cause::Unknown | Cause::Unavailable)
    }
}

/// What the samples showed for the slowest hop's stage over the window:
/// times beyond the stage's baseline for a window that long (ns, may be
/// negative), and raw counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Time neither running, waiting nor asleep (the VM's), beyond usual.
    pub steal_ns: Option<i64>,
    /// Time waiting in the run queue, beyond usual.
    pub run_queue_ns: Option<i64>,
    /// Time on the CPU, beyond usual.
    pub run_ns: Option<i64>,
    /// Time asleep (voluntarily), as measured.
    pub asleep_ns: Option<u64>,
    /// Futex wake-ups issued to it.
    pub wakeups: Option<u32>,
    /// Minor page faults, and beyond usual.
    pub minflt: Option<u64>,
    /// Major page faults.
    pub majflt: Option<u64>,
    /// Run states seen, in order (`R`, `S`, `T`...).
    pub states: String,
}

/// A slow decision's cause, with what it rests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// The cause.
    pub cause: Cause,
    /// The slowest hop (see `HOPS`).
    pub hop: String,
    /// The stage that held the decision in it.
    pub stage: String,
    /// In words, with the figures.
    pub detail: String,
    /// Length of the sample window around the hop, ns.
    pub window_ns: u64,
    /// The figures.
    pub evidence: Evidence,
}

/// Which stage (index) each hop of [`HOPS`] belongs to, and their names.
pub struct Pipeline<'a> {
    /// Per hop: the stage whose wait and work it is.
    pub hop_stage: [Option<usize>; 4],
    /// Stage names, by index.
    pub names: &'a [String],
}

/// Per-ns rates of a stage's times over the baseline, and of minor faults.
#[derive(Default)]
struct Rates {
    run: f64,
    wait: f64,
    stolen: f64,
    minflt: f64,
}

fn baseline(h: &History, stage: usize, before: u64) -> Rates {
    let s = h.sums(stage, before.saturating_sub(BASELINE_NS), before);
    if s.dt == 0 {
        return Rates::default();
    }
    let t = s.dt as f64;
    Rates {
        run: s.run as f64 / t,
        wait: s.wait as f64 / t,
        stolen: s.stolen as f64 / t,
        minflt: s.minflt as f64 / t,
    }
}

/// The cause of `d`'s slowness, from the samples in `h`.
pub fn attribute(d: &SlowDecision, p: &Pipeline<'_>, h: &History) -> Attribution {
    let hop = d.slowest_hop();
    let (a, b) = d.hop_span(hop);
    let mut at = Attribution {
        cause: Cause::Unavailable,
        hop: HOPS[hop].to_owned(),
        stage: String::new(),
        detail: String::new(),
        window_ns: 0,
        evidence: Evidence::default(),
    };
    let Some(stage) = p.hop_stage[hop] else {
        at.detail = "no stage known for this hop".into();
        return at;
    };
    at.stage = p.names.get(stage).cloned().unwrap_or_default();
    let Some(w) = h.around(a, b) else {
        at.detail = "no samples around it (sampling began later, or fell behind)".into();
        return at;
    };
    at.window_ns = w.len_ns();
    let Some((x, y)) = w.stage(stage) else {
        at.detail = format!("{} restarted or was not running in the window", at.stage);
        return at;
    };
    judge(&mut at, d, hop, (b - a).max(1), &w, (stage, x, y), p, h);
    at
}

#[allow(clippy::too_many_arguments)]
fn judge(
    at: &mut Attribution,
    d: &SlowDecision,
    hop: usize,
    len: u64,
    w: &Window<'_>,
    (stage, x, y): (usize, &StageSample, &StageSample),
    p: &Pipeline<'_>,
    h: &History,
) {
    let states = w.states(stage);
    at.evidence.states = String::from_utf8_lossy(&states).into_owned();
    if states.iter().any(|s| matches!(s, b'T' | b't')) {
        at.cause = Cause::Stopped;
        at.detail = format!("{} was stopped (run state T) during its hop", at.stage);
        return;
    }
    let wl = w.len_ns();
    let cpu = y.thread.cpu.or(x.thread.cpu);
    let slept = w.slept(stage).unwrap_or(false);
    let times = split(wl, x, y, slept, cpu.and_then(|c| w.steal_ns(c)));
    counts(&mut at.evidence, x, y);
    let e = &mut at.evidence;
    let Some([run, wait, stolen, asleep]) = times else {
        at.cause = Cause::Unavailable;
        at.detail = format!("{}'s scheduler figures are unavailable (/proc)", at.stage);
        return;
    };
    if wl > COARSE * len {
        at.cause = Cause::Unknown;
        at.detail = format!(
            "samples {:.1} ms apart: too coarse for a {:.0} µs hop (supervisor run --trace-causes samples every 1 ms)",
            wl as f64 / 1e6,
            len as f64 / 1e3
        );
        return;
    }
    let base = baseline(h, stage, x_time(w));
    let beyond = |v: u64, rate: f64| v as i64 - (rate * wl as f64) as i64;
    e.steal_ns = Some(beyond(stolen, base.stolen));
    e.run_queue_ns = Some(beyond(wait, base.wait));
    e.run_ns = Some(beyond(run, base.run));
    e.asleep_ns = Some(asleep);
    let minflt_beyond = e.minflt.map_or(0, |m| beyond(m, base.minflt));
    let (cause, detail) = classify(e, d, hop, len, asleep, minflt_beyond, |best| {
        explain(best, cpu, stage, w, p)
    });
    at.cause = cause;
    at.detail = detail;
}

/// Fault and wake-up counts over the window, into the evidence.
fn counts(e: &mut Evidence, x: &StageSample, y: &StageSample) {
    let delta = |b: Option<u64>, a: Option<u64>| b.zip(a).map(|(b, a)| b.saturating_sub(a));
    e.majflt = delta(y.thread.majflt, x.thread.majflt);
    e.minflt = delta(y.thread.minflt, x.thread.minflt);
    e.wakeups = y.wakeups.zip(x.wakeups).map(|(b, a)| b.wrapping_sub(a));
}

/// The cause from the figures beyond the stage's usual: a figure that covers half
/// the hop wins; otherwise faults, then a sleep that needed a futex wake-up.
fn classify(
    e: &Evidence,
    d: &SlowDecision,
    hop: usize,
    len: u64,
    asleep: u64,
    minflt_beyond: i64,
    explain: impl FnOnce((Cause, i64)) -> (Cause, String),
) -> (Cause, String) {
    let best = [
        (Cause::Steal, e.steal_ns.unwrap_or(0)),
        (Cause::RunQueue, e.run_queue_ns.unwrap_or(0)),
        (Cause::Service, e.run_ns.unwrap_or(0)),
    ]
    .into_iter()
    .max_by_key(|(_, v)| *v)
    .expect("three candidates");
    if best.1 >= (len / 2) as i64 {
        explain(best)
    } else if e.majflt.unwrap_or(0) > 0 {
        (
            Cause::PageFault,
            format!("{} major page faults", e.majflt.unwrap_or(0)),
        )
    } else if hop < 3 && e.wakeups.unwrap_or(0) > 0 && asleep > 0 {
        (
            Cause::FutexWake,
            format!(
                "asleep {:.0} µs of the window; {} futex wake-ups issued to it",
                asleep as f64 / 1e3,
                e.wakeups.unwrap_or(0)
            ),
        )
    } else if minflt_beyond > 0 {
        (
            Cause::PageFault,
            format!("{minflt_beyond} minor page faults beyond its usual"),
        )
    } else if hop == 3 {
        (
            Cause::Service,
            format!(
                "the router's own work, read to decision, on the CPU (outcome {})",
                d.outcome
            ),
        )
    } else {
        (
            Cause::Unknown,
            "no figure beyond the stage's usual covers half the hop".into(),
        )
    }
}

fn x_time(w: &Window<'_>) -> u64 {
    w.samples[0].t_ns
}

/// The cause and its words for a figure that covers the hop: how much,
/// and for a run queue, who held the CPU.
fn explain(
    best: (Cause, i64),
    cpu: Option<u32>,
    stage: usize,
    w: &Window<'_>,
    p: &Pipeline<'_>,
) -> (Cause, String) {
    let us = best.1 as f64 / 1e3;
    let on = cpu.map_or("?".into(), |c| c.to_string());
    match best.0 {
        Cause::Steal => (
            Cause::Steal,
            format!("{us:.0} µs beyond usual off the CPU without sleeping (CPU {on}): the VM ran something else"),
        ),
        Cause::RunQueue => {
            let (cause, holder) = holder(cpu, stage, best.1, w, p);
            (cause, format!("{us:.0} µs beyond usual waiting for CPU {on}; {holder}"))
        }
        c => (c, format!("{us:.0} µs beyond usual on the CPU: its own work")),
    }
}

/// Who held `cpu` while the stage waited `waited` ns beyond usual: one of
/// our stages running (run queue), or the VM taking the CPU from one of our
/// stages that stayed current there (steal), or neither shown.
fn holder(
    cpu: Option<u32>,
    stage: usize,
    waited: i64,
    w: &Window<'_>,
    p: &Pipeline<'_>,
) -> (Cause, String) {
    let wl = w.len_ns();
    // (stage, ran, time the VM took while it stayed current)
    let others: Vec<(usize, u64, u64)> = (0..p.names.len())
        .filter(|j| *j != stage)
        .filter_map(|j| {
            let (x, y) = w.stage(j)?;
            (y.thread.cpu == cpu).then_some(())?;
            let ran = y.thread.run_ns?.saturating_sub(x.thread.run_ns?);
            let queued = y.thread.wait_ns?.saturating_sub(x.thread.wait_ns?);
            let taken = if w.stayed_current(j) == Some(true) {
                wl.saturating_sub(ran + queued)
            } else {
                0
            };
            Some((j, ran, taken))
        })
        .collect();
    let ran = others.iter().max_by_key(|o| o.1).copied();
    let taken = others.iter().max_by_key(|o| o.2).copied();
    let name = |j: usize| p.names[j].as_str();
    match (ran, taken) {
        (Some((j, r, _)), _) if (r as i64) * 2 >= waited => {
            (Cause::RunQueue, format!("{} ran {:.0} µs there", name(j), r as f64 / 1e3))
        }
        (_, Some((j, r, t))) if (t as i64) * 2 >= waited => (
            Cause::Steal,
            format!(
                "{} stayed current there (never switched out) yet ran only {:.0} µs: the VM took the CPU for {:.0} µs",
                name(j),
                r as f64 / 1e3,
                t as f64 / 1e3
            ),
        ),
        // Steal while a thread not of ours was current also counts as
        // run-queue wait; the guest cannot tell it from that thread's work.
        (r, _) => (
            Cause::RunQueue,
            format!(
                "{} ran only {:.0} µs there: the rest was another process, the kernel, or the VM taking the CPU while a thread not of ours was current",
                r.map_or("none of our stages", |(j, _, _)| name(j)),
                r.map_or(0.0, |(_, r, _)| r as f64 / 1e3)
            ),
        ),
    }
}
