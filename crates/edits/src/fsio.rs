//! File-system primitives of the executor: atomic replace, symlink-following, directory
//! bookkeeping and the edit lock.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::EditError;

/// A symlinked dotfile is edited at its target, so the link stays a link.
pub fn resolve_target(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).unwrap_or_else(|_| {
            // A dangling link: write where it points.
            fs::read_link(path)
                .map(|t| {
                    if t.is_absolute() {
                        t
                    } else {
                        path.parent().unwrap_or(Path::new("/")).join(t)
                    }
                })
                .unwrap_or_else(|_| path.to_owned())
        }),
        _ => path.to_owned(),
    }
}

/// Current bytes and permission bits; `None` when the file does not exist.
pub fn read_existing(
    logical: &str,
    path: &Path,
) -> Result<(Option<Vec<u8>>, Option<u32>), EditError> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(EditError::Invalid {
            file: logical.to_owned(),
            detail: "is a directory, expected a file".into(),
        }),
        Ok(m) => {
            let bytes = fs::read(path).map_err(|e| EditError::io(logical, "reading", e))?;
            Ok((Some(bytes), Some(headroom_core::fs::mode_of(&m))))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((None, None)),
        Err(e) => Err(EditError::io(logical, "reading", e)),
    }
}

/// Parent directories of `path` that do not exist yet, outermost first.
pub fn missing_parents(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = path.parent();
    while let Some(dir) = cur {
        if dir.as_os_str().is_empty() || dir.exists() {
            break;
        }
        out.push(dir.to_owned());
        cur = dir.parent();
    }
    out.reverse();
    out
}

pub fn create_dirs(logical: &str, dirs: &[PathBuf]) -> Result<(), EditError> {
    for d in dirs {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(EditError::io(logical, "creating its directory", e)),
        }
    }
    Ok(())
}

/// Remove directories headroom created, innermost first, while they are empty.
pub fn remove_empty_dirs(dirs: &[PathBuf]) {
    for d in dirs.iter().rev() {
        if fs::remove_dir(d).is_err() {
            break;
        }
    }
}

/// Replace `path` atomically (headroom-core's one atomic write), naming the file on error.
pub fn write_atomic(logical: &str, path: &Path, bytes: &[u8], mode: u32) -> Result<(), EditError> {
    headroom_core::fs::write_atomic(path, bytes, mode)
        .map_err(|e| EditError::io(logical, "writing", e))
}

/// The edit lock: one headroom process edits users' files at a time. Released on drop.
pub fn lock(path: &Path) -> Result<headroom_core::FileLock, EditError> {
    Ok(headroom_core::FileLock::acquire(path, "edits")?)
}
