//! Upstream traffic through a real outbound proxy (tinyproxy on 127.0.0.1): which variables and
//! flags route through it, `NO_PROXY` bypass, basic auth, refusals and what each failure says in
//! the 502 body, `/health` and the doctor's probe; an HTTPS stand-in with a private CA behind it.

use std::sync::Arc;

use bytes::Bytes;
use headroom_proxy::egress::outbound::Outbound;
use headroom_proxy::egress::trust::Trust;
use headroom_proxy::egress::{Egress, EgressOptions};
use headroom_proxy::probe::{Step, probe};
use headroom_proxy::stub::{Stub, StubOptions};
use http::StatusCode;

mod support;
use headroom_proxy::stub::ca::TestCa;
use support::forward_proxy::{ForwardProxy, ForwardProxyOptions};
use support::{ANTHROPIC, Proxy, client, json, send};

const BODY: &str =
    r#"{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;

/// `--upstream-proxy` and the environment's variables.
type Setting<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)]);

/// An egress with the outbound proxy rules from `flag` and these variables (never the test
/// process's own environment).
fn egress(flag: Option<&str>, vars: &[(&str, &str)]) -> Egress {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = move |n: &str| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    Egress {
        outbound: Arc::new(Outbound::load(flag, &env).unwrap()),
        ..Egress::direct()
    }
}

fn tinyproxy(options: ForwardProxyOptions) -> Option<ForwardProxy> {
    ForwardProxy::start(options)
}

/// One Anthropic request through a headroom proxy using `egress` to the stub.
async fn messages(stub: &Stub, egress: Egress) -> (StatusCode, Bytes) {
    let proxy = Proxy::start(&stub.url(), |c| c.egress = egress).await;
    let (status, _, body) = send(
        &client(),
        "POST",
        &proxy.url("/v1/messages"),
        ANTHROPIC,
        BODY,
    )
    .await;
    proxy.shutdown().await;
    (status, body)
}

fn message(body: &Bytes) -> String {
    json(body)["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {body:?}"))
        .to_owned()
}

#[tokio::test]
async fn requests_reach_the_upstream_through_the_proxy_from_each_setting() {
    let Some(fwd) = tinyproxy(ForwardProxyOptions::default()) else {
        return;
    };
    let stub = Stub::start().unwrap();
    let target = stub.addr.to_string();
    let url = fwd.url();
    let settings: [Setting; 4] = [
        (None, &[("HTTP_PROXY", &url)]),
        (None, &[("all_proxy", &url)]),
        // The flag beats a variable naming a proxy that does not exist.
        (Some(&url), &[("HTTP_PROXY", "http://127.0.0.1:9")]),
        (None, &[("http_proxy", &url), ("NO_PROXY", "example.com")]),
    ];
    for (i, (flag, vars)) in settings.into_iter().enumerate() {
        let (status, body) = messages(&stub, egress(flag, vars)).await;
        assert_eq!(status, 200, "{flag:?} {vars:?}: {body:?}");
        assert_eq!(
            fwd.connects(),
            vec![target.clone(); i + 1],
            "{flag:?} {vars:?} went through tinyproxy:\n{}",
            fwd.log()
        );
        assert_eq!(stub.requests().len(), i + 1);
    }
    assert_eq!(stub.requests()[0]["path"], "/v1/messages");
    assert_eq!(stub.requests()[0]["headers"]["x-api-key"], "sk-ant-test");

    // HTTPS_PROXY is for https:// upstreams only: this plain-http one is reached directly.
    let (status, _) = messages(&stub, egress(None, &[("HTTPS_PROXY", &url)])).await;
    assert_eq!(status, 200);
    assert_eq!(fwd.connects().len(), 4, "{}", fwd.log());
}

#[tokio::test]
async fn no_proxy_bypasses_the_proxy_by_address_and_by_cidr() {
    let Some(fwd) = tinyproxy(ForwardProxyOptions::default()) else {
        return;
    };
    let stub = Stub::start().unwrap();
    let url = fwd.url();
    for no_proxy in ["127.0.0.1", "10.0.0.0/8, 127.0.0.0/8", "*"] {
        let (status, body) = messages(
            &stub,
            egress(None, &[("HTTP_PROXY", &url), ("no_proxy", no_proxy)]),
        )
        .await;
        assert_eq!(status, 200, "{no_proxy}: {body:?}");
    }
    // The flag's proxy is bypassed too, as curl's --proxy is.
    let (status, _) = messages(&stub, egress(Some(&url), &[("NO_PROXY", "127.0.0.1")])).await;
    assert_eq!(status, 200);
    assert!(fwd.connects().is_empty(), "{}", fwd.log());
    assert_eq!(stub.requests().len(), 4);
}

#[tokio::test]
async fn basic_auth_from_the_url_is_sent_and_a_wrong_password_is_named() {
    let Some(fwd) = tinyproxy(ForwardProxyOptions {
        basic_auth: Some(("alice".into(), "s3cret".into())),
        ..Default::default()
    }) else {
        return;
    };
    let stub = Stub::start().unwrap();
    // Percent-decoded before use, as URL userinfo is.
    let right = fwd.url_with("alice", "s3%63ret");
    let (status, body) = messages(&stub, egress(None, &[("HTTP_PROXY", &right)])).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(stub.requests().len(), 1);

    let wrong = fwd.url_with("alice", "hunter2");
    let (status, body) = messages(&stub, egress(None, &[("HTTP_PROXY", &wrong)])).await;
    assert_eq!(status, 502);
    let msg = message(&body);
    assert!(
        msg.contains(&format!(
            "proxy http://alice:***@{} refused CONNECT to {}",
            fwd.addr, stub.addr
        )),
        "{msg}"
    );
    assert!(
        msg.contains("proxy authentication required (check the user and password in HTTP_PROXY)"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");

    let (status, body) = messages(&stub, egress(Some(&fwd.url()), &[])).await;
    assert_eq!(status, 502);
    assert!(
        message(&body).contains("407 Proxy Authentication Required: proxy authentication required (put them in --upstream-proxy as http://user:password@host:port)"),
        "{body:?}"
    );
    assert_eq!(stub.requests().len(), 1, "refused requests never arrive");
}

#[tokio::test]
async fn a_refused_connect_and_an_absent_proxy_are_502s_naming_the_proxy() {
    let Some(fwd) = tinyproxy(ForwardProxyOptions {
        refuse_host: Some("127.0.0.1".into()),
        ..Default::default()
    }) else {
        return;
    };
    let stub = Stub::start().unwrap();
    let (status, body) = messages(&stub, egress(None, &[("HTTP_PROXY", &fwd.url())])).await;
    assert_eq!(status, 502);
    let msg = message(&body);
    assert!(
        msg.contains(&format!(
            "proxy {} refused CONNECT to {}: 403 Filtered",
            fwd.url(),
            stub.addr
        )),
        "{msg}"
    );
    assert!(!msg.contains('\n'), "{msg}");

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (status, body) = messages(&stub, egress(Some(&format!("http://u:pw@{dead}")), &[])).await;
    assert_eq!(status, 502);
    let msg = message(&body);
    assert!(
        msg.contains(&format!(
            "cannot reach proxy http://u:***@{dead}: connection refused"
        )),
        "{msg}"
    );
    assert!(stub.requests().is_empty(), "never went direct");
}

#[test]
fn unusable_proxy_urls_stop_the_start_with_one_line_naming_their_source() {
    let load = |flag: Option<&str>, var: (&str, &str)| {
        let env = |n: &str| (n == var.0).then(|| var.1.to_owned());
        let options = EgressOptions {
            upstream_proxy: flag.map(str::to_owned),
            ..Default::default()
        };
        Egress::load(&options, &env).unwrap_err().to_string()
    };
    let cases = [
        (
            load(None, ("HTTPS_PROXY", "http://[bad")),
            "HTTPS_PROXY=http://[bad is not a valid proxy URL",
        ),
        (
            load(None, ("http_proxy", "socks5://u:pw@127.0.0.1:1080")),
            "http_proxy=socks5://u:***@127.0.0.1:1080: socks5:// proxies are not supported",
        ),
        (
            load(Some("https://127.0.0.1:3129"), ("", "")),
            "--upstream-proxy=https://127.0.0.1:3129: https:// proxies are not supported",
        ),
    ];
    for (msg, start) in cases {
        assert!(msg.starts_with(start), "{msg}");
        assert!(!msg.contains('\n') && !msg.contains("pw@"), "{msg}");
    }
}

#[tokio::test]
async fn health_shows_the_masked_proxy_and_reports_a_refused_connect() {
    let Some(fwd) = tinyproxy(ForwardProxyOptions {
        refuse_host: Some("127.0.0.1".into()),
        ..Default::default()
    }) else {
        return;
    };
    let stub = Stub::start().unwrap();
    let with_password = fwd.url_with("bob", "topsecret");
    let e = egress(
        None,
        &[("ALL_PROXY", &with_password), ("NO_PROXY", "internal.corp")],
    );
    let proxy = Proxy::start(&stub.url(), |c| c.egress = e).await;
    let c = client();

    let (s, _, b) = send(&c, "GET", &proxy.url("/health"), &[], "").await;
    assert_eq!(s, 200);
    let text = String::from_utf8_lossy(&b);
    assert!(!text.contains("topsecret"), "{text}");
    let shown = &json(&b)["config"]["egress"]["proxy"];
    assert_eq!(shown["url"], format!("http://bob:***@{}", fwd.addr));
    assert_eq!(shown["source"], "ALL_PROXY");
    assert_eq!(shown["no_proxy"], "internal.corp");

    let (s, _, b) = send(&c, "GET", &proxy.url("/health?upstream=1"), &[], "").await;
    assert_eq!(s, 200);
    assert!(!String::from_utf8_lossy(&b).contains("topsecret"));
    let anthropic = &json(&b)["checks"]["upstreams"]["anthropic"];
    assert_eq!(anthropic["reachable"], false, "{anthropic}");
    assert_eq!(anthropic["step"], "proxy", "{anthropic}");
    let detail = anthropic["detail"].as_str().unwrap();
    assert!(
        detail.ends_with(&format!("refused CONNECT to {}: 403 Filtered", stub.addr)),
        "{detail}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn the_probe_goes_through_the_proxy_and_names_a_refusal() {
    let Some(open) = tinyproxy(ForwardProxyOptions::default()) else {
        return;
    };
    let stub = Stub::start().unwrap();
    let reached = probe(&stub.url(), &egress(None, &[("HTTP_PROXY", &open.url())]))
        .await
        .unwrap();
    assert_eq!(reached.addr, open.addr, "TCP went to the proxy");
    assert_eq!(reached.via.as_deref(), Some(open.url().as_str()));
    assert_eq!(open.connects(), [stub.addr.to_string()]);

    let direct = probe(
        &stub.url(),
        &egress(
            None,
            &[("HTTP_PROXY", &open.url()), ("NO_PROXY", "127.0.0.1")],
        ),
    )
    .await
    .unwrap();
    assert_eq!((direct.addr, direct.via), (stub.addr, None));

    let Some(refusing) = tinyproxy(ForwardProxyOptions {
        refuse_host: Some("127.0.0.1".into()),
        ..Default::default()
    }) else {
        return;
    };
    let err = probe(&stub.url(), &egress(Some(&refusing.url()), &[]))
        .await
        .unwrap_err();
    assert_eq!(err.step, Step::Proxy, "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "CONNECT: proxy {} refused CONNECT to {}: 403 Filtered",
            refusing.url(),
            stub.addr
        )
    );
}

#[tokio::test]
async fn an_https_upstream_is_reached_through_the_proxy_with_a_private_ca_trusted() {
    let Some(fwd) = tinyproxy(ForwardProxyOptions::default()) else {
        return;
    };
    let ca = TestCa::new("Headroom Proxy Test CA");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path());
    let stub = Stub::start_with(StubOptions {
        tls: Some(ca.server_cert(&["127.0.0.1"])),
        ..StubOptions::default()
    })
    .unwrap();
    let url = fwd.url();
    let vars: &[(&str, &str)] = &[("HTTPS_PROXY", &url), ("HTTP_PROXY", "http://127.0.0.1:9")];
    let trusting = Egress {
        trust: Arc::new(Trust::load(std::slice::from_ref(&ca_file), &|_| None).unwrap()),
        ..egress(None, vars)
    };

    let (status, body) = messages(&stub, trusting.clone()).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(stub.requests().len(), 1);
    assert_eq!(fwd.connects(), [stub.addr.to_string()], "{}", fwd.log());

    let reached = probe(&stub.url(), &trusting).await.unwrap();
    assert!(reached.tls);
    assert_eq!(reached.via.as_deref(), Some(url.as_str()));
    assert_eq!(
        stub.requests().len(),
        2,
        "the probe's HEAD came through the tunnel"
    );

    // Without the CA the tunnel opens and TLS names the unknown issuer.
    let (status, body) = messages(&stub, egress(None, vars)).await;
    assert_eq!(status, 502);
    let msg = message(&body);
    assert!(
        msg.contains("unknown authority 'Headroom Proxy Test CA'"),
        "{msg}"
    );
    assert_eq!(stub.requests().len(), 2);
}
