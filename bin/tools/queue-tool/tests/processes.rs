//! Queues between real processes: the `tickline-queue` binary as producer,
//! relay and consumer; random batch interleavings, and kill -9 mid-stream.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tickline_shm::payload::Bytes64;
use tickline_shm::{create, Consumer, QueueView, WaitStrategy};

const BIN: &str = env!("CARGO_BIN_EXE_tickline-queue");

struct Names(Vec<String>);

impl Names {
    fn new(tag: &str, n: usize) -> Self {
        let pid = std::process::id();
        let names: Vec<_> = (0..n)
            .map(|i| format!("/tickline-ptest-{pid}-{tag}-{i}"))
            .collect();
        for n in &names {
            let _ = tickline_shm::unlink(n);
        }
        Names(names)
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = tickline_shm::unlink(n);
        }
    }
}

fn spawn(args: &[String]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tickline-queue")
}

/// Waits for a child with a deadline, so a hung child fails the test instead of CI.
fn finish(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "child hung for {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(line.trim().lines().last().unwrap_or("")).expect("json summary")
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn kill9(child: Child) -> Output {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait_with_output().unwrap()
}

/// Restarts of the relay that found messages it had already forwarded
/// still uncommitted in its input, i.e. that had to skip them.
fn redeliveries(outputs: &[Output]) -> usize {
    outputs
        .iter()
        .filter_map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter(|v| {
            let committed = v["input_committed"].as_u64().unwrap_or(0);
            v["output_last"]
                .as_u64()
                .is_some_and(|last| committed <= last)
        })
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    #[test]
    fn two_processes_never_lose_duplicate_or_reorder(
        cap_log2 in 1u32..11,
        push_batch in 1usize..64,
        pop_batch in 1usize..64,
        seed in any::<u64>(),
        pause_every in 0u64..8,
        wait in prop_oneof![Just("spin"), Just("yield:50"), Just("block:50:1"), Just("block:0:0")],
    ) {
        let names = Names::new("prop", 1);
        let q = &names.0[0];
        create::<Bytes64>(q, 1 << cap_log2).unwrap();
        let count = "20000";
        let common = |batch: usize, seed: u64| {
            args(&["--wait", wait, "--batch", &batch.to_string(), "--seed", &seed.to_string(),
                   "--pause-every", &pause_every.to_string()])
        };
        let mut c_args = args(&["consume", q, "--count", count]);
        c_args.extend(common(pop_batch, seed ^ 1));
        let consumer = spawn(&c_args);
        let mut p_args = args(&["produce", q, "--count", count]);
        p_args.extend(common(push_batch, seed));
        let producer = spawn(&p_args);
        let p = json(&finish(producer, Duration::from_secs(60)));
        let c = json(&finish(consumer, Duration::from_secs(60)));
        prop_assert_eq!(&p["published"], &serde_json::json!(20000));
        prop_assert_eq!(&c["received"], &serde_json::json!(20000));
        prop_assert_eq!(&c["first"], &serde_json::json!(0));
        prop_assert_eq!(&c["last"], &serde_json::json!(19999));
    }
}

/// kill -9 of the relay (consumer of `in`, producer of `out`) and of the
/// producer at random points; after restarts, `out` holds every message
/// exactly once, in order, intact.
#[test]
fn kill_9_mid_stream_then_restart_delivers_every_message_exactly_once() {
    const N: u64 = 40_000;
    let names = Names::new("kill", 2);
    let (input, output) = (&names.0[0], &names.0[1]);
    create::<Bytes64>(input, 256).unwrap();
    create::<Bytes64>(output, 1 << 16).unwrap();
    let n = N.to_string();
    let producer_args = |resume: bool| {
        let mut a = args(&[
            "produce",
            input,
            "--count",
            &n,
            "--batch",
            "32",
            "--sleep-us",
            "20",
        ]);
        if resume {
            a.push("--resume".into());
        }
        a
    };
    let relay_args = args(&[
        "relay",
        input,
        output,
        "--count",
        &n,
        "--batch",
        "8",
        "--sleep-us",
        "40",
        "--seed",
        "7",
    ]);
    let mut producer = spawn(&producer_args(false));
    let mut relay = spawn(&relay_args);
    // Deterministic but irregular kill points.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut relay_kills = 0;
    let mut producer_kills = 0;
    let mut relay_outputs = Vec::new();
    for round in 0..10 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(20 + rng % 60));
        if relay.try_wait().unwrap().is_some() {
            break;
        }
        if round % 3 == 2 && producer.try_wait().unwrap().is_none() {
            kill9(producer);
            producer_kills += 1;
            producer = spawn(&producer_args(true));
        } else {
            relay_outputs.push(kill9(relay));
            relay_kills += 1;
            relay = spawn(&relay_args);
        }
    }
    assert!(
        relay_kills >= 3,
        "the relay finished before it was killed enough: make it slower"
    );
    let last_relay = finish(relay, Duration::from_secs(120));
    let r = json(&last_relay);
    relay_outputs.push(last_relay);
    let skipping_restarts = redeliveries(&relay_outputs);
    assert!(
        skipping_restarts > 0,
        "no restart had to skip already-forwarded messages: the test did not exercise exactly-once"
    );
    json(&finish(producer, Duration::from_secs(120)));
    assert_eq!(r["last"], serde_json::json!(N - 1));
    eprintln!(
        "killed relay {relay_kills}x ({skipping_restarts} restarts skipped redelivered input), \
         producer {producer_kills}x; last relay: {r}"
    );

    let st = QueueView::open(output).unwrap().status();
    assert_eq!(
        st.tail, N,
        "output holds {} messages, expected {N}",
        st.tail
    );
    let mut out = Consumer::<Bytes64>::attach(output, WaitStrategy::BusySpin).unwrap();
    for expected in 0..N {
        let m = out.try_pop().expect("output ended early");
        assert!(m.is_intact(), "torn message at {expected}");
        assert_eq!(m.seq(), expected);
    }
    assert_eq!(out.try_pop(), None);
}

#[test]
fn drop_newest_across_processes_is_counted_in_the_header() {
    let names = Names::new("drop", 1);
    let q = &names.0[0];
    create::<Bytes64>(q, 8).unwrap();
    let p = json(&finish(
        spawn(&args(&[
            "produce",
            q,
            "--count",
            "100",
            "--full",
            "drop-newest",
        ])),
        Duration::from_secs(30),
    ));
    assert_eq!(p["dropped"], serde_json::json!(92));
    let inspect = Command::new(BIN)
        .args(["inspect", q, "--json"])
        .output()
        .unwrap();
    let v = json(&inspect);
    assert_eq!(v["dropped"], serde_json::json!(92));
    assert_eq!(v["depth"], serde_json::json!(8));
    assert_eq!(v["type"], serde_json::json!("Bytes64"));
    // The producer exited cleanly and gave up its role.
    assert_eq!(v["producer"], serde_json::Value::Null);
}

#[test]
fn a_consumer_of_the_wrong_type_exits_with_a_clear_error() {
    let names = Names::new("wrongtype", 1);
    let q = &names.0[0];
    create::<Bytes64>(q, 8).unwrap();
    let out = Command::new(BIN)
        .args(["consume", q, "--count", "1", "--payload", "bytes256"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Bytes64") && err.contains("Bytes256"), "{err}");
}
