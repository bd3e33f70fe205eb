//! `hv tls-init`: the certificates TLS between hosts needs — one authority
//! that every VM and `hv` trust, and a certificate per host signed by it,
//! naming the addresses it is reached at (docs/hypervisor.md, "Across hosts").

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The parameters of the authority whose key is `key`: the same each time
/// for one key, so that a certificate signed later names the authority
/// `ca.pem` holds, and different for another key (its name ends with a
/// digest of the public key), so that a certificate of another authority is
/// told apart by name (`UnknownIssuer`).
fn authority(key: &rcgen::KeyPair) -> Result<rcgen::CertificateParams, String> {
    use sha2::Digest;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let digest = sha2::Sha256::digest(key.public_key_raw());
    let name = format!("hv certificate authority {}", vm_core::hex(&digest[..8]));
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// Writes `contents` to `path` with `mode`, replacing what was there.
fn write(path: &Path, contents: &str, mode: u32) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Makes `dir`'s credentials: the authority of `ca_dir` (made there first
/// if it has none: `ca.pem`, `ca-key.pem`), and `cert.pem`/`key.pem` for
/// `names` (addresses or host names) signed by it, with a copy of `ca.pem`.
/// What it made, one line each.
pub fn init(dir: &Path, ca_dir: &Path, names: &[String]) -> Result<Vec<String>, String> {
    let mut said = Vec::new();
    for d in [dir, ca_dir] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let (ca_pem, ca_key_pem) = (ca_dir.join("ca.pem"), ca_dir.join("ca-key.pem"));
    let ca_key = match std::fs::read_to_string(&ca_key_pem) {
        Ok(pem) => rcgen::KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", ca_key_pem.display()))?,
        Err(_) => {
            let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
            let cert = authority(&key)?.self_signed(&key).map_err(|e| e.to_string())?;
            write(&ca_key_pem, &key.serialize_pem(), 0o600)?;
            write(&ca_pem, &cert.pem(), 0o644)?;
            said.push(format!("made a new authority: {} (keep {} secret)", ca_pem.display(), ca_key_pem.display()));
            key
        }
    };
    let ca_cert = std::fs::read_to_string(&ca_pem).map_err(|e| format!("cannot read {}: {e}", ca_pem.display()))?;
    let issuer = rcgen::Issuer::new(authority(&ca_key)?, ca_key);
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| format!("a name: {e}"))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, names.first().cloned().unwrap_or_default());
    params.extended_key_usages =
        vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
    write(&dir.join("cert.pem"), &cert.pem(), 0o644)?;
    write(&dir.join("key.pem"), &key.serialize_pem(), 0o600)?;
    if dir.join("ca.pem") != ca_pem {
        write(&dir.join("ca.pem"), &ca_cert, 0o644)?;
    }
    said.push(format!("{}: a certificate for {} and its key", dir.display(), names.join(", ")));
    Ok(said)
}
