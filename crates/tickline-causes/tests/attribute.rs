//! Causes from hand-made samples: each cause is named when, and only when,
//! its figures beyond the stage's usual cover half the slow hop.

use tickline_causes::{attribute, Cause, History, Pipeline, Sample, StageSample, ThreadSample};
use tickline_schema::flight::SlowDecision;

const MS: u64 = 1_000_000;
const NAMES: [&str; 4] = ["feed-handler", "feature", "inference", "order-router"];

/// Per ms, for one stage: (run ns, wait ns, voluntary switches, wake-ups).
type Step = (u64, u64, u64, u32);

/// A stage's cumulative figures as they grow by `step(t)` each ms.
struct Stage {
    cpu: u32,
    state: u8,
    run: u64,
    wait: u64,
    vcsw: u64,
    wakeups: u32,
    slices: u64,
}

/// `stays(i, t)`: stage i stayed current through ms t (not switched onto
/// a CPU again); otherwise each ms switches it in once.
fn history(
    until_ms: u64,
    step: impl Fn(usize, u64) -> Step,
    state: impl Fn(usize, u64) -> u8,
    stays: impl Fn(usize, u64) -> bool,
) -> History {
    let mut h = History::new(10_000 * MS);
    let mut st: Vec<Stage> = (0..4)
        .map(|i| Stage {
            cpu: if i < 2 { 0 } else { 1 },
            state: b'R',
            run: 0,
            wait: 0,
            vcsw: 0,
            wakeups: 0,
            slices: 0,
        })
        .collect();
    for t in 0..=until_ms {
        let stages = st
            .iter_mut()
            .enumerate()
            .map(|(i, s)| {
                if t > 0 {
                    let (r, w, v, k) = step(i, t);
                    s.run += r;
                    s.wait += w;
                    s.vcsw += v;
                    s.wakeups += k;
                    s.slices += !stays(i, t) as u64;
                }
                s.state = state(i, t);
                StageSample {
                    pid: 100 + i as u32,
                    thread: ThreadSample {
                        state: s.state,
                        cpu: Some(s.cpu),
                        minflt: Some(0),
                        majflt: Some(0),
                        run_ns: Some(s.run),
                        wait_ns: Some(s.wait),
                        vcsw: Some(s.vcsw),
                        nvcsw: Some(0),
                        slices: Some(s.slices),
                    },
                    sleeps: Some(s.wakeups),
                    wakeups: Some(s.wakeups),
                }
            })
            .collect();
        h.push(Sample {
            t_ns: t * MS,
            steal_ns: vec![0, 0],
            stages,
        });
    }
    h
}

/// Polling stages on CPU 1 share it (0.6 ms run, 0.4 ms wait each ms);
/// CPU 0's stages run a little and sleep.
fn usual(i: usize) -> Step {
    if i >= 2 {
        (600_000, 400_000, 0, 0)
    } else {
        (100_000, 10_000, 3, 3)
    }
}

/// A decision whose inference hop ran from 3000.2 ms to 3002.7 ms.
fn slow_in_inference() -> SlowDecision {
    let t0 = 3_000 * MS;
    SlowDecision {
        stamps: [t0 + 180_000, t0 + 200_000, t0 + 2_700_000, 0],
        read_ns: t0 + 2_710_000,
        decided_ns: t0 + 2_720_000,
        ..Default::default()
    }
}

fn pipeline(names: &[String]) -> Pipeline<'_> {
    Pipeline {
        hop_stage: [Some(1), Some(2), Some(3), Some(3)],
        names,
    }
}

fn names() -> Vec<String> {
    NAMES.iter().map(|s| s.to_string()).collect()
}

fn in_stall(t: u64) -> bool {
    (3_001..=3_003).contains(&t)
}

#[test]
fn a_stopped_stage_is_named_by_its_run_state() {
    let h = history(
        3_010,
        |i, _| usual(i),
        |i, t| if i == 2 && in_stall(t) { b'T' } else { b'R' },
        |_, _| false,
    );
    let a = attribute(&slow_in_inference(), &pipeline(&names()), &h);
    assert_eq!(
        (a.cause, a.hop.as_str(), a.stage.as_str()),
        (Cause::Stopped, "inference", "inference")
    );
    assert!(a.evidence.states.contains('T'), "{a:?}");
}

#[test]
fn time_off_the_cpu_without_sleeping_is_the_vms() {
    let step = |i: usize, t: u64| {
        if i == 2 && in_stall(t) {
            (50_000, 50_000, 0, 0)
        } else {
            usual(i)
        }
    };
    let a = attribute(&slow_in_inference(), &pipeline(&names()), &h(step));
    assert_eq!(a.cause, Cause::Steal, "{a:?}");
    assert!(a.evidence.steal_ns.unwrap() > 2_000_000, "{a:?}");
}

fn h(step: impl Fn(usize, u64) -> Step) -> History {
    history(3_010, step, |_, _| b'R', |_, _| false)
}

#[test]
fn waiting_for_a_cpu_another_stage_held_is_the_run_queue_and_names_the_holder() {
    let step = |i: usize, t: u64| match (i, in_stall(t)) {
        (2, true) => (50_000, 950_000, 0, 0),
        (3, true) => (950_000, 50_000, 0, 0),
        _ => usual(i),
    };
    let a = attribute(&slow_in_inference(), &pipeline(&names()), &h(step));
    assert_eq!(a.cause, Cause::RunQueue, "{a:?}");
    assert!(a.detail.contains("order-router ran"), "{}", a.detail);
}

#[test]
fn waiting_while_a_stage_that_stayed_current_barely_ran_is_the_vms() {
    // Inference waits for CPU 1; the router is current there all along
    // (never switched in again) but runs only 50 µs a ms: the VM took it.
    let step = |i: usize, t: u64| match (i, in_stall(t)) {
        (2, true) => (20_000, 980_000, 0, 0),
        (3, true) => (50_000, 0, 0, 0),
        _ => usual(i),
    };
    let stays = |i: usize, t: u64| i == 3 && in_stall(t);
    let taken = history(3_010, step, |_, _| b'R', stays);
    let a = attribute(&slow_in_inference(), &pipeline(&names()), &taken);
    assert_eq!(a.cause, Cause::Steal, "{a:?}");
    assert!(
        a.detail.contains("order-router stayed current"),
        "{}",
        a.detail
    );
    // The same figures, but the router was switched in and out: the guest
    // cannot say who had the CPU, so it stays a run-queue wait.
    let a = attribute(&slow_in_inference(), &pipeline(&names()), &h(step));
    assert_eq!(a.cause, Cause::RunQueue, "{a:?}");
    assert!(a.detail.contains("ran only"), "{}", a.detail);
}

#[test]
fn the_usual_share_of_a_polling_thread_explains_nothing() {
    // Everything as usual: the slow hop is not explained by figures that
    // every millisecond shows.
    let a = attribute(
        &slow_in_inference(),
        &pipeline(&names()),
        &h(|i, _| usual(i)),
    );
    assert_eq!(a.cause, Cause::Unknown, "{a:?}");
}

#[test]
fn a_sleeping_consumer_woken_late_is_a_futex_wake_up() {
    let t0 = 3_000 * MS;
    let d = SlowDecision {
        stamps: [t0 + 200_000, t0 + 2_500_000, t0 + 2_600_000, 0],
        read_ns: t0 + 2_610_000,
        decided_ns: t0 + 2_620_000,
        ..Default::default()
    };
    // The feature stage asleep for the stall, woken once.
    let step = |i: usize, t: u64| match (i, in_stall(t)) {
        (1, true) => (5_000, 1_000, 1, if t == 3_002 { 1 } else { 0 }),
        _ => usual(i),
    };
    let a = attribute(&d, &pipeline(&names()), &h(step));
    assert_eq!(
        (a.cause, a.hop.as_str()),
        (Cause::FutexWake, "feature"),
        "{a:?}"
    );
}

#[test]
fn samples_too_far_apart_leave_it_unknown_and_missing_figures_unavailable() {
    // One sample a second: a 2.5 ms hop cannot be told apart from the rest.
    let mut coarse = History::new(100_000 * MS);
    let stall = |i: usize, t: u64| {
        if i == 2 && in_stall(t) {
            (50_000, 50_000, 0, 0)
        } else {
            usual(i)
        }
    };
    let fine = history(4_010, stall, |_, _| b'R', |_, _| false);
    for t in [2_000u64, 3_000, 4_000] {
        if let Some(w) = fine.around(t * MS, t * MS) {
            coarse.push(w.samples[0].clone());
        }
    }
    let d = slow_in_inference();
    let a = attribute(&d, &pipeline(&names()), &coarse);
    assert_eq!(a.cause, Cause::Unknown, "{a:?}");
    assert!(a.detail.contains("too coarse"), "{}", a.detail);
    // A /proc without schedstat: no run figures.
    let mut blind = History::new(10_000 * MS);
    for t in 2_990..3_010u64 {
        let mut s = fine.around(t * MS, t * MS).unwrap().samples[0].clone();
        for st in &mut s.stages {
            st.thread.run_ns = None;
            st.thread.wait_ns = None;
        }
        blind.push(s);
    }
    let a = attribute(&d, &pipeline(&names()), &blind);
    assert_eq!(a.cause, Cause::Unavailable, "{a:?}");
    assert!(a.detail.contains("unavailable"), "{}", a.detail);
}
