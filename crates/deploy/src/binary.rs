//! The stable copy of the binary deployments run, `~/.headroom/bin/headroom`: units, crontab
//! lines and plists name it, so deleting or moving the file `apply` ran from never stops a
//! service. `apply` and `restart` replace it from the binary they run from (a temp file renamed
//! over it: a proxy still running the old one keeps its inode, and the supervisor's next start
//! runs the new bytes).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use headroom_core::StateDir;

use crate::manifest::SupervisorKind;

/// What the supervisor of `kind` runs: the stable copy, except on Windows (a running `.exe`
/// cannot be replaced there), where it is the binary `apply` ran from.
pub fn supervised_exe(state: &StateDir, kind: SupervisorKind, source: &Path) -> PathBuf {
    match kind {
        SupervisorKind::WindowsService | SupervisorKind::WindowsTask => source.to_path_buf(),
        _ if cfg!(windows) => source.to_path_buf(),
        _ => state.stable_exe(),
    }
}

/// Whether `exe` is the stable copy of `state` (and so `apply`/`restart` keep it current).
pub fn is_stable(state: &StateDir, exe: &Path) -> bool {
    exe == state.stable_exe()
}

/// Same length and same bytes (a missing file is never the same).
pub fn same_bytes(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    if ma.len() != mb.len() {
        return false;
    }
    let (Ok(mut fa), Ok(mut fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let Ok(n) = read_full(&mut fa, &mut ba) else {
            return false;
        };
        let Ok(m) = read_full(&mut fb, &mut bb) else {
            return false;
        };
        if n != m || ba[..n] != bb[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// `stable` needs `source`'s bytes (it is missing or differs).
pub fn needs_update(stable: &Path, source: &Path) -> bool {
    stable != source && !same_bytes(stable, source)
}

/// Make `stable` a copy of `source`: copied to a temp file beside it, made executable, synced,
/// then renamed over it. Returns whether it changed.
pub fn install(stable: &Path, source: &Path) -> anyhow::Result<bool> {
    if !needs_update(stable, source) {
        return Ok(false);
    }
    let dir = stable
        .parent()
        .with_context(|| format!("{} has no parent directory", stable.display()))?;
    crate::fsutil::create_private_dir(dir)?;
    let tmp = dir.join(format!(".headroom.tmp-{}", std::process::id()));
    let copy = || -> anyhow::Result<()> {
        std::fs::copy(source, &tmp)
            .with_context(|| format!("cannot copy {} to {}", source.display(), tmp.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, stable)
            .with_context(|| format!("cannot replace {}", stable.display()))?;
        Ok(())
    };
    let result = copy();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

/// The running process's executable was replaced or deleted since it started (Linux: the
/// kernel marks its link ` (deleted)`).
pub fn replaced_since_start(pid: u32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|p| p.to_string_lossy().ends_with(" (deleted)"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_replaced_only_when_the_bytes_differ_and_never_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let (src, stable) = (dir.path().join("src"), dir.path().join("bin/headroom"));
        std::fs::write(&src, b"v1").unwrap();
        assert!(install(&stable, &src).unwrap());
        assert!(same_bytes(&stable, &src));
        assert!(!install(&stable, &src).unwrap());
        // An open handle of the old copy (a running proxy) keeps the old bytes.
        let mut old = std::fs::File::open(&stable).unwrap();
        std::fs::write(&src, b"v2 longer").unwrap();
        assert!(needs_update(&stable, &src));
        assert!(install(&stable, &src).unwrap());
        let mut text = String::new();
        old.read_to_string(&mut text).unwrap();
        assert_eq!(text, "v1");
        assert_eq!(std::fs::read(&stable).unwrap(), b"v2 longer");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&stable).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        assert!(!same_bytes(&stable, &dir.path().join("missing")));
    }
}
