//! `slowest`: the flight recorder's slowest decisions with their causes, as
//! the supervisor logs them (`run_dir/slowest.jsonl`, a line per interval):
//! the run's slowest so far, each new interval's with `--follow`, or a
//! finished run's (`logs DIR --slowest`).

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use tickline_causes::{table, IntervalRecord, SlowRecord};

/// The log of a run directory.
pub fn log_path(run_dir: &Path) -> std::path::PathBuf {
    run_dir.join("slowest.jsonl")
}

/// Reads whole lines from `offset` on; a line that does not parse is
/// reported (with its place) and skipped. Returns the intervals and the
/// offset after the last whole line.
fn read_from(path: &Path, offset: u64) -> Result<(Vec<IntervalRecord>, u64)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    f.seek(SeekFrom::Start(offset))?;
    let mut r = BufReader::new(f);
    let (mut out, mut at, mut line) = (Vec::new(), offset, String::new());
    loop {
        line.clear();
        let n = r.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            break; // the end, or a line still being written
        }
        match serde_json::from_str::<IntervalRecord>(&line) {
            Ok(rec) => out.push(rec),
            Err(e) => eprintln!("{}: bad line at byte {at}: {e}", path.display()),
        }
        at += n as u64;
    }
    Ok((out, at))
}

/// The `n` slowest decisions of `intervals`, slowest first.
fn slowest_of(intervals: &[IntervalRecord], n: usize) -> Vec<&SlowRecord> {
    let mut all: Vec<&SlowRecord> = intervals.iter().flat_map(|i| &i.slowest).collect();
    all.sort_by_key(|r| std::cmp::Reverse(r.total_ns));
    all.truncate(n);
    all
}

fn print(rows: &[&SlowRecord], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(rows)?);
        return Ok(());
    }
    println!("{}", table::header());
    for r in rows {
        println!("{}", table::row(r));
    }
    Ok(())
}

/// Prints the `n` slowest decisions logged in `run_dir` so far.
pub fn once(run_dir: &Path, n: usize, json: bool) -> Result<()> {
    let (intervals, _) = read_from(&log_path(run_dir), 0)?;
    if !json {
        let decisions: u64 = intervals.iter().map(|i| i.decisions).sum();
        println!(
            "the {} slowest of {decisions} decisions in {} intervals (* the slowest hop)",
            n.min(intervals.iter().map(|i| i.slowest.len()).sum()),
            intervals.len()
        );
    }
    print(&slowest_of(&intervals, n), json)
}

/// Prints each interval's `n` slowest as the supervisor logs it, until
/// `running()` says the pipeline is gone.
pub fn follow(run_dir: &Path, n: usize, json: bool, running: impl Fn() -> bool) -> Result<()> {
    let path = log_path(run_dir);
    let mut offset = 0;
    loop {
        if path.exists() {
            let (intervals, at) = read_from(&path, offset)?;
            offset = at;
            for i in &intervals {
                if !json {
                    println!(
                        "{} interval {}: {} decisions, the slowest {}",
                        i.stage,
                        i.interval,
                        i.decisions,
                        n.min(i.slowest.len())
                    );
                }
                print(&slowest_of(std::slice::from_ref(i), n), json)?;
            }
        }
        if !running() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
