//! The `full` tier's store: a cut output's whole (losslessly encoded) text, kept in a private file
//! named by its content hash, which the agent reads back with its own file tool.
//!
//! Named by content, the file and the marker text citing it are the same on every request and
//! after a restart, so the cut is as cache-safe as the lossless encodings.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::lossy;

/// The file holding `whole`, inside `dir`.
pub fn path_for(dir: &Path, whole: &str) -> std::path::PathBuf {
    let hash = crate::cache::hash(whole);
    dir.join(format!("{hash:032x}.txt"))
}

/// Cut `whole` for the prompt and make sure its file exists; `None` (stay lossless) when the cut
/// would not save enough or the file cannot be written, since a marker must never cite a file
/// that is not there.
pub fn cut(dir: &Path, whole: &str) -> Option<String> {
    let path = path_for(dir, whole);
    let locator = path.to_str()?;
    let cut = lossy::cut(whole, locator)?;
    match std::fs::metadata(&path) {
        Ok(m) if m.len() == whole.len() as u64 => keep_fresh(&path, &m),
        _ => {
            headroom_core::fs::create_private_dir(dir).ok()?;
            headroom_core::fs::write_atomic(&path, whole.as_bytes(), 0o600).ok()?;
        }
    }
    Some(cut)
}

/// Files not cited by any request for this long are removed by [`prune`].
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// A file still cited by a live session must outlive [`RETENTION`]: refresh its time, at most daily.
fn keep_fresh(path: &Path, meta: &std::fs::Metadata) {
    let stale = meta
        .modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > Duration::from_secs(24 * 3600));
    if stale && let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

/// Remove retrieve files no request has cited within [`RETENTION`]; returns how many.
pub fn prune(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let ours = name.to_str().is_some_and(|n| {
            n.len() == 36 && n.ends_with(".txt") && n[..32].bytes().all(|b| b.is_ascii_hexdigit())
        });
        let old = e
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > RETENTION);
        if ours && old && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// `text` with every cut marker replaced by the lines it cites from its retrieve file (`text`
/// itself when it has none); `None` when a cited file is gone or does not match.
pub fn restore(text: &str) -> Option<String> {
    lossy::restore_from(text, |path| std::fs::read_to_string(path).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_removes_only_our_stale_files() {
        let dir = std::env::temp_dir().join(format!("headroom-prune-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = SystemTime::now() - RETENTION - Duration::from_secs(60);
        let stale = path_for(&dir, "stale");
        let fresh = path_for(&dir, "fresh");
        let users = dir.join("notes.txt");
        for p in [&stale, &fresh, &users] {
            std::fs::write(p, "x").unwrap();
        }
        for p in [&stale, &users] {
            let f = std::fs::File::options().append(true).open(p).unwrap();
            f.set_modified(old).unwrap();
        }
        assert_eq!(prune(&dir), 1);
        assert!(!stale.exists() && fresh.exists() && users.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
