//! Files a stage reacts to (a kill file, a model to reload), watched from a
//! helper thread at idle priority: the hot loop reads one atomic flag, and
//! never pays for a `stat` or a model load.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// What about the file counts as news.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// It exists.
    Exists,
    /// Its modification time changed (or it appeared or vanished).
    Modified,
}

/// A helper thread looking at a file every `every`.
pub struct FileWatch {
    news: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn mtime(p: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl FileWatch {
    /// Starts watching `path`; `on_news` runs on the helper thread each time
    /// there is news, before the flag is raised (e.g. to load a model there).
    pub fn spawn(
        path: PathBuf,
        what: Watch,
        every: Duration,
        mut on_news: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Self> {
        let news = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, s) = (news.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("tickline-watch".into())
            .spawn(move || {
                if let Err(e) = tickline_sched::demote_current_thread() {
                    eprintln!(
                        "watcher of {}: stays at normal priority: {e}",
                        path.display()
                    );
                }
                let mut seen = mtime(&path);
                while !s.load(Ordering::Relaxed) {
                    // Parked, so dropping the watch wakes it at once.
                    std::thread::park_timeout(every);
                    if s.load(Ordering::Relaxed) {
                        break;
                    }
                    let now = mtime(&path);
                    let fresh = match what {
                        Watch::Exists => now.is_some(),
                        Watch::Modified => now != seen,
                    };
                    seen = now;
                    if fresh {
                        on_news();
                        n.store(true, Ordering::Release);
                    }
                }
            })?;
        Ok(FileWatch {
            news,
            stop,
            thread: Some(thread),
        })
    }

    /// True once per piece of news since the last call: one atomic swap.
    #[inline]
    pub fn take_news(&self) -> bool {
        self.news.load(Ordering::Relaxed) && self.news.swap(false, Ordering::Acquire)
    }
}

impl Drop for FileWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
