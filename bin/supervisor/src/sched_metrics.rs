//! The scheduler's side of `/metrics`: per stage, its main thread's
//! run-queue delay, the steal of the CPU it runs on, context switches and
//! page faults, read from /proc at each scrape; and the causes given to
//! slow decisions. A /proc file that cannot be read leaves its series out.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tickline_causes::{Cause, StealFile, ThreadFiles};

use crate::causes::CauseCounts;

type Labels = Vec<(String, String)>;
type Seconds = Counter<f64, AtomicU64>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Registers the families for `stages` (name, pid; pid 0: not running).
pub fn register(registry: &mut Registry, stages: &[(String, u32)], counts: &CauseCounts) {
    let delay = Family::<Labels, Seconds>::default();
    let steal = Family::<Labels, Seconds>::default();
    let switches = Family::<Labels, Counter>::default();
    let faults = Family::<Labels, Counter>::default();
    let mut per_cpu = Vec::new();
    let cpu_steal = StealFile::open(Path::new("/proc")).read(&mut per_cpu);
    for (name, pid) in stages.iter().filter(|(_, p)| *p != 0) {
        let t = ThreadFiles::open(Path::new("/proc"), *pid, *pid).read();
        let n = name.as_str();
        if let Some(w) = t.wait_ns {
            delay
                .get_or_create(&labels(&[("stage", n)]))
                .inc_by(w as f64 / 1e9);
        }
        if let (true, Some(c)) = (cpu_steal, t.cpu) {
            if let Some(s) = per_cpu.get(c as usize) {
                let cpu = c.to_string();
                steal
                    .get_or_create(&labels(&[("stage", n), ("cpu", &cpu)]))
                    .inc_by(*s as f64 / 1e9);
            }
        }
        for (kind, v) in [("voluntary", t.vcsw), ("involuntary", t.nvcsw)] {
            if let Some(v) = v {
                switches
                    .get_or_create(&labels(&[("stage", n), ("kind", kind)]))
                    .inc_by(v);
            }
        }
        for (kind, v) in [("minor", t.minflt), ("major", t.majflt)] {
            if let Some(v) = v {
                faults
                    .get_or_create(&labels(&[("stage", n), ("kind", kind)]))
                    .inc_by(v);
            }
        }
    }
    let causes = Family::<Labels, Counter>::default();
    for (c, n) in Cause::ALL.iter().zip(&counts.over_100us) {
        causes
            .get_or_create(&labels(&[("cause", c.name())]))
            .inc_by(n.load(Ordering::Relaxed));
    }
    registry.register(
        "stage_run_delay_seconds",
        "Time the stage's main thread waited in a run queue for a CPU (schedstat)",
        delay,
    );
    registry.register(
        "stage_cpu_steal_seconds",
        "Steal time of the CPU the stage last ran on (the VM running something else)",
        steal,
    );
    registry.register(
        "stage_context_switches",
        "Context switches of the stage's main thread",
        switches,
    );
    registry.register(
        "stage_page_faults",
        "Page faults of the stage's process",
        faults,
    );
    registry.register(
        "slow_decisions",
        "Decisions over 100 us kept by the flight recorder, by the cause given",
        causes,
    );
}
