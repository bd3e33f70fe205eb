//! TLS 1.3 (rustls) for connections that leave the host: the control port
//! and the state stream, both authenticated both ways by certificates of
//! one certificate authority (`hv tls-init` makes them).
//!
//! The rule, in one place: a connection to an endpoint that is not on
//! loopback is made under TLS; a VM given credentials (`--tls DIR`) takes
//! TLS from anyone and clear text only from loopback. Without credentials a
//! non-loopback endpoint is refused — unless `--insecure` says clear text is
//! wanted, as before TLS (a token is then required).
//!
//! A credentials directory holds `ca.pem` (the authority both sides trust),
//! `cert.pem` (this side's certificate, naming the addresses it is reached
//! at) and `key.pem` (its private key).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The first byte of a TLS handshake record: how the control port tells TLS from a text line.
pub(crate) const HANDSHAKE: u8 = 0x16;

/// This side's TLS credentials, ready for either end of a connection.
#[derive(Clone)]
pub struct Tls {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    dir: PathBuf,
    pem: Arc<Pem>,
}

/// The credentials' files as read (and checked) by [`Tls::load`], for a
/// client that takes PEM rather than a rustls configuration (the fleet's
/// etcd client).
#[derive(Debug)]
pub struct Pem {
    /// `ca.pem`.
    pub ca: Vec<u8>,
    /// `cert.pem`.
    pub cert: Vec<u8>,
    /// `key.pem`.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// What a process uses for the connections it makes: credentials, and
/// whether clear text off the host was asked for.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Credentials, if given.
    pub tls: Option<Tls>,
    /// `--insecure`: clear text to other hosts is allowed.
    pub insecure: bool,
}

static POLICY: OnceLock<Policy> = OnceLock::new();

/// Sets the policy of this process's outgoing connections (once, at start; later calls are ignored).
pub fn set_policy(policy: Policy) {
    let _ = POLICY.set(policy);
}

/// The policy of this process's outgoing connections.
pub fn policy() -> &'static Policy {
    POLICY.get_or_init(Policy::default)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl Tls {
    /// Loads `ca.pem`, `cert.pem` and `key.pem` from `dir`.
    pub fn load(dir: &Path) -> Result<Tls, String> {
        let file = |name: &str| dir.join(name);
        let bad = |name: &str, why: String| format!("{}: {why}", file(name).display());
        let read = |name: &str| {
            std::fs::read(file(name)).map_err(|e| bad(name, rustls::pki_types::pem::Error::Io(e).to_string()))
        };
        // Each file read, then checked, in turn: the first wrong one is the one named.
        let certs = |name: &str| -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), String> {
            let bytes = read(name)?;
            let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<_, _>>()
                .map_err(|e| bad(name, e.to_string()))?;
            match certs.is_empty() {
                true => Err(bad(name, "no certificate in it".into())),
                false => Ok((bytes, certs)),
            }
        };
        let (ca_pem, ca) = certs("ca.pem")?;
        let (cert_pem, chain) = certs("cert.pem")?;
        let key_pem = read("key.pem")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| bad("key.pem", e.to_string()))?;
        let pem = Pem { ca: ca_pem, cert: cert_pem, key: key_pem };
        let mut roots = rustls::RootCertStore::empty();
        for cert in ca {
            roots.add(cert).map_err(|e| bad("ca.pem", e.to_string()))?;
        }
        let roots = Arc::new(roots);
        let versions = &[&rustls::version::TLS13];
        let clients = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| bad("ca.pem", e.to_string()))?;
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(clients)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| bad("cert.pem", e.to_string()))?;
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| bad("cert.pem", e.to_string()))?;
        Ok(Tls { server: Arc::new(server), client: Arc::new(client), dir: dir.to_path_buf(), pem: Arc::new(pem) })
    }

    /// The credentials as [`Tls::load`] read them.
    pub fn pem(&self) -> &Pem {
        &self.pem
    }

    /// A server session for a connection the control port took.
    pub(crate) fn accept(&self) -> io::Result<rustls::ServerConnection> {
        rustls::ServerConnection::new(self.server.clone()).map_err(io::Error::other)
    }
}

/// The host of `endpoint` (`HOST:PORT`, `[V6]:PORT`), without brackets.
fn host_of(endpoint: &str) -> &str {
    endpoint.rsplit_once(':').map_or(endpoint, |(h, _)| h).trim_start_matches('[').trim_end_matches(']')
}

/// True if `endpoint` (`HOST:PORT`) is on this host's loopback.
pub fn is_loopback(endpoint: &str) -> bool {
    let host = host_of(endpoint);
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host == "localhost",
    }
}

/// A blocking connection, in clear or under TLS.
pub trait Duplex: Read + Write + Send {
    /// The TCP connection under it (for timeouts).
    fn tcp(&self) -> &TcpStream;
}

impl Duplex for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Duplex for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

impl Duplex for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

/// Why an outgoing connection may not be made as asked.
pub fn refusal(endpoint: &str) -> String {
    format!(
        "{endpoint} is not on this host: connections to it are made under TLS, and no credentials were given \
         (--tls DIR or MOVA_TLS_DIR; `hv tls-init` makes them), or --insecure for clear text"
    )
}

/// A connection to `endpoint`, made within `connect_timeout`, whose reads
/// and writes wait `io_timeout` at most, as this process's policy wants it:
/// under TLS (handshake done, the peer's certificate checked) for an
/// endpoint off this host, in clear on loopback or with `--insecure`. An
/// endpoint off this host with neither is refused with
/// `PermissionDenied` and [`refusal`]'s text.
pub fn connect(endpoint: &str, connect_timeout: Duration, io_timeout: Duration) -> io::Result<Box<dyn Duplex>> {
    let addr = endpoint.to_socket_addrs()?.next().ok_or_else(|| io::Error::other("no address"))?;
    let tcp = TcpStream::connect_timeout(&addr, connect_timeout)?;
    tcp.set_read_timeout(Some(io_timeout))?;
    tcp.set_write_timeout(Some(io_timeout))?;
    // Replies are single small writes; without this, Nagle can hold one back for a delayed ACK.
    tcp.set_nodelay(true)?;
    let policy = policy();
    if is_loopback(endpoint) {
        return Ok(Box::new(tcp));
    }
    let Some(tls) = &policy.tls else {
        return match policy.insecure {
            true => Ok(Box::new(tcp)),
            false => Err(io::Error::new(io::ErrorKind::PermissionDenied, refusal(endpoint))),
        };
    };
    let name = ServerName::try_from(host_of(endpoint).to_string()).map_err(io::Error::other)?;
    let session = rustls::ClientConnection::new(tls.client.clone(), name).map_err(io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(session, tcp);
    // The handshake now, so that a refusal (a certificate not of the authority) is this call's error.
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(Box::new(stream))
}

/// The control port's side of a connection: in clear, or under TLS, on a
/// non-blocking socket. Reads and writes behave as a non-blocking socket's
/// (`WouldBlock` when the socket has nothing more, or no room).
pub(crate) struct Io {
    pub(crate) sock: mio::net::TcpStream,
    pub(crate) tls: Option<Box<rustls::ServerConnection>>,
}

/// Writes what TLS has ready for the socket, until done or the socket is full.
fn flush_tls(sock: &mut mio::net::TcpStream, tls: &mut rustls::ServerConnection) -> io::Result<()> {
    while tls.wants_write() {
        if tls.write_tls(sock)? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

/// `result`, with a socket that is merely full counted as success.
fn unless_full(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        other => other,
    }
}

impl Io {
    /// The connection as a blocking one (for a state stream's thread).
    pub(crate) fn into_blocking(self) -> io::Result<Box<dyn Duplex>> {
        use std::os::fd::{FromRawFd, IntoRawFd};
        // SAFETY: the descriptor is the connection's own, taken out of its mio wrapper, which gives it up.
        let tcp = unsafe { TcpStream::from_raw_fd(self.sock.into_raw_fd()) };
        tcp.set_nonblocking(false)?;
        Ok(match self.tls {
            None => Box::new(tcp),
            Some(tls) => Box::new(rustls::StreamOwned::new(*tls, tcp)),
        })
    }
}

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else { return self.sock.read(buf) };
        let sock = &mut self.sock;
        // Handshake messages left over from last time go first.
        unless_full(flush_tls(sock, tls))?;
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed without `close_notify`: for this protocol, as good as a close.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if tls.read_tls(sock)? == 0 {
                return Ok(0);
            }
            let processed = tls.process_new_packets().map_err(io::Error::other);
            // Handshake messages, or the alert that says why not.
            unless_full(flush_tls(sock, tls))?;
            processed?;
        }
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else { return self.sock.write(buf) };
        let sock = &mut self.sock;
        // What TLS holds goes first: its buffer is the socket's, seen from here.
        flush_tls(sock, tls)?;
        let n = tls.writer().write(buf)?;
        unless_full(flush_tls(sock, tls))?;
        match n {
            0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.tls {
            None => self.sock.flush(),
            Some(tls) => flush_tls(&mut self.sock, tls),
        }
    }
}
