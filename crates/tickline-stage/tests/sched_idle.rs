//! `--sched-idle`: the runtime puts the stage's thread in SCHED_IDLE, so a
//! process beside the decision path runs only on CPU time nobody else wants.

use tickline_schema::{BookEvent, Stage};
use tickline_shm::FullPolicy;
use tickline_stage::{Endpoint, Runtime, Signals, StageArgs};

/// The calling thread's scheduling policy as the kernel reports it.
fn policy() -> u32 {
    let sched = std::fs::read_to_string("/proc/thread-self/sched").unwrap();
    let line = sched.lines().find(|l| l.starts_with("policy")).unwrap();
    line.rsplit(' ').next().unwrap().trim().parse().unwrap()
}

const SCHED_OTHER: u32 = 0;
const SCHED_IDLE: u32 = 5;

#[test]
fn a_stage_asked_for_sched_idle_runs_in_it_and_others_do_not() {
    let signals = Signals::install().unwrap();
    let mut args = StageArgs::new(Endpoint::Null);
    let plain = std::thread::spawn({
        let (args, signals) = (args.clone(), signals.clone());
        move || {
            Runtime::<BookEvent>::new(Stage::Venue, &args, signals, FullPolicy::Block).unwrap();
            policy()
        }
    });
    assert_eq!(plain.join().unwrap(), SCHED_OTHER);
    args.sched_idle = true;
    let idle = std::thread::spawn(move || {
        Runtime::<BookEvent>::new(Stage::Venue, &args, signals, FullPolicy::Block).unwrap();
        policy()
    });
    assert_eq!(idle.join().unwrap(), SCHED_IDLE);
}
