//! Upstream TLS trust on a network with a private CA: an HTTPS stand-in on 127.0.0.1 whose
//! certificate a throwaway CA signed is refused with the real cause until that CA is trusted
//! through `--ca-file`, `SSL_CERT_FILE` or `SSL_CERT_DIR`; unusable CA sources are one-line
//! errors at start.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use headroom_proxy::egress::Egress;
use headroom_proxy::egress::trust::{CertRejected, Origin, Trust, TrustError, rejection};
use headroom_proxy::probe::{Step, probe};
use headroom_proxy::stub::{Stub, StubOptions, StubTls, TEXT};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

mod support;
use headroom_proxy::stub::ca::TestCa;
use support::{ANTHROPIC, Proxy, client, json, send};

const CA_NAME: &str = "Headroom Test Root CA";
const BODY: &str =
    r#"{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;

fn https_stub(tls: StubTls) -> Stub {
    Stub::start_with(StubOptions {
        tls: Some(tls),
        ..StubOptions::default()
    })
    .unwrap()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn egress(trust: Trust) -> Egress {
    Egress {
        trust: Arc::new(trust),
        ..Egress::direct()
    }
}

/// One Anthropic request through a proxy whose upstream is `stub`, trusting as `trust` says.
async fn through_proxy(stub: &Stub, trust: Trust) -> (http::StatusCode, serde_json::Value) {
    let proxy = Proxy::start(&stub.url(), |c| c.egress = egress(trust)).await;
    let (status, _, body) = send(
        &client(),
        "POST",
        &proxy.url("/v1/messages"),
        ANTHROPIC,
        BODY,
    )
    .await;
    proxy.shutdown().await;
    let value = json(&body);
    (status, value)
}

fn message(v: &serde_json::Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_upstream_signed_by_an_untrusted_ca_is_refused_with_its_name() {
    let ca = TestCa::new(CA_NAME);
    let stub = https_stub(ca.server_cert(&["127.0.0.1", "localhost"]));
    let (status, body) = through_proxy(&stub, Trust::load(&[], &no_env).unwrap()).await;
    assert_eq!(status, 502, "{body}");
    let msg = message(&body);
    assert!(
        msg.contains(&format!(
            "certificate signed by unknown authority '{CA_NAME}'; add it with --ca-file"
        )),
        "{msg}"
    );
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn with_ca_file_the_request_reaches_the_https_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(CA_NAME);
    let ca_file = ca.write_pem(dir.path());
    let stub = https_stub(ca.server_cert(&["127.0.0.1", "localhost"]));
    let trust = Trust::load(std::slice::from_ref(&ca_file), &no_env).unwrap();
    assert_eq!(
        trust.describe()["extra"],
        serde_json::json!([format!("{} ({CA_NAME})", ca_file.display())])
    );
    let (status, body) = through_proxy(&stub, trust).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content"][0]["text"], TEXT);
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["path"], "/v1/messages");
}

#[tokio::test]
async fn a_private_store_named_by_ssl_cert_file_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(CA_NAME);
    // A bundle as distributions ship it: several roots in one file.
    let bundle = dir.path().join("ca-bundle.crt");
    std::fs::write(&bundle, TestCa::new("Other Root").pem() + &ca.pem()).unwrap();
    let env = |k: &str| (k == "SSL_CERT_FILE").then(|| bundle.display().to_string());
    let trust = Trust::load(&[], &env).unwrap();
    assert_eq!(
        trust.describe()["system"],
        format!("2 certificates from SSL_CERT_FILE={}", bundle.display())
    );
    assert_eq!(trust.describe()["fallback_bundled"], false);
    let stub = https_stub(ca.server_cert(&["127.0.0.1"]));
    let (status, body) = through_proxy(&stub, trust).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn a_private_store_named_by_ssl_cert_dir_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(CA_NAME);
    // rustls-native-certs reads every regular file of the directory (symlinks followed); no
    // `openssl rehash` names are needed.
    let pem = ca.write_pem(dir.path());
    std::os::unix::fs::symlink(&pem, dir.path().join("0a1b2c3d.0")).unwrap();
    let env = |k: &str| (k == "SSL_CERT_DIR").then(|| dir.path().display().to_string());
    let trust = Trust::load(&[], &env).unwrap();
    assert_eq!(
        trust.describe()["system"],
        format!("1 certificate from SSL_CERT_DIR={}", dir.path().display())
    );
    let stub = https_stub(ca.server_cert(&["127.0.0.1"]));
    let (status, body) = through_proxy(&stub, trust).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn an_expired_certificate_and_a_wrong_name_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(CA_NAME);
    let ca_file = ca.write_pem(dir.path());
    let load = || Trust::load(std::slice::from_ref(&ca_file), &no_env).unwrap();

    let expired = https_stub(ca.expired_server_cert(&["127.0.0.1"]));
    let (status, body) = through_proxy(&expired, load()).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        message(&body).contains("certificate '127.0.0.1' expired on 2021-01-01 00:00:00 UTC (now "),
        "{body}"
    );

    let elsewhere = https_stub(ca.server_cert(&["localhost", "gw.corp.example"]));
    let (status, body) = through_proxy(&elsewhere, load()).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        message(&body).contains(
            "certificate is valid for 'localhost', 'gw.corp.example', not '127.0.0.1'; use one of those names in the upstream URL"
        ),
        "{body}"
    );
}

#[tokio::test]
async fn the_probe_fails_at_tls_with_the_cause_and_passes_with_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(CA_NAME);
    let stub = https_stub(ca.server_cert(&["127.0.0.1"]));

    let err = probe(&stub.url(), &egress(Trust::load(&[], &no_env).unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err.step, Step::Tls, "{err}");
    assert!(
        err.reason.contains(&format!(
            "certificate signed by unknown authority '{CA_NAME}'; add it with --ca-file"
        )),
        "{err}"
    );

    let trusted = egress(Trust::load(&[ca.write_pem(dir.path())], &no_env).unwrap());
    let reached = probe(&stub.url(), &trusted).await.unwrap();
    assert!(reached.tls);
    assert_eq!(reached.addr, stub.addr);
}

#[tokio::test]
async fn the_typed_rejection_is_found_in_a_client_error() {
    let ca = TestCa::new(CA_NAME);
    let stub = https_stub(ca.server_cert(&["127.0.0.1"]));
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .build(egress(Trust::load(&[], &no_env).unwrap()).connector(true));
    let err = client
        .get(format!("{}/v1/models", stub.url()).parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(&err),
        Some(&CertRejected::UnknownAuthority {
            issuer: CA_NAME.to_owned()
        })
    );
}

fn load_err(ca_files: &[PathBuf], env: &[(&str, &Path)]) -> TrustError {
    let lookup = |k: &str| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, p)| p.display().to_string())
    };
    Trust::load(ca_files, &lookup).unwrap_err()
}

#[test]
fn unusable_ca_sources_are_one_line_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let key = file(
        "key.pem",
        &rcgen::KeyPair::generate().unwrap().serialize_pem(),
    );
    let empty = file("empty.pem", "");
    let junk = file(
        "junk.pem",
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    );
    let broken = file(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n",
    );
    let missing = d.join("missing.pem");
    let ok = TestCa::new(CA_NAME).write_pem(d);

    let e = load_err(&[ok.clone(), key.clone()], &[]);
    assert!(matches!(&e, TrustError::NoCertificate { origin: Origin::CaFile(p) } if *p == key));
    assert_eq!(
        e.to_string(),
        format!(
            "CA file {} holds no PEM certificate; --ca-file needs the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)",
            key.display()
        )
    );

    let e = load_err(std::slice::from_ref(&empty), &[]);
    assert!(
        e.to_string().starts_with(&format!(
            "CA file {} holds no PEM certificate;",
            empty.display()
        )),
        "{e}"
    );

    let e = load_err(std::slice::from_ref(&missing), &[]);
    assert!(matches!(&e, TrustError::Unreadable { path, .. } if *path == missing));
    assert_eq!(
        e.to_string(),
        format!(
            "cannot read CA file {}: No such file or directory (os error 2); check the --ca-file path",
            missing.display()
        )
    );

    let e = load_err(&[d.to_owned()], &[]);
    assert!(
        e.to_string().starts_with(&format!(
            "cannot read CA file {}: Is a directory",
            d.display()
        )),
        "{e}"
    );

    let e = load_err(std::slice::from_ref(&junk), &[]);
    assert!(
        matches!(&e, TrustError::BadCertificate { index: 1, .. }),
        "{e}"
    );
    assert!(
        e.to_string().starts_with(&format!(
            "CA file {}: certificate 1 does not parse (",
            junk.display()
        )),
        "{e}"
    );

    let e = load_err(std::slice::from_ref(&broken), &[]);
    assert!(matches!(&e, TrustError::BadPem { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("CA file {} is not valid PEM (", broken.display())),
        "{e}"
    );
}

#[test]
fn a_named_system_store_that_cannot_be_used_is_an_error_not_a_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = d.join("missing.crt");
    let empty = d.join("empty.crt");
    std::fs::write(&empty, "").unwrap();
    let empty_dir = d.join("certs");
    std::fs::create_dir(&empty_dir).unwrap();

    let e = load_err(&[], &[("SSL_CERT_FILE", &missing)]);
    assert!(matches!(
        &e,
        TrustError::Unreadable {
            origin: Origin::CertFile(_),
            ..
        }
    ));
    assert_eq!(
        e.to_string(),
        format!(
            "cannot read SSL_CERT_FILE={}: No such file or directory (os error 2); fix or unset SSL_CERT_FILE",
            missing.display()
        )
    );

    let e = load_err(&[], &[("SSL_CERT_FILE", &empty)]);
    assert_eq!(
        e.to_string(),
        format!(
            "SSL_CERT_FILE={} holds no PEM certificate; point SSL_CERT_FILE at a PEM bundle or unset it",
            empty.display()
        )
    );

    let e = load_err(&[], &[("SSL_CERT_DIR", &empty_dir)]);
    assert_eq!(
        e.to_string(),
        format!(
            "SSL_CERT_DIR={} holds no PEM certificate; put PEM certificates in SSL_CERT_DIR or unset it",
            empty_dir.display()
        )
    );

    let e = load_err(&[], &[("SSL_CERT_DIR", &missing)]);
    assert!(
        e.to_string().starts_with(&format!(
            "cannot read SSL_CERT_DIR={}: No such file or directory",
            missing.display()
        )),
        "{e}"
    );
}
