//! The user's login environment (`env.login-get`, adapter API 0.3): what a new interactive login
//! shell of the user's `$SHELL` exports, i.e. what a tool started from a new terminal sees.
//!
//! The shell runs at most once per [`crate::HostOptions`] (lazily, on the first `login-get` of
//! any host loaded from them or a clone), as `<shell> -l -i -c '<script>'` in a cleared
//! environment (HOME, USER, LOGNAME, SHELL, PATH, LANG, TERM=dumb), so the answer is what the
//! login scripts export, not what this process inherited. It is bounded: a shell that does not
//! answer in time is killed with its whole session.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::grants::EnvLookup;

/// How long the login shell may take, unless `HEADROOM_LOGIN_SHELL_TIMEOUT` (seconds) says
/// otherwise.
pub const LOGIN_SHELL_TIMEOUT: Duration = Duration::from_secs(5);
pub const TIMEOUT_VAR: &str = "HEADROOM_LOGIN_SHELL_TIMEOUT";
/// The shell used when `$SHELL` is unset or not an absolute path.
const FALLBACK_SHELL: &str = "/bin/sh";
/// For the shell to find `env` when this process has no PATH (login scripts usually set one).
const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Printed on a line of its own before the environment: interactive shells may print banners
/// (a motd, `echo` in an rc file) first, and nothing before it is parsed.
const SENTINEL: &str = "__headroom_login_environment__";
/// Printed as a last NUL-terminated record after the environment: the answer is complete there,
/// even while something the login scripts started in the background keeps the pipe open.
const END: &str = "__headroom_login_environment_end__";
/// More output than any real environment: the rest is not read.
const OUTPUT_LIMIT: u64 = 8 << 20;

/// The login environment of one host, computed on first use and shared by every call.
pub struct LoginEnv {
    shell: String,
    home: PathBuf,
    vars: Vec<(&'static str, String)>,
    timeout: Duration,
    answer: OnceLock<Result<HashMap<String, String>, String>>,
}

impl LoginEnv {
    /// The login environment of the user whose home is `home`: `$SHELL`, `USER`, `LOGNAME`,
    /// `LANG` and the timeout from `env`, `PATH` from `path_env` (what `which` searches).
    pub fn new(home: &Path, env: &EnvLookup, path_env: Option<&str>) -> Self {
        let shell = env("SHELL")
            .filter(|s| Path::new(s).is_absolute())
            .unwrap_or_else(|| FALLBACK_SHELL.to_owned());
        let timeout = env(TIMEOUT_VAR)
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 600.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(LOGIN_SHELL_TIMEOUT);
        let mut vars = vec![
            ("HOME", home.to_string_lossy().into_owned()),
            ("SHELL", shell.clone()),
            (
                "PATH",
                path_env
                    .filter(|p| !p.is_empty())
                    .unwrap_or(FALLBACK_PATH)
                    .to_owned(),
            ),
            ("TERM", "dumb".to_owned()),
        ];
        for name in ["USER", "LOGNAME", "LANG"] {
            if let Some(v) = env(name) {
                vars.push((name, v));
            }
        }
        Self {
            shell,
            home: home.to_path_buf(),
            vars,
            timeout,
            answer: OnceLock::new(),
        }
    }

    /// What a new login shell exports as `name` (`None`: not exported). The error is one line
    /// naming the shell: it did not answer in time, or could not run.
    pub fn get(&self, name: &str) -> Result<Option<String>, String> {
        match self.answer.get_or_init(|| self.run()) {
            Ok(vars) => Ok(vars.get(name).cloned()),
            Err(e) => Err(e.clone()),
        }
    }

    fn run(&self) -> Result<HashMap<String, String>, String> {
        let shell = &self.shell;
        // `env -0` is an external command in every shell (fish included): values may hold
        // newlines, names never hold NUL.
        let script = format!("printf '\\n%s\\n' {SENTINEL}; env -0; printf '%s\\0' {END}");
        if !self.home.is_dir() {
            return Err(format!(
                "{shell} -l -i could not run: the home directory {} is not a directory",
                self.home.display()
            ));
        }
        let mut cmd = Command::new(shell);
        cmd.args(["-l", "-i", "-c", &script])
            .env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // Its own session: its own process group (killed as one when it overstays) and no
        // controlling terminal, so an interactive shell cannot take over the user's terminal.
        #[cfg(unix)]
        unsafe {
            use std::os::unix::process::CommandExt as _;
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{shell} -l -i could not run: {e}"))?;
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // Read on a thread, until the end record (or the pipe closes): the deadline bounds it.
        std::thread::spawn(move || {
            let end = format!("\0{END}\0");
            let mut out = Vec::new();
            let mut chunk = [0u8; 8192];
            let r = loop {
                match stdout.read(&mut chunk) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        let from = out.len().saturating_sub(end.len());
                        out.extend_from_slice(&chunk[..n]);
                        let found = out[from..].windows(end.len()).any(|w| w == end.as_bytes());
                        if found || out.len() as u64 >= OUTPUT_LIMIT {
                            break Ok(());
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            let _ = tx.send(r.map(|_| out));
        });
        let out = rx.recv_timeout(self.timeout.saturating_sub(started.elapsed()));
        // The environment is read, or the time is up: nothing of the session outlives this
        // (what the login scripts started in the background included). The shell is killed
        // before it is reaped, so its process group id cannot have been reused.
        end_session(&mut child);
        let status = child.wait();
        let out = match out {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(format!("{shell} -l -i: reading its output: {e}")),
            Err(_) => {
                return Err(format!(
                    "{shell} -l -i did not answer within {}",
                    seconds(self.timeout)
                ));
            }
        };
        parse(&out).ok_or_else(|| match status {
            Ok(s) => format!("{shell} -l -i printed no environment ({s})"),
            Err(e) => format!("{shell} -l -i printed no environment ({e})"),
        })
    }
}

/// Kill the shell and everything in its session (it leads its own process group: pgid = pid).
fn end_session(child: &mut std::process::Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    #[cfg(not(unix))]
    let _ = child.kill();
}

/// "5 s", "0.5 s".
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{s} s")
    }
}

/// The variables of `env -0` after the sentinel line, up to the end record; `None` without a
/// sentinel. A record not terminated by NUL (cut off) is dropped.
fn parse(out: &[u8]) -> Option<HashMap<String, String>> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let marker = format!("\n{SENTINEL}\n");
    let start = find(out, marker.as_bytes())? + marker.len();
    let mut body = &out[start..];
    let end = format!("{END}\0");
    if body.starts_with(end.as_bytes()) {
        body = &[];
    } else if let Some(i) = find(body, format!("\0{end}").as_bytes()) {
        body = &body[..=i];
    }
    let complete = body.iter().rposition(|b| *b == 0).map_or(0, |i| i + 1);
    Some(
        body[..complete]
            .split(|b| *b == 0)
            .filter_map(|rec| std::str::from_utf8(rec).ok())
            .filter_map(|rec| rec.split_once('='))
            .filter(|(name, _)| !name.is_empty())
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + use<> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |n: &str| vars.get(n).cloned()
    }

    fn login(home: &Path, shell: &str, extra: &[(&str, &str)]) -> LoginEnv {
        let mut vars = vec![("SHELL", shell), ("USER", "someone")];
        vars.extend_from_slice(extra);
        LoginEnv::new(home, &lookup(&vars), Some("/usr/local/bin:/usr/bin:/bin"))
    }

    fn installed(shell: &str) -> Option<String> {
        let found = headroom_core::which::find_in(shell, "/usr/local/bin:/usr/bin:/bin".as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        if found.is_none() {
            eprintln!("skipped: {shell} is not installed");
        }
        found
    }

    const DEBIAN_GUARD: &str = "case $- in\n    *i*) ;;\n      *) return;;\nesac\n";

    #[test]
    fn bash_rc_files_are_read_even_behind_the_interactive_guard() {
        let Some(bash) = installed("bash") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        // Debian's ~/.profile sources ~/.bashrc, whose first lines return when not interactive.
        std::fs::write(
            home.path().join(".profile"),
            "export FROM_PROFILE=p\n[ -f \"$HOME/.bashrc\" ] && . \"$HOME/.bashrc\"\n",
        )
        .unwrap();
        std::fs::write(
            home.path().join(".bashrc"),
            format!(
                "{DEBIAN_GUARD}export ANTHROPIC_BASE_URL=http://127.0.0.1:8787\nexport MULTI='a\nb'\n"
            ),
        )
        .unwrap();
        let env = login(home.path(), &bash, &[("INHERITED_ONLY", "x")]);
        assert_eq!(
            env.get("ANTHROPIC_BASE_URL").unwrap().as_deref(),
            Some("http://127.0.0.1:8787")
        );
        assert_eq!(env.get("FROM_PROFILE").unwrap().as_deref(), Some("p"));
        assert_eq!(env.get("MULTI").unwrap().as_deref(), Some("a\nb"));
        assert_eq!(
            env.get("HOME").unwrap().as_deref(),
            Some(home.path().to_str().unwrap())
        );
        // Not this process's environment: only what the cleared shell exports.
        assert_eq!(env.get("INHERITED_ONLY").unwrap(), None);
        assert_eq!(env.get("NOT_EXPORTED_ANYWHERE").unwrap(), None);
    }

    #[test]
    fn the_shell_runs_once_per_login_env() {
        let Some(bash) = installed("bash") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let count = home.path().join("count");
        std::fs::write(
            home.path().join(".bash_profile"),
            format!("echo x >> '{}'\nexport A=1\n", count.display()),
        )
        .unwrap();
        let env = login(home.path(), &bash, &[]);
        assert_eq!(env.get("A").unwrap().as_deref(), Some("1"));
        assert_eq!(env.get("B").unwrap(), None);
        assert_eq!(env.get("A").unwrap().as_deref(), Some("1"));
        assert_eq!(std::fs::read_to_string(&count).unwrap(), "x\n");
    }

    #[test]
    fn a_banner_before_the_sentinel_is_ignored() {
        let Some(bash) = installed("bash") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        // No newline after the banner, and a banner line that looks like a variable.
        std::fs::write(
            home.path().join(".bash_profile"),
            "printf 'Welcome!\\nFAKE=banner\\n\\0NOPE=1\\0'\nprintf 'no newline'\nexport REAL=1\n",
        )
        .unwrap();
        let env = login(home.path(), &bash, &[]);
        assert_eq!(env.get("REAL").unwrap().as_deref(), Some("1"));
        assert_eq!(env.get("FAKE").unwrap(), None);
        assert_eq!(env.get("NOPE").unwrap(), None);
    }

    #[test]
    fn a_shell_that_hangs_is_killed_within_the_bound() {
        let Some(bash) = installed("bash") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let pidfile = home.path().join("pid");
        std::fs::write(
            home.path().join(".bashrc"),
            format!("echo $$ > '{}'\nsleep 60\n", pidfile.display()),
        )
        .unwrap();
        std::fs::write(home.path().join(".bash_profile"), ". ~/.bashrc\n").unwrap();
        let env = login(home.path(), &bash, &[(TIMEOUT_VAR, "1")]);
        let started = Instant::now();
        let err = env.get("X").unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(err, format!("{bash} -l -i did not answer within 1 s"));
        // Cached: the second call does not wait again.
        let again = Instant::now();
        assert_eq!(env.get("Y").unwrap_err(), err);
        assert!(again.elapsed() < Duration::from_millis(500));
        // The shell (and its sleep) are gone.
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(unsafe { libc::kill(pid, 0) }, -1, "the shell was killed");
    }

    #[test]
    fn the_default_bound_is_five_seconds() {
        let env = LoginEnv::new(Path::new("/nonexistent"), &lookup(&[]), None);
        assert_eq!(env.timeout, LOGIN_SHELL_TIMEOUT);
        assert_eq!(seconds(env.timeout), "5 s");
        assert_eq!(env.shell, "/bin/sh", "no $SHELL");
        let relative = LoginEnv::new(Path::new("/x"), &lookup(&[("SHELL", "zsh")]), None);
        assert_eq!(relative.shell, "/bin/sh", "a relative $SHELL is not run");
        let half = LoginEnv::new(Path::new("/x"), &lookup(&[(TIMEOUT_VAR, "0.5")]), None);
        assert_eq!(seconds(half.timeout), "0.5 s");
        let bad = LoginEnv::new(Path::new("/x"), &lookup(&[(TIMEOUT_VAR, "-3")]), None);
        assert_eq!(bad.timeout, LOGIN_SHELL_TIMEOUT);
    }

    #[test]
    fn a_background_job_holding_the_output_does_not_stall_the_answer() {
        let Some(bash) = installed("bash") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(".bash_profile"),
            "sleep 30 &\nexport AFTER_JOB=1\n",
        )
        .unwrap();
        let env = login(home.path(), &bash, &[(TIMEOUT_VAR, "3")]);
        let started = Instant::now();
        assert_eq!(env.get("AFTER_JOB").unwrap().as_deref(), Some("1"));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_shell_that_prints_no_environment_says_so() {
        let home = tempfile::tempdir().unwrap();
        let fake = home.path().join("fake-shell");
        std::fs::write(&fake, "#!/bin/sh\necho 'I am no shell'\nexit 3\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let env = login(home.path(), fake.to_str().unwrap(), &[]);
        assert_eq!(
            env.get("X").unwrap_err(),
            format!(
                "{} -l -i printed no environment (exit status: 3)",
                fake.display()
            )
        );
    }

    #[test]
    fn a_shell_that_cannot_run_is_named() {
        let home = tempfile::tempdir().unwrap();
        let env = login(home.path(), "/nonexistent/shell", &[]);
        let err = env.get("X").unwrap_err();
        assert!(
            err.starts_with("/nonexistent/shell -l -i could not run: "),
            "{err}"
        );
        let gone = home.path().join("gone");
        let env = login(&gone, "/bin/sh", &[]);
        assert_eq!(
            env.get("X").unwrap_err(),
            format!(
                "/bin/sh -l -i could not run: the home directory {} is not a directory",
                gone.display()
            )
        );
    }

    #[test]
    fn dash_reads_the_profile() {
        let Some(dash) = installed("dash") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(".profile"), "export VIA_DASH=yes\n").unwrap();
        let env = login(home.path(), &dash, &[]);
        assert_eq!(env.get("VIA_DASH").unwrap().as_deref(), Some("yes"));
    }

    #[test]
    fn zsh_reads_its_rc_files() {
        let Some(zsh) = installed("zsh") else { return };
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(".zprofile"), "export FROM_ZPROFILE=1\n").unwrap();
        std::fs::write(home.path().join(".zshrc"), "export FROM_ZSHRC=1\n").unwrap();
        let env = login(home.path(), &zsh, &[]);
        assert_eq!(env.get("FROM_ZPROFILE").unwrap().as_deref(), Some("1"));
        assert_eq!(env.get("FROM_ZSHRC").unwrap().as_deref(), Some("1"));
    }

    #[test]
    fn fish_reads_its_config() {
        let Some(fish) = installed("fish") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let conf = home.path().join(".config/fish");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("config.fish"), "set -gx FROM_FISH 1\n").unwrap();
        let env = login(home.path(), &fish, &[]);
        assert_eq!(env.get("FROM_FISH").unwrap().as_deref(), Some("1"));
    }

    #[test]
    fn parsing_keeps_only_complete_records_after_the_sentinel() {
        let out = format!("motd\nA=0\n{SENTINEL}\nA=1\0B=x=y\0=bad\0C=cut");
        let vars = parse(out.as_bytes()).unwrap();
        assert_eq!(vars.get("A").map(String::as_str), Some("1"));
        assert_eq!(vars.get("B").map(String::as_str), Some("x=y"));
        assert_eq!(vars.get("C"), None);
        assert_eq!(vars.len(), 2);
        assert_eq!(parse(b"A=1\0"), None);
        // Nothing after the end record counts (what the shell prints on its way out).
        let out = format!("\n{SENTINEL}\nA=1\0{END}\0LATE=1\0");
        assert_eq!(parse(out.as_bytes()).unwrap().len(), 1);
    }
}
