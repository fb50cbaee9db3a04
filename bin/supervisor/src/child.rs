//! One supervised stage: its process, state and restart bookkeeping, and how
//! it is started (pinned, output to the run directory) and stopped.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tickline_pipeline::{PipelineConfig, RestartTracker, StageConfig};
use tickline_schema::telemetry::StageState;
use tickline_shm::monotonic_ns;
use tickline_stage::SUPERVISOR_PID_ENV;

use crate::log::Log;

/// A stage as the supervisor keeps it.
pub struct Supervised {
    pub cfg: StageConfig,
    binary: PathBuf,
    args: Vec<String>,
    pub proc: Option<Child>,
    pub state: StageState,
    pub tracker: RestartTracker,
    pub hangs: u32,
    pub last_exit: i32,
    pub restart_at: Option<Instant>,
    /// monotonic ns of the last spawn: heartbeats older than it are a predecessor's.
    pub spawned_ns: u64,
    /// We asked it to stop (drain done, shutdown or giving up).
    pub term_sent: Option<Instant>,
    pub killed_for_hang: bool,
    /// The running process said it is warmed up (monotonic ns), if it did.
    pub ready_ns: Option<u64>,
    /// First readiness of the run, for the summary (monotonic ns).
    pub first_ready_ns: Option<u64>,
    /// First start of the run (monotonic ns).
    pub first_spawn_ns: Option<u64>,
}

/// Exit code (128 + signal when killed) and how to say it.
pub fn describe(status: ExitStatus) -> (i32, String) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => (c, format!("exited with code {c}")),
        (None, Some(s)) => {
            let name = Signal::try_from(s).map(|s| s.as_str()).unwrap_or("?");
            (128 + s, format!("killed by signal {s} ({name})"))
        }
        _ => (-1, "ended".into()),
    }
}

/// A stage binary: beside our own executable, else as given (PATH or a path).
pub fn resolve_binary(b: &str) -> PathBuf {
    if !b.contains('/') {
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            let beside = dir.join(b);
            if beside.is_file() {
                return beside;
            }
        }
    }
    PathBuf::from(b)
}

impl Supervised {
    /// A stage not started yet, due now.
    pub fn new(cfg: &PipelineConfig, s: &StageConfig) -> Self {
        Supervised {
            binary: resolve_binary(&s.binary),
            args: cfg.stage_args(s),
            cfg: s.clone(),
            proc: None,
            state: StageState::NotStarted,
            tracker: RestartTracker::new(cfg.restart.clone()),
            hangs: 0,
            last_exit: -1,
            restart_at: Some(Instant::now()),
            spawned_ns: 0,
            term_sent: None,
            killed_for_hang: false,
            ready_ns: None,
            first_ready_ns: None,
            first_spawn_ns: None,
        }
    }

    /// The running process's pid.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Child::id)
    }

    /// Ended for good: no process, and done, stopped or failed.
    pub fn ended(&self) -> bool {
        self.proc.is_none()
            && matches!(
                self.state,
                StageState::Done | StageState::Stopped | StageState::Failed
            )
    }

    /// Sends `sig` to the running process, if any.
    pub fn signal(&self, sig: Signal) {
        if let Some(pid) = self.pid() {
            let _ = kill(Pid::from_raw(pid as i32), sig);
        }
    }

    /// SIGTERM once (a stage drains the batch in hand and exits), or marks a
    /// stage that is not running as stopped.
    pub fn terminate(&mut self, log: &mut Log) {
        if let Some(pid) = self.pid() {
            if self.term_sent.is_none() {
                log.say(&format!(
                    "stopping stage {} (pid {pid}) with SIGTERM",
                    self.cfg.name
                ));
                self.signal(Signal::SIGTERM);
                self.term_sent = Some(Instant::now());
            }
        } else if matches!(self.state, StageState::Backoff | StageState::NotStarted) {
            self.state = StageState::Stopped;
        }
    }

    /// Starts the process, its output appended to `run_dir/<stage>.{out,err}`.
    pub fn spawn(&mut self, run_dir: &Path, log: &mut Log) -> Result<()> {
        let open = |ext: &str| -> Result<File> {
            let path = run_dir.join(format!("{}.{ext}", self.cfg.name));
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))
        };
        let child = Command::new(&self.binary)
            .args(&self.args)
            // The stage dies with this process (it asks the kernel to).
            .env(SUPERVISOR_PID_ENV, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(open("out")?)
            .stderr(open("err")?)
            .spawn()
            .with_context(|| {
                format!(
                    "starting stage {} ({})",
                    self.cfg.name,
                    self.binary.display()
                )
            })?;
        if let Some(cpu) = self.cfg.cpu {
            let mut set = nix::sched::CpuSet::new();
            let pinned = set.set(cpu).and_then(|_| {
                nix::sched::sched_setaffinity(Pid::from_raw(child.id() as i32), &set)
            });
            if let Err(e) = pinned {
                log.say(&format!(
                    "stage {}: cannot pin to CPU {cpu}: {e}",
                    self.cfg.name
                ));
            }
        }
        self.spawned_ns = monotonic_ns();
        self.first_spawn_ns.get_or_insert(self.spawned_ns);
        self.ready_ns = None;
        let on_cpu = self
            .cfg
            .cpu
            .map(|c| format!(" on CPU {c}"))
            .unwrap_or_default();
        log.say(&format!(
            "started stage {} (pid {}){on_cpu}",
            self.cfg.name,
            child.id()
        ));
        self.proc = Some(child);
        self.state = StageState::Running;
        Ok(())
    }
}
