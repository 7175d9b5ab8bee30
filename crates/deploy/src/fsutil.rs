//! headroom-core's file primitives with the context a deployment's messages need. Parents of
//! headroom's own state files are created private (0700).

use std::path::Path;

use anyhow::Context;
use headroom_core::fs as core_fs;

/// Write `bytes` to `path` atomically with permission bits `mode`, creating parent directories
/// (0700) as needed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    create_private_dir(dir)?;
    core_fs::write_atomic(path, bytes, mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    core_fs::create_private_dir(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Remove a file; absent is fine.
pub fn remove_file_if_exists(path: &Path) -> anyhow::Result<bool> {
    core_fs::remove_file_if_exists(path)
        .with_context(|| format!("cannot remove {}", path.display()))
}

/// Read a file that may be absent.
pub fn read_optional(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    core_fs::read_optional(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn parents_of_state_files_are_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a b/manifest.json");
        write_atomic(&path, b"{}", 0o600).unwrap();
        let mode = std::fs::metadata(dir.path().join("a b"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
    }
}
