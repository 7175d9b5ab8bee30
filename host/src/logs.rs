//! Logs: the size-bounded file the proxy writes (`headroom proxy --log-file`), and `headroom
//! logs`, which shows a deployment's proxy log wherever its supervisor keeps it (the journal,
//! the container engine, or headroom's own files) with the same flags everywhere.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use headroom_deploy::logs::{self as where_, LogSource};
use headroom_deploy::manifest::ManifestError;
use headroom_deploy::{Deployment, ProfileName, lifecycle, supervisors};

// ---- the proxy's own log file ----

/// A log file that never grows past `max` bytes: a write that would cross it first moves
/// `path` to `path.1` (`path.1` to `path.2` …, the oldest beyond `keep` deleted) and starts a
/// new `path`. Each tracing event is one `write`, so a line is never split across files.
pub struct RotatingFile {
    state: Mutex<Rotation>,
}

struct Rotation {
    path: PathBuf,
    max: u64,
    keep: usize,
    file: File,
    size: u64,
}

impl RotatingFile {
    pub fn open(path: &Path, max: u64, keep: usize) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            headroom_core::fs::create_private_dir(dir)
                .with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        let file = open_append(path).with_context(|| format!("cannot open {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            state: Mutex::new(Rotation {
                path: path.to_path_buf(),
                max,
                keep,
                file,
                size,
            }),
        })
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

impl Rotation {
    fn rotate(&mut self) -> io::Result<()> {
        let _ = self.file.flush();
        if self.keep == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(where_::numbered(&self.path, self.keep));
            for n in (1..self.keep).rev() {
                let _ = std::fs::rename(
                    where_::numbered(&self.path, n),
                    where_::numbered(&self.path, n + 1),
                );
            }
            let _ = std::fs::rename(&self.path, where_::numbered(&self.path, 1));
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// The writer one event gets.
pub struct RotatingGuard<'a>(MutexGuard<'a, Rotation>);

impl Write for RotatingGuard<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = &mut *self.0;
        if r.size > 0 && r.size + buf.len() as u64 > r.max {
            r.rotate()?;
        }
        let n = r.file.write(buf)?;
        r.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.file.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingFile {
    type Writer = RotatingGuard<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        RotatingGuard(self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// `10MB`, `512KiB`, `1G`, `4096` (bytes; K/M/G are powers of 1000, KiB/MiB/GiB of 1024);
/// at least 1 KB, so a line always fits.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("expected a size like 10MB, got {text:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1024 * 1024,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1024 * 1024 * 1024,
        _ => return Err(format!("unknown size unit in {text:?} (use KB, MB, GB)")),
    };
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("{text:?} is too big"))?;
    if bytes < 1000 {
        return Err(format!("{text:?} is too small (at least 1KB)"));
    }
    Ok(bytes)
}

// ---- `headroom logs` ----

/// `--since`: a duration back from now (`30s`, `10m`, `2h`, `7d`) or a UTC time
/// (`2026-12-02T18:00:00Z`, `2026-12-02 18:00:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Ago(Duration),
    At(SystemTime),
}

impl Since {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if let Some(at) = parse_timestamp(t) {
            return Ok(Since::At(at));
        }
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| since_error(text))?;
        let secs = match unit {
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86_400,
            _ => return Err(since_error(text)),
        };
        Ok(Since::Ago(Duration::from_secs(secs)))
    }

    fn at(&self) -> SystemTime {
        match self {
            Since::At(t) => *t,
            Since::Ago(d) => SystemTime::now().checked_sub(*d).unwrap_or(UNIX_EPOCH),
        }
    }

    /// As journalctl takes it (`… UTC`).
    fn journal(&self) -> String {
        format!("{} UTC", headroom_core::time::utc(self.at(), ' '))
    }

    /// As `docker logs --since` takes it (RFC 3339).
    fn docker(&self) -> String {
        format!("{}Z", headroom_core::time::utc(self.at(), 'T'))
    }
}

fn since_error(text: &str) -> String {
    format!(
        "invalid --since {text:?}: use 30s, 10m, 2h, 7d or a UTC time like 2026-12-02T18:00:00Z"
    )
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z]` (UTC) at the start of `text`.
fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 19 || !matches!(b[10], b'T' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = headroom_core::time::days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s;
    let mut t = UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?);
    if b.get(19) == Some(&b'.') {
        let frac: String = text[20..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if !frac.is_empty() {
            let nanos: u64 = format!("{frac:0<9}")[..9].parse().ok()?;
            t += Duration::from_nanos(nanos);
        }
    }
    Some(t)
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub follow: bool,
    pub lines: Option<usize>,
    pub since: Option<Since>,
}

/// The profile `logs` shows: the one asked for; without `--profile`, `default`, or the only
/// profile there is.
fn pick_profile(home: &Path, asked: Option<&str>) -> anyhow::Result<ProfileName> {
    if let Some(p) = asked {
        return Ok(ProfileName::new(p)?);
    }
    let state = headroom_core::StateDir::new(home);
    let all = headroom_deploy::profile::installed(&state);
    if all.len() == 1 && !all.iter().any(|p| p == "default") {
        return Ok(ProfileName::new(&all[0])?);
    }
    Ok(ProfileName::new("default")?)
}

/// `headroom logs`: the deployment's proxy log from its supervisor's store. A profile that
/// does not exist is one line; one whose supervisor is gone says so and still shows its files.
pub fn show(
    home: &Path,
    profile: Option<&str>,
    exe: &Path,
    opts: &Options,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let name = pick_profile(home, profile)?;
    let d = match lifecycle::load(home, &name, exe) {
        Ok(d) => d,
        Err(ManifestError::NotFound(_)) => {
            let state = headroom_core::StateDir::new(home);
            let others = headroom_deploy::profile::installed(&state);
            let hint = if others.is_empty() {
                "nothing is installed (`headroom install apply`)".to_owned()
            } else {
                format!("installed: {}", others.join(", "))
            };
            anyhow::bail!("no deployment named \"{name}\"; {hint}");
        }
        Err(e) => return Err(e.into()),
    };
    let source = where_::source(&d);
    let registered = supervisor_registered(&d);
    match &source {
        LogSource::Files { log, startup } => {
            if !registered {
                eprintln!(
                    "headroom: warning: {} is not registered with {} (its supervisor is gone); showing its log files",
                    name, d.manifest.supervisor_kind
                );
            }
            show_files(log, startup, opts, out)?;
            Ok(ExitCode::SUCCESS)
        }
        LogSource::Container { name: container } => {
            anyhow::ensure!(
                registered,
                "the container {container} of profile {name} does not exist (its supervisor is gone); `headroom install apply --profile {name} --preset persistent-docker` creates it again"
            );
            let mut args = vec!["logs".to_owned()];
            if opts.follow {
                args.push("--follow".to_owned());
            }
            if let Some(n) = opts.lines {
                args.extend(["--tail".to_owned(), n.to_string()]);
            }
            if let Some(s) = &opts.since {
                args.extend(["--since".to_owned(), s.docker()]);
            }
            args.push(container.clone());
            // The proxy logs to stderr in its container: `docker logs` replays it there. One
            // stream, like the other supervisors' logs.
            run_reader("docker", &args, true)
        }
        LogSource::Journal { unit, system } => {
            if !registered {
                eprintln!(
                    "headroom: warning: {unit} is not registered with systemd (its supervisor is gone); showing what the journal kept"
                );
            }
            let mut args = vec![
                if *system { "-u" } else { "--user-unit" }.to_owned(),
                unit.clone(),
                "--no-pager".to_owned(),
            ];
            if opts.follow {
                args.push("--follow".to_owned());
            }
            if let Some(n) = opts.lines {
                args.extend(["--lines".to_owned(), n.to_string()]);
            }
            if let Some(s) = &opts.since {
                args.extend(["--since".to_owned(), s.journal()]);
            }
            run_reader("journalctl", &args, false)
        }
    }
}

fn supervisor_registered(d: &Deployment) -> bool {
    let m = &d.manifest;
    supervisors::for_kind(m.supervisor_kind, m.scope, m.preset)
        .state(d)
        .registered
}

/// Run the supervisor's own reader with our terminal (its stderr on our stdout when
/// `merge`); its exit status is ours.
fn run_reader(program: &str, args: &[String], merge: bool) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        headroom_core::which::on_path(program),
        "`{program}` is not installed; it is what keeps this deployment's log"
    );
    let mut cmd = Command::new(program);
    cmd.args(args);
    #[cfg(unix)]
    if merge {
        use std::os::fd::AsFd;
        let _ = io::stdout().flush();
        if let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() {
            cmd.stderr(std::process::Stdio::from(fd));
        }
    }
    #[cfg(not(unix))]
    let _ = merge;
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// One line of a log file, with the time it was written (its own stamp, else the last stamp
/// above it in the same file, else the file's modification time).
struct Line {
    at: SystemTime,
    text: String,
}

fn read_lines(path: &Path, lines: &mut Vec<Line>) {
    let Ok(f) = File::open(path) else {
        return;
    };
    let mtime = f
        .metadata()
        .and_then(|m| m.modified())
        .unwrap_or(UNIX_EPOCH);
    let mut last: Option<SystemTime> = None;
    for raw in io::BufReader::new(f).split(b'\n') {
        let Ok(raw) = raw else { break };
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some(t) = parse_timestamp(&text) {
            last = Some(t);
        }
        lines.push(Line {
            at: last.unwrap_or(mtime),
            text,
        });
    }
}

/// Every rotated file of the log and of the startup output, merged by time, filtered by
/// `--since`, the last `-n`; then, with `-f`, what is written next.
fn show_files(
    log: &Path,
    startup: &Path,
    opts: &Options,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    // Rotations this headroom could have written (the default keep, or more if asked).
    for path in where_::rotated_files(log, 99)
        .into_iter()
        .chain(where_::rotated_files(startup, 1))
    {
        read_lines(&path, &mut lines);
    }
    lines.sort_by_key(|l| l.at);
    if let Some(s) = &opts.since {
        let from = s.at();
        lines.retain(|l| l.at >= from);
    }
    let n = opts
        .lines
        .unwrap_or(if opts.follow { 10 } else { usize::MAX });
    let skip = lines.len().saturating_sub(n);
    for l in &lines[skip..] {
        writeln!(out, "{}", l.text)?;
    }
    out.flush()?;
    if opts.follow {
        let mut tails = [Tail::at_end(log), Tail::at_end(startup)];
        loop {
            for t in &mut tails {
                t.poll(out)?;
            }
            out.flush()?;
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok(())
}

/// `tail -F` of one file: reads what is appended; when the file is rotated (a new file at the
/// path), finishes the old one, then follows the new one from its start.
struct Tail {
    path: PathBuf,
    file: Option<File>,
    id: Option<(u64, u64)>,
    pending: Vec<u8>,
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        Some((
            0,
            m.created().ok()?.duration_since(UNIX_EPOCH).ok()?.as_secs(),
        ))
    }
}

impl Tail {
    fn at_end(path: &Path) -> Self {
        let mut file = File::open(path).ok();
        if let Some(f) = &mut file {
            let _ = f.seek(SeekFrom::End(0));
        }
        Self {
            path: path.to_path_buf(),
            id: file.as_ref().and(file_id(path)),
            file,
            pending: Vec::new(),
        }
    }

    fn drain(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(f) = &mut self.file {
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            self.pending.extend_from_slice(&buf);
            while let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                out.write_all(&line)?;
            }
        }
        Ok(())
    }

    fn poll(&mut self, out: &mut dyn Write) -> io::Result<()> {
        self.drain(out)?;
        let now = file_id(&self.path);
        if now.is_some() && now != self.id {
            // Rotated (or created): the old file is finished, the new one read from the start.
            self.file = File::open(&self.path).ok();
            self.id = now;
            self.drain(out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

    #[test]
    fn the_file_rotates_at_the_size_and_keeps_the_last_n() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/headroom.log");
        let f = RotatingFile::open(&path, 1000, 2).unwrap();
        let line = format!("{}\n", "x".repeat(99));
        for _ in 0..50 {
            f.make_writer().write_all(line.as_bytes()).unwrap();
        }
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) <= 1000 && size(&path) > 0);
        assert_eq!(size(&where_::numbered(&path, 1)), 1000);
        assert_eq!(size(&where_::numbered(&path, 2)), 1000);
        assert!(!where_::numbered(&path, 3).exists());
        // Whole lines only, in every file.
        for p in where_::rotated_files(&path, 2) {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.lines().all(|l| l.len() == 99), "{}", p.display());
        }
    }

    #[test]
    fn follow_reads_what_is_appended_and_goes_on_in_the_new_file_after_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.log");
        let f = RotatingFile::open(&path, 1000, 1).unwrap();
        f.make_writer().write_all(b"before\n").unwrap();
        let mut tail = Tail::at_end(&path);
        let mut out = Vec::new();
        f.make_writer().write_all(b"one\n").unwrap();
        tail.poll(&mut out).unwrap();
        assert_eq!(out, b"one\n");
        // A line that crosses the size moves the file to h.log.1 and starts a new one.
        let long = format!("{}\n", "x".repeat(995));
        f.make_writer().write_all(long.as_bytes()).unwrap();
        f.make_writer().write_all(b"two\n").unwrap();
        tail.poll(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), format!("one\n{long}two\n"));
    }

    #[test]
    fn sizes_and_times_parse_as_documented() {
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("10").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert_eq!(
            Since::parse("10m"),
            Ok(Since::Ago(Duration::from_secs(600)))
        );
        let t = Since::parse("2026-12-02T18:00:00Z").unwrap();
        assert_eq!(
            t,
            Since::At(UNIX_EPOCH + Duration::from_secs(1_796_234_400))
        );
        assert_eq!(t.journal(), "2026-12-02 18:00:00 UTC");
        assert_eq!(t.docker(), "2026-12-02T18:00:00Z");
        assert!(Since::parse("yesterday").is_err());
        // tracing's own stamp, with its fraction.
        let line = "2026-12-02T18:00:00.500000Z  WARN x";
        assert_eq!(
            parse_timestamp(line),
            Some(UNIX_EPOCH + Duration::from_millis(1_796_234_400_500))
        );
        assert_eq!(parse_timestamp("thread 'main' panicked at"), None);
        assert!(parse_timestamp(&headroom_core::time::now_rfc3339()).is_some());
    }

    #[test]
    fn files_merge_by_time_filter_by_since_and_keep_unstamped_lines_with_their_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let (log, startup) = (dir.path().join("h.log"), dir.path().join("startup.log"));
        std::fs::write(
            where_::numbered(&log, 1),
            "2026-12-02T10:00:00.000000Z  INFO old start\n",
        )
        .unwrap();
        std::fs::write(
            &log,
            "2026-12-02T12:00:00.000000Z  WARN later\n  continued\n",
        )
        .unwrap();
        std::fs::write(&startup, "2026-12-02T11:00:00Z headroom p: started\n").unwrap();
        let mut out = Vec::new();
        show_files(&log, &startup, &Options::default(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-12-02T10:00:00.000000Z  INFO old start\n2026-12-02T11:00:00Z headroom p: started\n2026-12-02T12:00:00.000000Z  WARN later\n  continued\n"
        );
        let mut out = Vec::new();
        let opts = Options {
            since: Some(Since::parse("2026-12-02T10:30:00Z").unwrap()),
            lines: Some(2),
            follow: false,
        };
        show_files(&log, &startup, &opts, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-12-02T12:00:00.000000Z  WARN later\n  continued\n"
        );
    }
}
