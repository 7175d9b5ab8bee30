//! Health probes and port-owner detection over a tiny blocking HTTP/1.1 client (loopback only;
//! no HTTP crate needed for one GET with a timeout).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::Serialize;

const IO_TIMEOUT: Duration = Duration::from_millis(1500);
const MAX_BODY: usize = 256 * 1024;

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("nothing listens on {0}")]
    Refused(String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0} did not answer HTTP")]
    NotHttp(String),
}

/// `GET path` on `host:port` with `Connection: close`.
pub fn http_get(host: &str, port: u16, path: &str) -> Result<HttpResponse, ProbeError> {
    let authority = format!("{host}:{port}");
    let addr: SocketAddr = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|e| ProbeError::Io(authority.clone(), e))?
        .next()
        .ok_or_else(|| ProbeError::NotHttp(authority.clone()))?;
    let mut stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            ProbeError::Refused(authority.clone())
        } else {
            ProbeError::Io(authority.clone(), e)
        }
    })?;
    let io = |e| ProbeError::Io(authority.clone(), e);
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: headroom-deploy\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_BODY as u64)
        .read_to_end(&mut raw)
        .map_err(io)?;
    parse_response(&raw).ok_or(ProbeError::NotHttp(authority))
}

fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[head_end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Some(HttpResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// Who holds a TCP port on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PortOwner {
    Free,
    /// A headroom proxy started by a deployment (its `/health` names the profile).
    Deployment {
        profile: String,
        ready: bool,
    },
    /// A headroom proxy not started by any deployment (e.g. `headroom proxy` in a terminal).
    Headroom {
        ready: bool,
    },
    /// Something else; `pid`/`command` when this user may see them.
    Foreign {
        pid: Option<u32>,
        command: Option<String>,
    },
}

impl PortOwner {
    pub fn describe(&self) -> String {
        match self {
            PortOwner::Free => "free".to_owned(),
            PortOwner::Deployment { profile, .. } => {
                format!("the headroom deployment {profile:?}")
            }
            PortOwner::Headroom { .. } => {
                "a headroom proxy not managed by any deployment".to_owned()
            }
            PortOwner::Foreign { pid, command } => match (pid, command) {
                (Some(pid), Some(cmd)) => format!("another program (pid {pid}: {cmd})"),
                (Some(pid), None) => format!("another program (pid {pid})"),
                _ => "another program".to_owned(),
            },
        }
    }

    pub fn is_ready_profile(&self, profile: &str) -> bool {
        matches!(self, PortOwner::Deployment { profile: p, ready: true } if p == profile)
    }
}

/// Identify the owner of `port` by asking it `/health` (and `/readyz`).
pub fn port_owner(host: &str, port: u16) -> PortOwner {
    let health = match http_get(host, port, "/health") {
        Err(ProbeError::Refused(_)) => return PortOwner::Free,
        Err(_) => return foreign(port),
        Ok(r) => r,
    };
    let json: Option<serde_json::Value> = serde_json::from_str(&health.body).ok();
    let Some(json) = json.filter(looks_like_headroom) else {
        return foreign(port);
    };
    let ready = is_ready(host, port);
    match json.pointer("/deployment/profile").and_then(|p| p.as_str()) {
        Some(profile) => PortOwner::Deployment {
            profile: profile.to_owned(),
            ready,
        },
        None => PortOwner::Headroom { ready },
    }
}

fn looks_like_headroom(v: &serde_json::Value) -> bool {
    v.get("deployment").is_some()
        || v.get("service").and_then(|s| s.as_str()) == Some("headroom")
        || v.get("name").and_then(|s| s.as_str()) == Some("headroom")
        || v.get("version").is_some() && v.get("status").is_some()
}

fn foreign(port: u16) -> PortOwner {
    let pid = crate::procs::listener_pid(port);
    PortOwner::Foreign {
        pid,
        command: pid.and_then(crate::procs::command_line),
    }
}

/// `version` of the proxy's `/health` JSON.
pub fn proxy_version(host: &str, port: u16) -> Option<String> {
    proxy_info(host, port)?.version
}

/// What a running proxy's `/health` says about itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxyInfo {
    pub version: Option<String>,
    pub uptime_seconds: Option<f64>,
}

pub fn proxy_info(host: &str, port: u16) -> Option<ProxyInfo> {
    let r = http_get(host, port, "/health").ok()?;
    let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    Some(ProxyInfo {
        version: v.get("version").and_then(|x| x.as_str()).map(str::to_owned),
        uptime_seconds: v.get("uptime_seconds").and_then(|x| x.as_f64()),
    })
}

/// `/readyz` answers 200.
pub fn is_ready(host: &str, port: u16) -> bool {
    matches!(http_get(host, port, "/readyz"), Ok(r) if r.status == 200)
}

/// Poll until `profile`'s proxy is ready on the port, or `timeout` passes.
pub fn wait_ready(host: &str, port: u16, profile: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if port_owner(host, port).is_ready_profile(profile) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Poll until nothing answers on the port, or `timeout` passes.
pub fn wait_free(host: &str, port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if port_owner(host, port) == PortOwner::Free {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(response: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for _ in 0..4 {
                let Ok((mut s, _)) = listener.accept() else {
                    return;
                };
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(response.as_bytes());
            }
        });
        port
    }

    #[test]
    fn parses_plain_and_chunked_bodies() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        let r = parse_response(
            b"HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (503, "abcde"));
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_none());
    }

    #[test]
    fn free_port_is_free() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert_eq!(port_owner("127.0.0.1", port), PortOwner::Free);
    }

    #[test]
    fn a_deployment_is_recognised_by_its_health_block() {
        let port = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"status\":\"ok\",\"version\":\"0.1.0\",\"deployment\":{\"profile\":\"p1\"}}",
        );
        let owner = port_owner("127.0.0.1", port);
        assert!(
            matches!(&owner, PortOwner::Deployment { profile, ready: true } if profile == "p1"),
            "{owner:?}"
        );
        assert!(owner.is_ready_profile("p1"));
        assert_eq!(proxy_version("127.0.0.1", port).as_deref(), Some("0.1.0"));
        assert!(!owner.is_ready_profile("p2"));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_foreign_server_is_named_with_its_pid() {
        let port = serve_once("HTTP/1.1 404 Not Found\r\n\r\nnope");
        let owner = port_owner("127.0.0.1", port);
        match owner {
            PortOwner::Foreign { pid, .. } => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
    }
}
