//! Advisory file locks that never block silently: a waiter says whom it waits for, and gives up
//! with one line after a bound. The kernel releases a lock when its process dies, so a
//! `kill -9` never leaves a stale one; the holder's PID is written into the file for messages.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

/// How long [`FileLock::acquire`] waits by default (`HEADROOM_LOCK_TIMEOUT` seconds overrides).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Error)]
pub enum LockError {
    #[error(
        "another headroom{} has held the {what} lock for {waited} s; try again once it has finished ({})",
        holder_text(*.holder),
        .path.display()
    )]
    Timeout {
        what: String,
        path: PathBuf,
        holder: Option<u32>,
        waited: u64,
    },
    #[error("cannot lock {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn holder_text(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}

/// An exclusive advisory lock, released on drop.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    fn open(path: &Path) -> Result<File, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            crate::fs::create_private_dir(dir).map_err(io)?;
        }
        let mut o = OpenOptions::new();
        o.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        o.open(path).map_err(io)
    }

    fn held(mut file: File) -> Self {
        // Best effort: the PID is only for the messages other waiters print.
        let _ = file
            .set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| write!(file, "{}", std::process::id()));
        Self { _file: file }
    }

    /// Wait for the lock on `path` (`what` names it in messages: "deployment default"), saying
    /// so on stderr once if another process holds it, for at most [`DEFAULT_WAIT`].
    pub fn acquire(path: &Path, what: &str) -> Result<Self, LockError> {
        let wait = std::env::var("HEADROOM_LOCK_TIMEOUT")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(DEFAULT_WAIT, Duration::from_secs);
        Self::acquire_within(path, what, wait)
    }

    pub fn acquire_within(path: &Path, what: &str, wait: Duration) -> Result<Self, LockError> {
        let file = Self::open(path)?;
        let start = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self::held(file)),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(source)) => {
                    return Err(LockError::Io {
                        path: path.to_path_buf(),
                        source,
                    });
                }
            }
            let holder = holder_pid(path);
            if start.elapsed() >= wait {
                return Err(LockError::Timeout {
                    what: what.to_owned(),
                    path: path.to_path_buf(),
                    holder,
                    waited: wait.as_secs(),
                });
            }
            if !told {
                eprintln!(
                    "headroom: waiting for another headroom{} holding the {what} lock ({})",
                    holder_text(holder),
                    path.display()
                );
                told = true;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Take the lock if it is free; `None` when another process holds it.
    pub fn try_acquire(path: &Path) -> Result<Option<Self>, LockError> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self::held(file))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(LockError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }
}

fn holder_pid(path: &Path) -> Option<u32> {
    let mut s = String::new();
    File::open(path).ok()?.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_lock_reports_a_held_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/l");
        let held = FileLock::try_acquire(&path).unwrap();
        assert!(held.is_some());
        assert!(FileLock::try_acquire(&path).unwrap().is_none());
        drop(held);
        assert!(FileLock::try_acquire(&path).unwrap().is_some());
    }

    #[test]
    fn a_waiter_gives_up_after_its_bound_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let _held = FileLock::acquire(&path, "test").unwrap();
        let e = FileLock::acquire_within(&path, "deployment x", Duration::from_millis(200))
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "another headroom (pid {}) has held the deployment x lock",
                std::process::id()
            )),
            "{text}"
        );
        assert!(matches!(e, LockError::Timeout { .. }));
    }

    #[test]
    fn a_waiter_gets_the_lock_when_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let held = FileLock::acquire(&path, "test").unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        FileLock::acquire_within(&path, "test", Duration::from_secs(10)).unwrap();
        t.join().unwrap();
    }
}
