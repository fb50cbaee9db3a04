//! What a pipeline is made of, read from a TOML file: queues, stages (binary,
//! arguments, CPU, wait strategy, heartbeat limit) and the restart policy;
//! the names of its shared-memory segments; and the restart rule.
#![forbid(unsafe_code)]

mod config;
mod restart;

pub use config::{
    ConfigError, MetricsConfig, PipelineConfig, QueueConfig, QueueType, RestartConfig, StageConfig,
};
pub use restart::{RestartDecision, RestartTracker};
