//! Running supervisor CLIs (systemctl, crontab, docker, …) with one-line errors.

use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::Context;

#[derive(Debug)]
pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The first line of stderr (or stdout), for messages.
    pub fn reason(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no output")
            .to_owned()
    }
}

/// Run `program args…`, feeding `stdin` if given; never fails on a non-zero exit (see `ok`).
pub fn capture<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    envs: &[(&str, String)],
    stdin: Option<&[u8]>,
) -> anyhow::Result<Output> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input)
            .with_context(|| format!("cannot write to {program}"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("cannot run {program}"))?;
    Ok(Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Like [`capture`], but a non-zero exit is an error naming the command and its first stderr line.
pub fn run<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    envs: &[(&str, String)],
    stdin: Option<&[u8]>,
) -> anyhow::Result<Output> {
    let out = capture(program, args, envs, stdin)?;
    if !out.ok {
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect();
        anyhow::bail!("`{program} {}` failed: {}", shown.join(" "), out.reason());
    }
    Ok(out)
}

/// `program` is an executable on PATH.
pub use headroom_core::which::on_path;
