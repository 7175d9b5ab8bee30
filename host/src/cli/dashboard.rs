//! `headroom dashboard`: open the proxy's `/dashboard` page in the browser, or print its URL where
//! there is no display or no browser (never an error for that).
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// The port of the headroom proxy.
    #[arg(long, env = "HEADROOM_PORT", default_value_t = 8787)]
    port: u16,
}

/// How long a browser launcher (`xdg-open`, `open`, `start`) may take to hand the URL over.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(args: DashboardArgs) -> anyhow::Result<ExitCode> {
    let base = format!("http://127.0.0.1:{}/dashboard", args.port);
    if !headroom_deploy::health::is_ready("127.0.0.1", args.port) {
        anyhow::bail!(
            "no headroom proxy is serving on 127.0.0.1:{}; start one (`headroom proxy`, or `headroom install apply`) or pass --port",
            args.port
        );
    }
    let token = std::env::var("HEADROOM_PROXY_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    // The browser gets the real token; the terminal only ever shows the variable's name.
    let (open_url, shown_url) = match &token {
        Some(t) => (
            format!("{base}?token={}", percent_encode(t)),
            format!("{base}?token=$HEADROOM_PROXY_TOKEN"),
        ),
        None => (base.clone(), base),
    };
    let opened = launcher().is_some_and(|mut cmd| launch(cmd.arg(&open_url)));
    if opened {
        println!("opened {shown_url}");
    } else {
        println!("open {shown_url} in a browser");
    }
    Ok(ExitCode::SUCCESS)
}

/// The platform's "open this URL" command, or `None` where no browser can be shown (a Linux
/// session without `DISPLAY` or `WAYLAND_DISPLAY`: ssh, a container, CI).
fn launcher() -> Option<Command> {
    if cfg!(target_os = "macos") {
        Some(Command::new("open"))
    } else if cfg!(windows) {
        // `start`'s first quoted argument is the window title.
        let mut c = Command::new("cmd");
        c.args(["/C", "start", ""]);
        Some(c)
    } else {
        let display = ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        display.then(|| Command::new("xdg-open"))
    }
}

/// Run the launcher; true when it exited 0 within [`LAUNCH_TIMEOUT`]. A missing launcher, a
/// failing one or a hanging one is false (the caller prints the URL instead).
fn launch(cmd: &mut Command) -> bool {
    let Ok(mut child) = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + LAUNCH_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// A query value as a URL carries it (unreserved characters kept, every other byte `%XX`).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_percent_encoded_for_the_query() {
        assert_eq!(percent_encode("a-b_c.d~9"), "a-b_c.d~9");
        assert_eq!(percent_encode("s3cr&t=x y/é"), "s3cr%26t%3Dx%20y%2F%C3%A9");
    }
}
