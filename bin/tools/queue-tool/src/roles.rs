//! Producer, relay and consumer roles over numbered payloads: each message
//! carries its sequence number and a pattern derived from it, so a consumer
//! detects loss, duplication, reordering and torn slots.

use anyhow::{bail, Result};
use std::time::Duration;
use tickline_shm::payload::Bytes;
use tickline_shm::{Consumer, FullPolicy, Message, Producer, Push, WaitOutcome, WaitStrategy};

#[derive(clap::Args, Clone, Debug)]
pub struct RoleArgs {
    /// Wait strategy: spin, yield[:SPINS], block[:SPINS[:YIELDS]].
    #[arg(long, default_value = "block")]
    pub wait: WaitStrategy,
    /// Largest batch; each batch takes a seeded random size in 1..=BATCH.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Seed of batch sizes and pauses.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Yield the CPU after about one batch in PAUSE_EVERY (0: never).
    #[arg(long, default_value_t = 0)]
    pub pause_every: u64,
    /// Sleep this many microseconds after every batch (slows a side down).
    #[arg(long, default_value_t = 0)]
    pub sleep_us: u64,
}

/// xorshift64*: deterministic per seed, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Pacer {
    rng: Rng,
    args: RoleArgs,
}

impl Pacer {
    fn new(args: &RoleArgs) -> Self {
        Pacer {
            rng: Rng::new(args.seed),
            args: args.clone(),
        }
    }
    fn batch(&mut self, left: u64) -> usize {
        (1 + self.rng.below(self.args.batch.max(1) as u64)).min(left) as usize
    }
    fn after_batch(&mut self) {
        if self.args.pause_every > 0 && self.rng.below(self.args.pause_every) == 0 {
            std::thread::yield_now();
        }
        if self.args.sleep_us > 0 {
            std::thread::sleep(Duration::from_micros(self.args.sleep_us));
        }
    }
}

pub fn produce<const N: usize>(
    name: &str,
    count: u64,
    args: &RoleArgs,
    full: FullPolicy,
    resume: bool,
) -> Result<()>
where
    Bytes<N>: Message,
{
    let mut p = Producer::<Bytes<N>>::attach(name, full, args.wait)?;
    let mut seq = match (resume, p.last_published()) {
        (true, Some(last)) => last.seq() + 1,
        _ => 0,
    };
    let first = seq;
    let mut pacer = Pacer::new(args);
    let mut dropped = 0u64;
    while seq < count {
        let want = pacer.batch(count - seq);
        if full == FullPolicy::DropNewest {
            for _ in 0..want {
                if p.push(&Bytes::with_seq(seq)) == Push::Dropped {
                    dropped += 1;
                }
                seq += 1;
            }
        } else {
            let slots = p.write_slots(want);
            if slots.is_empty() {
                p.wait_for_space(1, None);
                continue;
            }
            for slot in slots.iter_mut() {
                *slot = Bytes::with_seq(seq);
                seq += 1;
            }
            let n = slots.len();
            p.publish(n);
        }
        pacer.after_batch();
    }
    println!(
        "{}",
        serde_json::json!({"role": "producer", "first": first, "next": seq,
                           "published": p.published(), "dropped": dropped})
    );
    Ok(())
}

pub fn relay<const N: usize>(from: &str, to: &str, count: u64, args: &RoleArgs) -> Result<()>
where
    Bytes<N>: Message,
{
    let mut input = Consumer::<Bytes<N>>::attach(from, args.wait)?;
    let mut output = Producer::<Bytes<N>>::attach(to, FullPolicy::Block, args.wait)?;
    // Exactly-once: the output's last message says how far a predecessor got.
    let mut last_out = output.last_published().map(|m| m.seq());
    let resumed_at = last_out;
    // Said at start, so a test that kills us still learns where we resumed.
    println!(
        "{}",
        serde_json::json!({"role": "relay-start", "input_committed": input.committed(),
                           "output_last": last_out})
    );
    let mut skipped = 0u64;
    let mut pacer = Pacer::new(args);
    while count > 0 && last_out != Some(count - 1) {
        let want = pacer.batch(u64::MAX);
        let batch = input.read_slots(want);
        if batch.is_empty() {
            input.wait(None);
            continue;
        }
        for m in batch {
            if !m.is_intact() {
                bail!("torn message in {from}: {:?}", &m.words[..2]);
            }
            let expected = last_out.map_or(0, |l| l + 1);
            if m.seq() < expected {
                skipped += 1;
                continue;
            }
            if m.seq() != expected {
                bail!("gap in {from}: expected {expected}, got {}", m.seq());
            }
            if output.push(m) != Push::Sent {
                bail!("output {to} refused a message");
            }
            last_out = Some(m.seq());
        }
        let n = batch.len();
        // Work between publishing and committing is where a kill forces the
        // successor to skip what it finds already forwarded.
        pacer.after_batch();
        input.commit(n);
    }
    println!(
        "{}",
        serde_json::json!({"role": "relay", "resumed_after": resumed_at,
                           "skipped": skipped, "last": last_out})
    );
    Ok(())
}

pub fn consume<const N: usize>(name: &str, count: u64, args: &RoleArgs) -> Result<()>
where
    Bytes<N>: Message,
{
    let mut c = Consumer::<Bytes<N>>::attach(name, args.wait)?;
    let mut pacer = Pacer::new(args);
    let mut received = 0u64;
    let mut first = None;
    let mut last: Option<u64> = None;
    while received < count {
        let want = pacer.batch(count - received);
        let batch = c.read_slots(want);
        if batch.is_empty() {
            if c.wait(Some(Duration::from_secs(30))) == WaitOutcome::TimedOut {
                bail!("no message for 30 s after {received} of {count}");
            }
            continue;
        }
        for m in batch {
            if !m.is_intact() {
                bail!("torn message: {:?}", &m.words[..2]);
            }
            if let Some(l) = last {
                if m.seq() != l + 1 {
                    bail!("expected message {} after {l}, got {}", l + 1, m.seq());
                }
            }
            first.get_or_insert(m.seq());
            last = Some(m.seq());
        }
        let n = batch.len();
        c.commit(n);
        received += n as u64;
        pacer.after_batch();
    }
    println!(
        "{}",
        serde_json::json!({"role": "consumer", "received": received, "first": first, "last": last})
    );
    Ok(())
}
