//! The few OS calls that differ between Unix and Windows, so the rest of the crate is portable.

use std::process::Command;

/// The real user id (0 where there is none, on Windows).
pub fn uid() -> u32 {
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() }
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Running with administrator rights (effective uid 0 on Unix).
pub fn is_root() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Detach a child from our terminal's signals (its own process group / no console).
pub fn detach(cmd: &mut Command) -> &mut Command {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0)
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        cmd.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP)
    }
}

/// Ask a process to stop (SIGTERM; on Windows there is no polite signal for a detached process).
pub fn request_stop(pid: u32) {
    #[cfg(unix)]
    if let Ok(raw) = i32::try_from(pid) {
        // SAFETY: kill(2) on a PID the caller checked is ours; no memory is involved.
        unsafe { libc::kill(raw, libc::SIGTERM) };
    }
    #[cfg(not(unix))]
    force_stop(pid);
}

/// Stop a process now (SIGKILL / TerminateProcess).
pub fn force_stop(pid: u32) {
    #[cfg(unix)]
    if let Ok(raw) = i32::try_from(pid) {
        // SAFETY: as in `request_stop`.
        unsafe { libc::kill(raw, libc::SIGKILL) };
    }
    #[cfg(not(unix))]
    {
        let _ = Command::new("taskkill")
            .args(["/PID", &pid.to_string(), "/T", "/F"])
            .output();
    }
}

/// Replace this process with `cmd` (Unix `exec`: same PID, so the supervisor watches the proxy
/// itself). Elsewhere run it as a child and exit with its status.
pub fn exec(cmd: &mut Command) -> std::io::Error {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.exec()
    }
    #[cfg(not(unix))]
    {
        match cmd.status() {
            Ok(status) => std::process::exit(status.code().unwrap_or(1)),
            Err(e) => e,
        }
    }
}
