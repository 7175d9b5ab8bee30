//! A real forward proxy (tinyproxy) on 127.0.0.1 for outbound-proxy tests: generated config in a
//! tempdir, foreground, its log readable by the test, killed by PID on drop.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TINYPROXY: &str = "/usr/bin/tinyproxy";

/// How long tinyproxy may take to listen.
const READY_WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default)]
pub struct ForwardProxyOptions {
    /// `BasicAuth user password`: only authenticated clients are served.
    pub basic_auth: Option<(String, String)>,
    /// A host tinyproxy refuses to CONNECT to (`403 Filtered`).
    pub refuse_host: Option<String>,
}

pub struct ForwardProxy {
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ForwardProxy {
    /// A running tinyproxy, or `None` (after printing why) where it is not installed.
    pub fn start(options: ForwardProxyOptions) -> Option<Self> {
        if !Path::new(TINYPROXY).exists() {
            println!("SKIP: tinyproxy not installed ({TINYPROXY}; apt-get install tinyproxy)");
            return None;
        }
        // The free port is found by binding and releasing it; another process may take it in
        // between, so a start that does not come up is retried on a new port.
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&options) {
                Ok(p) => return Some(p),
                Err(e) => last = e,
            }
        }
        panic!("tinyproxy did not start: {last}");
    }

    fn try_start(options: &ForwardProxyOptions) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let log = dir.path().join("tinyproxy.log");
        // No ConnectPort line: CONNECT is allowed to any port (the stand-ins use random ones).
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nAllow 127.0.0.1\n\
             LogFile \"{}\"\nLogLevel Connect\n",
            log.display()
        );
        if let Some((user, pass)) = &options.basic_auth {
            conf.push_str(&format!("BasicAuth {user} {pass}\n"));
        }
        if let Some(host) = &options.refuse_host {
            let filter = dir.path().join("filter");
            std::fs::write(&filter, format!("^{}$\n", host.replace('.', "\\.")))
                .map_err(|e| e.to_string())?;
            conf.push_str(&format!("Filter \"{}\"\n", filter.display()));
        }
        let conf_path = dir.path().join("tinyproxy.conf");
        std::fs::File::create(&conf_path)
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .map_err(|e| e.to_string())?;
        let out = std::fs::File::create(dir.path().join("stdout")).map_err(|e| e.to_string())?;
        let child = Command::new(TINYPROXY)
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot run {TINYPROXY}: {e}"))?;
        let mut proxy = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                let out = std::fs::read_to_string(proxy._dir.path().join("stdout"));
                return Err(format!("exited with {status}: {}", out.unwrap_or_default()));
            }
            if TcpStream::connect_timeout(&proxy.addr, Duration::from_millis(200)).is_ok() {
                return Ok(proxy);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "not listening on {} after {READY_WITHIN:?}",
            proxy.addr
        ))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://user:pass@127.0.0.1:PORT`.
    pub fn url_with(&self, user: &str, pass: &str) -> String {
        format!("http://{user}:{pass}@{}", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `host:port` targets of the CONNECT requests tinyproxy received, in order.
    pub fn connects(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| l.split_once(": CONNECT ")?.1.split(' ').next())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
