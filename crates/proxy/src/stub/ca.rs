//! A throwaway CA, made fresh in each test, and server certificates it signs for the TLS
//! upstream stand-in ([`StubOptions::tls`](super::StubOptions)): the private CA a corporate
//! network or gateway uses. Test support: failures panic.

use std::path::{Path, PathBuf};

use super::StubTls;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, date_time_ymd,
};

pub struct TestCa {
    name: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A self-signed root CA whose common name is `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("rcgen");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("rcgen"))
            .expect("rcgen");
        Self {
            name: name.to_owned(),
            issuer,
        }
    }

    /// The CA certificate in PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Write the CA certificate to `dir` (named after the CA) and return its path.
    pub fn write_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("{}.pem", self.name.replace(' ', "_")));
        std::fs::write(&path, self.pem()).expect("writing the CA file");
        path
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid now.
    pub fn server_cert(&self, names: &[&str]) -> StubTls {
        self.issue(names, |_| {})
    }

    /// A server certificate for `names` that expired in 2021.
    pub fn expired_server_cert(&self, names: &[&str]) -> StubTls {
        self.issue(names, |p| {
            p.not_before = date_time_ymd(2020, 1, 1);
            p.not_after = date_time_ymd(2021, 1, 1);
        })
    }

    fn issue(&self, names: &[&str], tweak: impl FnOnce(&mut CertificateParams)) -> StubTls {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("rcgen");
        params
            .distinguished_name
            .push(DnType::CommonName, &names[0]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        tweak(&mut params);
        let key = KeyPair::generate().expect("rcgen");
        let cert = params.signed_by(&key, &self.issuer).expect("rcgen");
        StubTls {
            cert_chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}
