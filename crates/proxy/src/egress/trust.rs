//! Which certificates the proxy trusts upstream: the system's store (or the `SSL_CERT_FILE` /
//! `SSL_CERT_DIR` in effect), every `--ca-file`, and the bundled webpki roots only when the
//! system store yields nothing. A certificate webpki rejects is reported with its real cause
//! (the unknown issuer's name, the dates, the names it is valid for), so a TLS-inspecting
//! corporate proxy shows up as itself rather than as "UnknownIssuer".

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, RootCertStore,
    SignatureScheme,
};
use x509_parser::prelude::{ASN1Time, FromDer, GeneralName, X509Certificate, X509Name};

use super::CA_FILE_FLAG;

/// The variables OpenSSL (and rustls-native-certs) read a certificate store from.
pub const CERT_FILE_ENV: &str = "SSL_CERT_FILE";
pub const CERT_DIR_ENV: &str = "SSL_CERT_DIR";

/// Where the user named a set of certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--ca-file PATH`.
    CaFile(PathBuf),
    /// `SSL_CERT_FILE=PATH`.
    CertFile(PathBuf),
    /// One directory of `SSL_CERT_DIR`.
    CertDir(PathBuf),
}

impl Origin {
    fn path(&self) -> &Path {
        match self {
            Origin::CaFile(p) | Origin::CertFile(p) | Origin::CertDir(p) => p,
        }
    }

    /// What the user should make of the named path.
    fn expected(&self) -> String {
        match self {
            Origin::CaFile(_) => format!(
                "{CA_FILE_FLAG} needs the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)"
            ),
            Origin::CertFile(_) => format!("point {CERT_FILE_ENV} at a PEM bundle or unset it"),
            Origin::CertDir(_) => {
                format!("put PEM certificates in {CERT_DIR_ENV} or unset it")
            }
        }
    }

    fn fix_path(&self) -> String {
        match self {
            Origin::CaFile(_) => format!("check the {CA_FILE_FLAG} path"),
            Origin::CertFile(_) => format!("fix or unset {CERT_FILE_ENV}"),
            Origin::CertDir(_) => format!("fix or unset {CERT_DIR_ENV}"),
        }
    }

    /// ` (/dir/file.pem)` when the unreadable path is a file inside the named directory.
    fn within(&self, path: &Path) -> String {
        if path == self.path() {
            String::new()
        } else {
            format!(" ({})", path.display())
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CaFile(p) => write!(f, "CA file {}", p.display()),
            Origin::CertFile(p) => write!(f, "{CERT_FILE_ENV}={}", p.display()),
            Origin::CertDir(p) => write!(f, "{CERT_DIR_ENV}={}", p.display()),
        }
    }
}

/// A certificate source the user named cannot be used: the proxy refuses to start (and
/// `doctor` says why) rather than trusting less than asked.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read {origin}{}: {reason}; {}", .origin.within(.path), .origin.fix_path())]
    Unreadable {
        origin: Origin,
        /// The file or directory that failed (a file inside an `SSL_CERT_DIR` directory).
        path: PathBuf,
        reason: io::Error,
    },
    #[error("{origin} holds no PEM certificate; {}", .origin.expected())]
    NoCertificate { origin: Origin },
    #[error("{origin} is not valid PEM ({reason}); {}", .origin.expected())]
    BadPem { origin: Origin, reason: String },
    #[error("{origin} holds {count} certificates and none parses (the last: {reason}); {}", .origin.expected())]
    NoUsableCertificate {
        origin: Origin,
        count: usize,
        reason: String,
    },
    /// `index` counts the file's certificates from 1.
    #[error("{origin}: certificate {index} does not parse ({reason}); {}", .origin.expected())]
    BadCertificate {
        origin: Origin,
        index: usize,
        reason: String,
    },
}

/// Why an upstream's certificate was rejected, in the terms a user can act on. It travels inside
/// `rustls::Error::InvalidCertificate(CertificateError::Other(..))`; [`rejection`] finds it in a
/// client error's chain.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertRejected {
    #[error("certificate signed by unknown authority '{issuer}'; add it with {CA_FILE_FLAG}")]
    UnknownAuthority { issuer: String },
    #[error("self-signed certificate '{subject}' is not trusted; add it with {CA_FILE_FLAG}")]
    SelfSigned { subject: String },
    #[error(
        "certificate '{subject}' expired on {not_after} (now {now}); the server must renew it, or this machine's clock is wrong"
    )]
    Expired {
        subject: String,
        not_after: String,
        now: String,
    },
    #[error(
        "certificate '{subject}' is not valid before {not_before} (now {now}); check this machine's clock"
    )]
    NotYetValid {
        subject: String,
        not_before: String,
        now: String,
    },
    #[error("{}", name_mismatch(.expected, .valid_for))]
    NameMismatch {
        expected: String,
        valid_for: Vec<String>,
    },
}

// rustls formats `CertificateError::Other` with `Debug`, so the message must be the Debug form
// too for it to reach hyper's error chain readable.
impl fmt::Debug for CertRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn name_mismatch(expected: &str, valid_for: &[String]) -> String {
    if valid_for.is_empty() {
        return format!(
            "certificate names no host (no subjectAltName), so it is not valid for '{expected}'"
        );
    }
    let names: Vec<String> = valid_for.iter().map(|n| format!("'{n}'")).collect();
    format!(
        "certificate is valid for {}, not '{expected}'; use one of those names in the upstream URL",
        names.join(", ")
    )
}

/// The certificate rejection behind a failed upstream connection, if that is what failed:
/// forwarding, `/health` and `doctor` can show this one line instead of rustls's wrapping.
pub fn rejection<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a CertRejected> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(other)))) =
            e.downcast_ref::<rustls::Error>()
        {
            return other.downcast_ref::<CertRejected>();
        }
        // tokio-rustls hands rustls's error over inside an io::Error (hyper-util wraps that in
        // another), and io::Error's `source()` skips the error it wraps.
        cur = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// The proxy's upstream trust: one rustls client configuration and how it was made.
#[derive(Debug)]
pub struct Trust {
    config: rustls::ClientConfig,
    /// How many roots came from where, for `describe()`.
    system: String,
    /// Each `--ca-file` and the names of the certificates in it.
    extra: Vec<String>,
    fallback_bundled: bool,
}

impl Trust {
    /// The system's store, or the one `SSL_CERT_FILE`/`SSL_CERT_DIR` name in `env` (read through
    /// `env`, so `doctor` judges a deployment's recorded environment), plus every file in
    /// `ca_files`. Any named source that cannot be used is an error, never skipped.
    pub fn load(
        ca_files: &[PathBuf],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, TrustError> {
        let (system_certs, from) = match named_store(env)? {
            Some(named) => named,
            None => (platform_store(), "the system store".to_owned()),
        };
        let mut roots = RootCertStore::empty();
        let (count, _unusable) = roots.add_parsable_certificates(system_certs);
        // named_store yields only sources with a usable certificate: an empty store is the
        // platform's, the one case the bundled roots stand in for.
        let fallback_bundled = count == 0;
        let system = if fallback_bundled {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            format!(
                "no certificates in the system store; using the {} bundled webpki roots",
                roots.len()
            )
        } else {
            format!(
                "{count} certificate{} from {from}",
                if count == 1 { "" } else { "s" }
            )
        };
        let mut extra = Vec::new();
        for path in ca_files {
            let names = add_ca_file(&mut roots, path)?;
            extra.push(format!("{} ({})", path.display(), names.join(", ")));
        }
        Ok(Self::build(roots, system, extra, fallback_bundled))
    }

    /// The platform's store with no extra CA (falling back to the bundled roots if it is empty).
    pub fn system() -> Self {
        Self::load(&[], &|_| None).expect("with no named source, loading trust cannot fail")
    }

    fn build(
        roots: RootCertStore,
        system: String,
        extra: Vec<String>,
        fallback_bundled: bool,
    ) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .expect("the root store always holds at least one certificate");
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NamingVerifier { webpki }))
            .with_no_client_auth();
        Self {
            config,
            system,
            extra,
            fallback_bundled,
        }
    }

    /// A client configuration with these roots (no ALPN: hyper-rustls sets it per connector).
    pub fn client_config(&self) -> rustls::ClientConfig {
        self.config.clone()
    }

    /// What `/health` and `install status` show about the trust sources.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "system": self.system,
            "extra": self.extra,
            "fallback_bundled": self.fallback_bundled,
        })
    }
}

/// The store `SSL_CERT_FILE`/`SSL_CERT_DIR` name, if either is set: with its label for
/// `describe()`. Like OpenSSL, a named store replaces the platform's.
fn named_store(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(Vec<CertificateDer<'static>>, String)>, TrustError> {
    let file = env(CERT_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let dirs: Vec<PathBuf> = env(CERT_DIR_ENV)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if file.is_none() && dirs.is_empty() {
        return Ok(None);
    }
    let mut certs = Vec::new();
    let mut labels = Vec::new();
    if let Some(file) = file {
        let found = rustls_native_certs::load_certs_from_paths(Some(&file), None);
        let origin = Origin::CertFile(file);
        labels.push(origin.to_string());
        certs.extend(usable(origin, found)?);
    }
    for dir in dirs {
        let found = rustls_native_certs::load_certs_from_paths(None, Some(&dir));
        let origin = Origin::CertDir(dir);
        labels.push(origin.to_string());
        certs.extend(usable(origin, found)?);
    }
    // A bundle file and a directory of the same certificates (Debian's layout) count once.
    certs.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    certs.dedup();
    Ok(Some((certs, labels.join(" and "))))
}

/// A named source's certificates, or why it is unusable: its first error, no certificate at all,
/// or none webpki accepts as a root.
fn usable(
    origin: Origin,
    found: rustls_native_certs::CertificateResult,
) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    if let Some(e) = found.errors.into_iter().next() {
        return Err(match e.kind {
            rustls_native_certs::ErrorKind::Io { inner, path } => TrustError::Unreadable {
                origin,
                path,
                reason: inner,
            },
            rustls_native_certs::ErrorKind::Pem(p) => TrustError::BadPem {
                origin,
                reason: p.to_string(),
            },
            other => TrustError::BadPem {
                origin,
                reason: format!("{other:?}"),
            },
        });
    }
    if found.certs.is_empty() {
        return Err(TrustError::NoCertificate { origin });
    }
    let mut probe = RootCertStore::empty();
    let mut last = String::new();
    for cert in &found.certs {
        match probe.add(cert.clone()) {
            Ok(()) => return Ok(found.certs),
            Err(e) => last = e.to_string(),
        }
    }
    Err(TrustError::NoUsableCertificate {
        origin,
        count: found.certs.len(),
        reason: last,
    })
}

/// The platform's store via rustls-native-certs; its errors concern files nobody named here
/// (a stray unreadable file in /etc/ssl/certs), so they are logged and the rest is used.
/// rustls-native-certs still consults the process's own `SSL_CERT_*` here, which differ from
/// `env`'s only when `doctor` judges a recorded environment from a shell that sets them.
fn platform_store() -> Vec<CertificateDer<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!("system certificate store: {e}");
    }
    found.certs
}

/// Add every certificate of a `--ca-file`; returns their names.
fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<Vec<String>, TrustError> {
    let origin = || Origin::CaFile(path.to_owned());
    let pem_error = |e: pem::Error| match e {
        pem::Error::Io(reason) => TrustError::Unreadable {
            origin: origin(),
            path: path.to_owned(),
            reason,
        },
        other => TrustError::BadPem {
            origin: origin(),
            reason: other.to_string(),
        },
    };
    let mut names = Vec::new();
    for (i, cert) in CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .enumerate()
    {
        let cert = cert.map_err(pem_error)?;
        let bad = |reason: String| TrustError::BadCertificate {
            origin: origin(),
            index: i + 1,
            reason,
        };
        let (_, parsed) = X509Certificate::from_der(&cert).map_err(|e| bad(e.to_string()))?;
        names.push(display_name(parsed.subject()));
        roots.add(cert.clone()).map_err(|e| bad(e.to_string()))?;
    }
    if names.is_empty() {
        return Err(TrustError::NoCertificate { origin: origin() });
    }
    Ok(names)
}

/// webpki's verdict, with the cause spelled out when it rejects the certificate. Signatures and
/// chain building stay webpki's.
#[derive(Debug)]
struct NamingVerifier {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for NamingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| {
                let explained = match &e {
                    rustls::Error::InvalidCertificate(cause) => {
                        explain(cause, end_entity, intermediates, server_name, now)
                    }
                    _ => None,
                };
                match explained {
                    Some(r) => rustls::Error::InvalidCertificate(CertificateError::Other(
                        OtherError(Arc::new(r)),
                    )),
                    None => e,
                }
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.webpki.root_hint_subjects()
    }
}

/// The user-facing cause of webpki's `cause`, read from the certificates the server sent; `None`
/// keeps webpki's own error (a cause without a better wording, or a certificate x509-parser
/// cannot read).
fn explain(
    cause: &CertificateError,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Option<CertRejected> {
    let (_, leaf) = X509Certificate::from_der(end_entity).ok()?;
    let chain: Vec<X509Certificate<'_>> = intermediates
        .iter()
        .filter_map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
        .collect();
    let now_secs = i64::try_from(now.as_secs()).ok()?;
    let now_text = date(ASN1Time::from_timestamp(now_secs).ok()?);
    let mut sent = std::iter::once(&leaf).chain(&chain);
    match cause {
        CertificateError::UnknownIssuer => {
            let top = topmost(&leaf, &chain);
            let self_signed = top.issuer().as_raw() == top.subject().as_raw();
            Some(if self_signed && std::ptr::eq(top, &leaf) {
                CertRejected::SelfSigned {
                    subject: display_name(leaf.subject()),
                }
            } else {
                CertRejected::UnknownAuthority {
                    issuer: display_name(top.issuer()),
                }
            })
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            let c = sent.find(|c| c.validity().not_after.timestamp() < now_secs)?;
            Some(CertRejected::Expired {
                subject: display_name(c.subject()),
                not_after: date(c.validity().not_after),
                now: now_text,
            })
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            let c = sent.find(|c| c.validity().not_before.timestamp() > now_secs)?;
            Some(CertRejected::NotYetValid {
                subject: display_name(c.subject()),
                not_before: date(c.validity().not_before),
                now: now_text,
            })
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            Some(CertRejected::NameMismatch {
                expected: server_name.to_str().into_owned(),
                valid_for: host_names(&leaf),
            })
        }
        _ => None,
    }
}

/// The highest certificate of the sent chain reachable from the leaf by issuer names: its
/// issuer is the authority nobody here trusts.
fn topmost<'c, 'a>(
    leaf: &'c X509Certificate<'a>,
    chain: &'c [X509Certificate<'a>],
) -> &'c X509Certificate<'a> {
    let mut cur = leaf;
    // Each step climbs one certificate, so a loop in the names cannot run away.
    for _ in 0..chain.len() {
        if cur.issuer().as_raw() == cur.subject().as_raw() {
            break;
        }
        match chain
            .iter()
            .find(|c| c.subject().as_raw() == cur.issuer().as_raw())
        {
            Some(next) => cur = next,
            None => break,
        }
    }
    cur
}

/// A name's common name, else the whole distinguished name.
fn display_name(name: &X509Name<'_>) -> String {
    name.iter_common_name()
        .find_map(|cn| cn.as_str().ok().map(str::to_owned))
        .unwrap_or_else(|| name.to_string())
}

/// The DNS names and IP addresses a certificate is valid for (its subjectAltName, as webpki
/// reads it).
fn host_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some((*d).to_owned()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => Some(IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                16 => Some(IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn date(t: ASN1Time) -> String {
    let d = t.to_datetime();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, date_time_ymd,
    };

    fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    }

    fn leaf(
        issuer: &CertifiedIssuer<'static, KeyPair>,
        names: &[&str],
        tweak: impl FnOnce(&mut CertificateParams),
    ) -> CertificateDer<'static> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, &names[0]);
        tweak(&mut params);
        params
            .signed_by(&KeyPair::generate().unwrap(), issuer)
            .unwrap()
            .der()
            .clone()
    }

    fn verifier(trusted: &CertifiedIssuer<'static, KeyPair>) -> NamingVerifier {
        let mut roots = RootCertStore::empty();
        roots.add(trusted.der().clone()).unwrap();
        let webpki = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        NamingVerifier { webpki }
    }

    fn verify(v: &NamingVerifier, chain: &[CertificateDer<'static>], host: &str) -> String {
        let name = ServerName::try_from(host.to_owned()).unwrap();
        let err = v
            .verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now())
            .unwrap_err();
        err.to_string()
    }

    #[test]
    fn an_unknown_issuer_is_named_even_behind_an_intermediate() {
        let trusted = ca("Trusted Root");
        let corp = ca("Corp Root CA");
        let v = verifier(&trusted);
        let direct = leaf(&corp, &["api.example.com"], |_| {});
        assert!(verify(&v, &[direct], "api.example.com").contains(
            "certificate signed by unknown authority 'Corp Root CA'; add it with --ca-file"
        ),);

        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "Corp Issuing CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuing =
            CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), &corp).unwrap();
        let chain = [
            leaf(&issuing, &["api.example.com"], |_| {}),
            issuing.der().clone(),
        ];
        let msg = verify(&v, &chain, "api.example.com");
        assert!(msg.contains("unknown authority 'Corp Root CA'"), "{msg}");
    }

    #[test]
    fn a_self_signed_leaf_is_called_so() {
        let v = verifier(&ca("Trusted Root"));
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["gw.local".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "gw.local");
        let cert = params.self_signed(&key).unwrap().der().clone();
        let msg = verify(&v, &[cert], "gw.local");
        assert!(
            msg.contains(
                "self-signed certificate 'gw.local' is not trusted; add it with --ca-file"
            ),
            "{msg}"
        );
    }

    #[test]
    fn dates_and_names_are_spelled_out() {
        let root = ca("Root");
        let v = verifier(&root);
        let expired = leaf(&root, &["a.example"], |p| {
            p.not_before = date_time_ymd(2020, 1, 1);
            p.not_after = date_time_ymd(2021, 6, 30);
        });
        let msg = verify(&v, &[expired], "a.example");
        assert!(
            msg.contains("certificate 'a.example' expired on 2021-06-30 00:00:00 UTC (now 20"),
            "{msg}"
        );

        let future = leaf(&root, &["a.example"], |p| {
            p.not_before = date_time_ymd(2999, 1, 2);
        });
        let msg = verify(&v, &[future], "a.example");
        assert!(
            msg.contains("certificate 'a.example' is not valid before 2999-01-02 00:00:00 UTC"),
            "{msg}"
        );

        let other = leaf(&root, &["a.example", "127.0.0.1"], |_| {});
        let msg = verify(&v, &[other], "b.example");
        assert!(
            msg.contains(
                "certificate is valid for 'a.example', '127.0.0.1', not 'b.example'; use one of those names"
            ),
            "{msg}"
        );
    }

    #[test]
    fn a_trusted_chain_passes() {
        let root = ca("Root");
        let v = verifier(&root);
        let name = ServerName::try_from("a.example").unwrap();
        let cert = leaf(&root, &["a.example"], |_| {});
        v.verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
            .unwrap();
    }

    #[test]
    fn an_empty_variable_is_unset_and_a_named_store_replaces_the_platform_one() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("one.pem");
        std::fs::write(&pem, ca("Only Root").pem()).unwrap();
        let env = |k: &str| match k {
            CERT_FILE_ENV => Some(pem.display().to_string()),
            CERT_DIR_ENV => Some(String::new()),
            _ => None,
        };
        let t = Trust::load(&[], &env).unwrap();
        assert_eq!(
            t.describe()["system"],
            format!("1 certificate from SSL_CERT_FILE={}", pem.display())
        );
        assert_eq!(t.describe()["fallback_bundled"], false);
    }
}
