//! The pipeline's TOML config: its shape, its validation, and the names and
//! arguments derived from it (segments, stage command lines).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tickline_shm::WaitStrategy;
use tickline_stage::{Endpoint, Handoff, StageArgs};

/// A config that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading config {path}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file's contents are wrong (the source says how).
    #[error("config {path}")]
    In {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: Box<ConfigError>,
    },
    /// Not TOML, or not the shape of a pipeline (unknown keys and values included).
    #[error(transparent)]
    Syntax(#[from] toml::de::Error),
    /// Well-formed, but not a pipeline that can run.
    #[error("{0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, ConfigError>;

macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(ConfigError::Invalid(format!($($arg)*)))
    };
}

/// A pipeline: its queues, its stages and how they are restarted.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Segment names start with `/tickline-<name>-`.
    pub name: String,
    /// Journals, stage logs and interval logs go here (relative to the
    /// current directory); `{run_dir}` in stage arguments expands to it.
    pub run_dir: PathBuf,
    /// How often the supervisor checks children and heartbeats.
    #[serde(default = "d_health_ms")]
    pub health_check_ms: u64,
    /// Interval of the HdrHistogram logs.
    #[serde(default = "d_log_ms")]
    pub log_interval_ms: u64,
    /// How long a drain may take before the stage is told to stop anyway.
    #[serde(default = "d_drain_s")]
    pub drain_timeout_s: u64,
    /// How long a started stage may take to warm up and say it is ready;
    /// past it, it is killed and restarted like a hung one.
    #[serde(default = "d_ready_s")]
    pub ready_timeout_s: u64,
    /// Restart backoff and intensity.
    #[serde(default)]
    pub restart: RestartConfig,
    /// The queues between stages (`[[queue]]`).
    #[serde(rename = "queue")]
    pub queues: Vec<QueueConfig>,
    /// The stages (`[[stage]]`), each one process.
    #[serde(rename = "stage")]
    pub stages: Vec<StageConfig>,
    /// A Prometheus endpoint (`[metrics]`), if wanted.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
}

/// Where the supervisor serves `/metrics`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` to listen on, e.g. `127.0.0.1:9464` (port 0: any free one).
    pub listen: String,
}

fn d_health_ms() -> u64 {
    50
}
fn d_log_ms() -> u64 {
    1000
}
fn d_ready_s() -> u64 {
    30
}
fn d_drain_s() -> u64 {
    60
}

/// How crashed stages are restarted.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartConfig {
    /// First restart delay; doubles per restart within the window.
    pub backoff_initial_ms: u64,
    /// Longest restart delay.
    pub backoff_max_ms: u64,
    /// More than `max_restarts` restarts of one stage within `within_s`
    /// seconds stops the pipeline.
    pub max_restarts: u32,
    /// The restart intensity window, seconds.
    pub within_s: u64,
}

impl Default for RestartConfig {
    fn default() -> Self {
        RestartConfig {
            backoff_initial_ms: 100,
            backoff_max_ms: 5_000,
            max_restarts: 5,
            within_s: 30,
        }
    }
}

/// The message type a queue carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum QueueType {
    /// Feed-handler to feature.
    BookEvent,
    /// Feature to inference.
    FeatureVector,
    /// Inference to router.
    Prediction,
    /// Router to a gateway process (the venue simulator).
    Order,
    /// Venue simulator back to the router.
    ExecReport,
}

/// A queue between two stages.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Its name, unique in the pipeline.
    pub name: String,
    /// Its message type.
    #[serde(rename = "type")]
    pub kind: QueueType,
    /// Slots: a power of two.
    pub capacity: usize,
}

/// A stage: one process.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Its name, unique in the pipeline.
    pub name: String,
    /// A binary beside the supervisor's own, or a path with a `/`.
    pub binary: String,
    /// Its own arguments, after those the supervisor gives. `{run_dir}`,
    /// `{state}` and `{queue:NAME}` (a `[[queue]]`'s segment: a stage's
    /// second input or output) are expanded.
    #[serde(default)]
    pub args: Vec<String>,
    /// Queue names (from `[[queue]]`); given as `--in queue:SEG` / `--out queue:SEG`.
    pub input: Option<String>,
    /// Output queue name.
    pub output: Option<String>,
    /// Pin the process to this CPU.
    pub cpu: Option<usize>,
    /// `--wait` for the stage: `spin`, `yield[:N]` or `block[:S:Y]`.
    #[serde(default, deserialize_with = "wait_strategy")]
    pub wait: Option<WaitStrategy>,
    /// Input queue non-empty and no heartbeat for this long: hung.
    #[serde(default = "d_hb_ms")]
    pub heartbeat_timeout_ms: u64,
}

fn d_hb_ms() -> u64 {
    500
}

/// A wait strategy in its command-line syntax, checked as the config is read.
fn wait_strategy<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<WaitStrategy>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

impl PipelineConfig {
    /// Per stage: the stage whose output queue is its input, if any.
    pub fn upstreams(&self) -> Vec<Option<usize>> {
        self.stages
            .iter()
            .map(|s| {
                let input = s.input.as_ref()?;
                self.stages
                    .iter()
                    .position(|t| t.output.as_ref() == Some(input))
            })
            .collect()
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|e| ConfigError::In {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// Parses and validates a config's text.
    pub fn parse(text: &str) -> Result<Self> {
        let c: PipelineConfig = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<()> {
        let ok_name = |s: &str| {
            !s.is_empty()
                && s.len() <= 40
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !ok_name(&self.name) {
            bail!("name {:?}: 1..40 of [A-Za-z0-9_-]", self.name);
        }
        if let Some(m) = &self.metrics {
            if m.listen.parse::<std::net::SocketAddr>().is_err() {
                bail!(
                    "[metrics] listen {:?}: expected host:port, e.g. 127.0.0.1:9464",
                    m.listen
                );
            }
        }
        if self.stages.is_empty() || self.stages.len() > 8 {
            bail!("1 to 8 stages, not {}", self.stages.len());
        }
        for q in &self.queues {
            if !ok_name(&q.name) {
                bail!("queue name {:?}: 1..40 of [A-Za-z0-9_-]", q.name);
            }
            if !q.capacity.is_power_of_two() || q.capacity < 2 {
                bail!(
                    "queue {}: capacity {} is not a power of two >= 2",
                    q.name,
                    q.capacity
                );
            }
        }
        let mut seen_in = Vec::new();
        let mut seen_out = Vec::new();
        for s in &self.stages {
            if !ok_name(&s.name) {
                bail!("stage name {:?}: 1..40 of [A-Za-z0-9_-]", s.name);
            }
            if self.stages.iter().filter(|t| t.name == s.name).count() > 1 {
                bail!("two stages named {}", s.name);
            }
            for (q, seen, role) in [
                (&s.input, &mut seen_in, "input"),
                (&s.output, &mut seen_out, "output"),
            ] {
                if let Some(q) = q {
                    if self.queue(q).is_none() {
                        bail!("stage {}: {role} queue {q:?} is not a [[queue]]", s.name);
                    }
                    if seen.contains(q) {
                        bail!("queue {q} is the {role} of two stages (queues are single-producer, single-consumer)");
                    }
                    seen.push(q.clone());
                }
            }
            for name in s.args.iter().flat_map(|a| queue_refs(a)) {
                if self.queue(name).is_none() {
                    bail!("stage {}: {{queue:{name}}} names no [[queue]]", s.name);
                }
            }
            if s.heartbeat_timeout_ms == 0 {
                bail!("stage {}: heartbeat_timeout_ms must be positive", s.name);
            }
        }
        let r = &self.restart;
        if r.backoff_initial_ms == 0 || r.backoff_max_ms < r.backoff_initial_ms || r.within_s == 0 {
            bail!("restart: need 0 < backoff_initial_ms <= backoff_max_ms and within_s > 0");
        }
        Ok(())
    }

    /// A queue by name.
    pub fn queue(&self, name: &str) -> Option<&QueueConfig> {
        self.queues.iter().find(|q| q.name == name)
    }

    /// Shared-memory name of a queue.
    pub fn queue_segment(&self, queue: &str) -> String {
        format!("/tickline-{}-q-{queue}", self.name)
    }

    /// Shared-memory name of a stage's stats board.
    pub fn stats_segment(&self, stage: &str) -> String {
        format!("/tickline-{}-stats-{stage}", self.name)
    }

    /// Shared-memory name of the supervisor's status board.
    pub fn status_segment(&self) -> String {
        format!("/tickline-{}-status", self.name)
    }

    /// Prefix of the segments in which a stage keeps state across restarts
    /// (`{state}` in its arguments); each is named `<prefix>-<key>`.
    pub fn state_prefix(&self, stage: &str) -> String {
        format!("/tickline-{}-state-{stage}", self.name)
    }

    /// Every segment the pipeline owns, but the stages' state segments
    /// (their names are known only once written: see [`Self::state_prefix`]).
    pub fn segments(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .queues
            .iter()
            .map(|q| self.queue_segment(&q.name))
            .collect();
        v.extend(self.stages.iter().map(|s| self.stats_segment(&s.name)));
        v.push(self.status_segment());
        v
    }

    /// True if the stage reading `s`'s output is pinned to `s`'s CPU: then
    /// `s` yields that CPU to it as soon as it has published.
    pub fn consumer_shares_cpu(&self, s: &StageConfig) -> bool {
        let Some(out) = &s.output else { return false };
        let consumer = self.stages.iter().find(|t| t.input.as_ref() == Some(out));
        s.cpu.is_some() && consumer.is_some_and(|c| c.cpu == s.cpu)
    }

    /// The runtime's arguments of a stage: its queues, stats board, wait
    /// strategy and hand-off, as the stage's `StageArgs` parser will read them.
    pub fn stage_contract(&self, s: &StageConfig) -> StageArgs {
        let queue = |q: &String| Endpoint::Queue(self.queue_segment(q));
        let mut a = StageArgs::new(s.output.as_ref().map_or(Endpoint::Null, queue));
        a.input = s.input.as_ref().map(queue);
        a.stats = Some(self.stats_segment(&s.name));
        if let Some(w) = s.wait {
            a.wait = w;
        }
        if self.consumer_shares_cpu(s) {
            a.handoff = Handoff::Yield;
        }
        a
    }

    /// The full argument list of a stage: [`Self::stage_contract`], then
    /// its own arguments with `{run_dir}` and `{state}` expanded.
    pub fn stage_args(&self, s: &StageConfig) -> Vec<String> {
        let mut a = self.stage_contract(s).to_args();
        let run_dir = self.run_dir.display().to_string();
        let state = self.state_prefix(&s.name);
        a.extend(s.args.iter().map(|x| {
            let mut x = x.replace("{run_dir}", &run_dir).replace("{state}", &state);
            for q in queue_refs(&x.clone()) {
                x = x.replace(&format!("{{queue:{q}}}"), &self.queue_segment(q));
            }
            x
        }));
        a
    }
}

/// The queue names in an argument's `{queue:NAME}`s.
fn queue_refs(arg: &str) -> impl Iterator<Item = &str> {
    arg.split("{queue:")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
name = "t"
run_dir = "runs/t"
[[queue]]
name = "book"
type = "BookEvent"
capacity = 1024
[[stage]]
name = "feed"
binary = "tickline-feed-handler"
args = ["--source", "synthetic", "--x", "{run_dir}/a", "--also-out", "queue:{queue:book}"]
output = "book"
wait = "block"
[[stage]]
name = "feature"
binary = "tickline-feature"
input = "book"
"#;

    #[test]
    fn parses_and_builds_arguments() {
        let c = PipelineConfig::parse(OK).unwrap();
        assert_eq!(c.restart.max_restarts, 5);
        assert_eq!(
            c.stage_args(&c.stages[0]),
            [
                "--out",
                "queue:/tickline-t-q-book",
                "--stats",
                "/tickline-t-stats-feed",
                "--wait",
                "block:2000:8",
                "--source",
                "synthetic",
                "--x",
                "runs/t/a",
                "--also-out",
                "queue:/tickline-t-q-book"
            ]
        );
        assert_eq!(c.segments().len(), 4);
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let cases = [
            (
                OK.replace("capacity = 1024", "capacity = 1000"),
                "power of two",
            ),
            (
                OK.replace("input = \"book\"", "input = \"nope\""),
                "not a [[queue]]",
            ),
            (
                OK.replace("name = \"feature\"", "name = \"feed\""),
                "two stages named",
            ),
            (
                OK.replace("type = \"BookEvent\"", "type = \"Bogus\""),
                "unknown variant",
            ),
            (
                OK.replace("wait = \"block\"", "wiat = \"block\""),
                "unknown field",
            ),
            (
                OK.replace("input = \"book\"", "output = \"book\""),
                "output of two stages",
            ),
            (
                OK.replace("{queue:book}", "{queue:nope}"),
                "{queue:nope} names no [[queue]]",
            ),
            (
                OK.replace("wait = \"block\"", "wait = \"sleep\""),
                "line 13, column 8\n   |\n13 | wait = \"sleep\"\n   |        ^^^^^^^\nbad queue parameter: unknown wait strategy \"sleep\"",
            ),
        ];
        for (text, want) in cases {
            let e = PipelineConfig::parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} lacks {want:?}");
        }
    }
}
