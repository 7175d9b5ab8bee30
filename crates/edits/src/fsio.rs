//! File-system primitives of the executor: atomic replace, symlink-following, directory
//! bookkeeping and the edit lock.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
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
            Ok((Some(bytes), Some(mode_of(&m))))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((None, None)),
        Err(e) => Err(EditError::io(logical, "reading", e)),
    }
}

#[cfg(unix)]
fn mode_of(m: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(m: &fs::Metadata) -> u32 {
    if m.permissions().readonly() {
        0o444
    } else {
        0o644
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

/// Replace `path` atomically: a temp file in the same directory, written, fsynced, given `mode`,
/// renamed over the target, then the directory fsynced.
pub fn write_atomic(logical: &str, path: &Path, bytes: &[u8], mode: u32) -> Result<(), EditError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.headroom-{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        set_mode(&f, mode)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(EditError::io(logical, "writing", e));
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(f: &File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_f: &File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// The edit lock: one headroom process edits users' files at a time. Released on drop.
pub fn lock(dir: &Path) -> Result<File, EditError> {
    let name = dir.join("edits.lock");
    fs::create_dir_all(dir)
        .map_err(|e| EditError::io(name.display().to_string(), "creating the lock directory", e))?;
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(|e| EditError::io(name.display().to_string(), "opening the lock", e))?;
    f.lock()
        .map_err(|e| EditError::io(name.display().to_string(), "locking", e))?;
    Ok(f)
}
