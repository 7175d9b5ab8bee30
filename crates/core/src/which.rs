//! PATH lookup: the one place that decides what "an executable on PATH" means.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// `name` found in the directories of `path_env` (a PATH value): the first regular file there
/// that is executable (on Windows also `name.exe`). Names containing a separator are refused.
pub fn find_in(name: &str, path_env: &OsStr) -> Option<PathBuf> {
    if name.is_empty() || name.contains('/') || name.contains('\\') {
        return None;
    }
    std::env::split_paths(path_env).find_map(|dir| {
        let exe = dir.join(name);
        if is_executable(&exe) {
            return Some(exe);
        }
        let exe = exe.with_extension("exe");
        (cfg!(windows) && is_executable(&exe)).then_some(exe)
    })
}

/// [`find_in`] this process's PATH.
pub fn find(name: &str) -> Option<PathBuf> {
    find_in(name, &std::env::var_os("PATH")?)
}

/// `name` is an executable on this process's PATH.
pub fn on_path(name: &str) -> bool {
    find(name).is_some()
}

#[cfg(unix)]
pub fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
pub fn is_executable(p: &Path) -> bool {
    p.is_file()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn finds_executables_only_and_refuses_paths() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let plain = a.path().join("tool");
        std::fs::write(&plain, "").unwrap();
        let exe = b.path().join("tool");
        std::fs::write(&exe, "").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(a.path().join("dir")).unwrap();
        let path = std::env::join_paths([a.path(), b.path()]).unwrap();
        assert_eq!(find_in("tool", &path), Some(exe));
        assert_eq!(find_in("dir", &path), None);
        assert_eq!(find_in("../tool", &path), None);
        assert_eq!(find_in("", &path), None);
    }
}
