//! The command-line arguments every stage shares, flattened into each stage's
//! own `clap` parser, and the endpoint syntax of `--in` and `--out`.

use std::path::PathBuf;
use std::str::FromStr;

use tickline_shm::WaitStrategy;

use crate::StageError;

/// Where a stage reads from or writes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Nowhere: output is discarded (for profiling a stage alone).
    Null,
    /// A shared-memory queue, by segment name.
    Queue(String),
    /// A CSV file: a recording to replay, or to write.
    Csv(PathBuf),
    /// A market-data source run in-process (see `tickline_feed::SPEC_HELP`).
    Source(String),
    /// A raw recording: the output messages' bytes, as the queue carries them.
    File(PathBuf),
}

/// The kinds of [`Endpoint`], for saying which ones a stage takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointKind {
    /// `null`
    Null,
    /// `queue:NAME`
    Queue,
    /// `csv:FILE`
    Csv,
    /// `source:SPEC`
    Source,
    /// `file:PATH`
    File,
}

impl EndpointKind {
    fn syntax(self) -> &'static str {
        match self {
            EndpointKind::Null => "null",
            EndpointKind::Queue => "queue:NAME",
            EndpointKind::Csv => "csv:FILE",
            EndpointKind::Source => "source:SPEC",
            EndpointKind::File => "file:PATH",
        }
    }
}

impl Endpoint {
    /// Its kind.
    pub fn kind(&self) -> EndpointKind {
        match self {
            Endpoint::Null => EndpointKind::Null,
            Endpoint::Queue(_) => EndpointKind::Queue,
            Endpoint::Csv(_) => EndpointKind::Csv,
            Endpoint::Source(_) => EndpointKind::Source,
            Endpoint::File(_) => EndpointKind::File,
        }
    }

    /// Itself if its kind is one of `allowed`, else an error naming `flag`.
    pub fn expect(
        &self,
        flag: &'static str,
        allowed: &[EndpointKind],
    ) -> Result<&Self, StageError> {
        if allowed.contains(&self.kind()) {
            return Ok(self);
        }
        Err(StageError::Endpoint {
            flag,
            given: self.to_string(),
            expected: allowed
                .iter()
                .map(|k| k.syntax())
                .collect::<Vec<_>>()
                .join(" or "),
        })
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let empty = |what: &str| format!("{s:?}: empty {what}");
        match s.split_once(':') {
            None if s == "null" => Ok(Endpoint::Null),
            Some(("queue", "")) => Err(empty("queue name")),
            Some(("queue", name)) => Ok(Endpoint::Queue(name.to_owned())),
            Some(("csv", "")) => Err(empty("file name")),
            Some(("csv", path)) => Ok(Endpoint::Csv(PathBuf::from(path))),
            Some(("source", "")) => Err(empty("source spec")),
            Some(("source", spec)) => Ok(Endpoint::Source(spec.to_owned())),
            Some(("file", "")) => Err(empty("file name")),
            Some(("file", path)) => Ok(Endpoint::File(PathBuf::from(path))),
            _ => Err(format!(
                "{s:?}: expected null, queue:NAME, csv:FILE, file:PATH or source:SPEC"
            )),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Null => write!(f, "null"),
            Endpoint::Queue(n) => write!(f, "queue:{n}"),
            Endpoint::Csv(p) => write!(f, "csv:{}", p.display()),
            Endpoint::Source(s) => write!(f, "source:{s}"),
            Endpoint::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// What a stage does right after it has published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Handoff {
    /// Carry on.
    #[default]
    None,
    /// `sched_yield`, so a consumer on the same CPU runs now instead of when
    /// this stage next waits.
    Yield,
}

impl Handoff {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Handoff::None => "none",
            Handoff::Yield => "yield",
        }
    }
}

/// Arguments of every stage: the contract between the supervisor, which
/// builds this value and writes it with [`StageArgs::to_args`], and the
/// stage, whose parser reads the same value back.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct StageArgs {
    /// Input: queue:NAME, or what the stage takes besides (csv:FILE, source:SPEC).
    #[arg(long = "in")]
    pub input: Option<Endpoint>,
    /// Output: null, queue:NAME, or csv:FILE where the stage records.
    #[arg(long, default_value = "null")]
    pub out: Endpoint,
    /// More outputs, each a queue:NAME that gets every message `--out`
    /// gets (fan-out: e.g. the feed to the venue simulator as well).
    #[arg(long)]
    pub also_out: Vec<Endpoint>,
    /// Wait strategy on the queues: `spin`, `yield[:SPINS]`,
    /// `block[:SPINS[:YIELDS]]` or `nap:MICROS`.
    #[arg(long, default_value = "block")]
    pub wait: WaitStrategy,
    /// Publish latency histograms and counters to this stats board.
    #[arg(long)]
    pub stats: Option<String>,
    /// Stop after this many new input messages (redelivered ones a
    /// predecessor already handled do not count).
    #[arg(long)]
    pub limit: Option<u64>,
    /// After publishing: `yield` the CPU at once (the supervisor sets it when
    /// the consumer shares this stage's CPU), or `none`.
    #[arg(long, default_value = "none")]
    pub handoff: Handoff,
    /// Lock all the process's memory (mlockall): no page of the hot path is
    /// paged out or faulted in late.
    #[arg(long)]
    pub mlock: bool,
    /// Run the stage's thread in the `SCHED_IDLE` class: only when no other
    /// task wants its CPU, so a process beside the decision path (the venue
    /// simulator) never delays a stage on it.
    #[arg(long)]
    pub sched_idle: bool,
}

impl StageArgs {
    /// Arguments with output `out` and every other field at its default.
    pub fn new(out: Endpoint) -> Self {
        StageArgs {
            input: None,
            out,
            also_out: Vec::new(),
            wait: "block".parse().expect("the default wait strategy parses"),
            stats: None,
            limit: None,
            handoff: Handoff::None,
            mlock: false,
            sched_idle: false,
        }
    }

    /// The command line that parses back to this value.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        let mut put = |flag: &str, v: String| {
            a.push(flag.to_owned());
            a.push(v);
        };
        if let Some(i) = &self.input {
            put("--in", i.to_string());
        }
        put("--out", self.out.to_string());
        for o in &self.also_out {
            put("--also-out", o.to_string());
        }
        if let Some(s) = &self.stats {
            put("--stats", s.clone());
        }
        put("--wait", self.wait.to_string());
        if let Some(l) = self.limit {
            put("--limit", l.to_string());
        }
        if self.handoff != Handoff::None {
            put("--handoff", self.handoff.name().to_owned());
        }
        if self.mlock {
            a.push("--mlock".to_owned());
        }
        if self.sched_idle {
            a.push("--sched-idle".to_owned());
        }
        a
    }

    /// `--in`, which the stage requires, checked against what it takes.
    pub fn input(&self, allowed: &[EndpointKind]) -> Result<&Endpoint, StageError> {
        self.input
            .as_ref()
            .ok_or(StageError::Missing("--in"))?
            .expect("--in", allowed)
    }

    /// `--out`, checked against what the stage takes.
    pub fn output(&self, allowed: &[EndpointKind]) -> Result<&Endpoint, StageError> {
        self.out.expect("--out", allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_print_back() {
        for s in [
            "null",
            "queue:/a-b",
            "csv:/tmp/x.csv",
            "source:itch:/d/f.ITCH_50",
        ] {
            let e: Endpoint = s.parse().unwrap();
            assert_eq!(e.to_string(), s);
        }
        assert_eq!(
            "source:synthetic:1:2".parse::<Endpoint>().unwrap(),
            Endpoint::Source("synthetic:1:2".into())
        );
    }

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        stage: StageArgs,
    }

    fn parse(args: &[String]) -> StageArgs {
        use clap::Parser;
        let argv = std::iter::once("stage".to_owned()).chain(args.iter().cloned());
        Cli::try_parse_from(argv).unwrap().stage
    }

    #[test]
    fn the_written_arguments_parse_back_to_the_same_value() {
        let mut a = StageArgs::new(Endpoint::Null);
        assert_eq!(parse(&a.to_args()), a);
        assert_eq!(parse(&[]), a, "new() is the parser's defaults");
        a.input = Some(Endpoint::Queue("/tickline-x-q-book".into()));
        a.out = Endpoint::Csv("/tmp/out.csv".into());
        a.stats = Some("/tickline-x-stats-feature".into());
        a.wait = "yield:0".parse().unwrap();
        a.limit = Some(7);
        a.handoff = Handoff::Yield;
        a.mlock = true;
        a.sched_idle = true;
        a.also_out = vec![Endpoint::Queue("/a".into()), Endpoint::Queue("/b".into())];
        assert_eq!(parse(&a.to_args()), a);
        a.input = Some(Endpoint::Source("synthetic:1:2".into()));
        a.wait = "block:10:2".parse().unwrap();
        assert_eq!(parse(&a.to_args()), a);
    }

    #[test]
    fn bad_endpoints_say_why() {
        for (s, want) in [
            ("queue:", "empty queue name"),
            ("csv:", "empty file name"),
            ("tcp:1.2.3.4", "expected null, queue:NAME"),
            ("nul", "expected null"),
        ] {
            let e = s.parse::<Endpoint>().unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
        let e = Endpoint::Csv("x".into())
            .expect("--out", &[EndpointKind::Null, EndpointKind::Queue])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "bad --out \"csv:x\": this stage takes null or queue:NAME"
        );
    }
}
