//! The connection to the fleet's etcd: its members' URLs, a client, and a
//! deadline on every call, so that an etcd that does not answer is an error
//! within seconds, never a hang.

use std::future::Future;
use std::time::Duration;
use vm_host::tls::{Policy, Tls};

/// The longest one call to etcd may take, trying member after member,
/// before the cluster counts as unreachable: longer than a leader election
/// (a member without a leader refuses at once, and is tried again).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest one member may take to answer before the next is tried.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the cluster could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// `--cluster` (or `MOVA_CLUSTER`) is not a list of member URLs.
    #[error("--cluster {given:?}: {why}")]
    BadUrls {
        /// As given.
        given: String,
        /// What is wrong with it.
        why: String,
    },
    /// No member answered (in time).
    #[error("the cluster (etcd at {urls}) cannot be reached: {why}")]
    Unreachable {
        /// The members, as given.
        urls: String,
        /// The last error.
        why: String,
    },
}

/// A client of the fleet's etcd, usable from synchronous code: each call
/// runs on a runtime of its own (one worker thread, which also keeps leases
/// alive between calls) within [`CALL_TIMEOUT`].
///
/// Each member has a client of its own, and a call goes to the member that
/// last answered, then to the others in turn: one dead member costs a
/// refused connection, not the call. (One client balancing over all
/// members sends calls to a dead member too, and fails them.)
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    members: Members,
}

/// One member of the cluster, as `--cluster` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `HOST:PORT`.
    pub address: String,
    /// Reached under TLS (`https://`).
    pub tls: bool,
}

impl Member {
    /// The URL the client takes.
    fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.address)
    }
}

/// The members of `given` (`URL[,URL…]`, each `http://HOST:PORT`,
/// `https://HOST:PORT` or `HOST:PORT`, which is `http://`).
pub fn parse_urls(given: &str) -> Result<Vec<Member>, ClusterError> {
    let bad = |why: String| ClusterError::BadUrls { given: given.to_string(), why };
    let mut members = Vec::new();
    for url in given.split(',').map(str::trim) {
        let (tls, address) = match url.split_once("://") {
            Some(("http", address)) => (false, address),
            Some(("https", address)) => (true, address),
            Some((scheme, _)) => {
                return Err(bad(format!("{url}: unknown scheme {scheme:?} (http://HOST:PORT or https://HOST:PORT)")))
            }
            None => (false, url),
        };
        let address = address.strip_suffix('/').unwrap_or(address);
        let port_ok =
            address.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok || address.len() > 255 || address.contains(['/', ' ', '@']) {
            return Err(bad(format!("{url:?} is not a member URL (http://HOST:PORT or https://HOST:PORT)")));
        }
        members.push(Member { address: address.to_string(), tls });
    }
    if members.is_empty() || members.len() > 64 {
        return Err(bad("give 1 to 64 member URLs, separated by commas".into()));
    }
    Ok(members)
}

/// The members of `given` that `policy` lets this process reach, the rule
/// of every connection that leaves the host (`vm_host::tls`): an `https://`
/// member with this process's credentials (`--tls DIR`: its `ca.pem` must
/// have signed the member's certificate, which must name the address
/// given; `cert.pem` is this side's, for etcd's `--client-cert-auth`); an
/// `http://` member on loopback, or off the host only with `--insecure`.
pub fn check_urls(given: &str, policy: &Policy) -> Result<Vec<Member>, ClusterError> {
    let members = parse_urls(given)?;
    let bad = |why: String| ClusterError::BadUrls { given: given.to_string(), why };
    for member in &members {
        if member.tls && policy.tls.is_none() {
            return Err(bad(format!(
                "{}: a member under TLS is reached with this process's credentials: give --tls DIR",
                member.url()
            )));
        }
        if !member.tls && !policy.insecure && !vm_host::tls::is_loopback(&member.address) {
            return Err(bad(format!(
                "{}: clear text to a member on another host (the fleet's records hold its leases): give its \
                 https:// URL and --tls DIR, or --insecure",
                member.url()
            )));
        }
    }
    Ok(members)
}

/// The TLS options of the members under TLS: this process's credentials,
/// as it loaded them.
fn tls_options(tls: &Tls) -> etcd_client::TlsOptions {
    let pem = tls.pem();
    etcd_client::TlsOptions::new()
        .ca_certificate(etcd_client::Certificate::from_pem(&pem.ca))
        .identity(etcd_client::Identity::from_pem(&pem.cert, &pem.key))
}

/// The members' clients, shared with background tasks.
#[derive(Clone)]
pub(crate) struct Members {
    clients: std::sync::Arc<Vec<etcd_client::Client>>,
    /// Each client's member, `HOST:PORT`, for messages.
    addresses: std::sync::Arc<Vec<String>>,
    preferred: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    urls: std::sync::Arc<str>,
}

/// What went wrong, for a person: a gRPC status's own message and its
/// deepest cause (`tcp connect error: Connection refused (os error 111)`),
/// not the layers of transport types between them.
fn describe(e: &etcd_client::Error) -> String {
    let etcd_client::Error::GRpcStatus(status) = e else { return e.to_string() };
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(status);
    let mut deepest = None;
    while let Some(error) = cause {
        deepest = Some(error);
        cause = error.source();
    }
    match deepest.map(ToString::to_string) {
        Some(deepest) if !status.message().ends_with(&deepest) => format!("{}: {deepest}", status.message()),
        _ => status.message().to_string(),
    }
}

impl Members {
    /// Runs `call` on the members in turn (the one that last answered first),
    /// each within [`MEMBER_TIMEOUT`], round after round (a tenth of a second
    /// apart) until one answers or [`CALL_TIMEOUT`] has passed; the last
    /// error then.
    ///
    /// A call whose answer was lost may still have been carried out, and is
    /// then sent again: every write here is one that changes nothing the
    /// second time (a put of the same entry, a renewal, a revocation) or a
    /// compare-and-swap whose caller reads back what a failed compare found
    /// (`ledger.rs`) — its own earlier success, or another's write.
    pub(crate) async fn call<T, F, C>(&self, call: C) -> Result<T, ClusterError>
    where
        C: FnMut(etcd_client::Client) -> F,
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        self.call_within(CALL_TIMEOUT, call).await
    }

    /// [`Members::call`] within `limit` instead of [`CALL_TIMEOUT`].
    async fn call_within<T, F, C>(&self, limit: Duration, mut call: C) -> Result<T, ClusterError>
    where
        C: FnMut(etcd_client::Client) -> F,
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        use std::sync::atomic::Ordering::Relaxed;
        let deadline = tokio::time::Instant::now() + limit;
        let first = self.preferred.load(Relaxed);
        let mut why = String::new();
        for turn in 0.. {
            let member = (first + turn) % self.clients.len();
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left.min(MEMBER_TIMEOUT), call(self.clients[member].clone())).await {
                Ok(Ok(value)) => {
                    self.preferred.store(member, Relaxed);
                    return Ok(value);
                }
                Ok(Err(e)) => why = format!("{}: {}", self.addresses[member], describe(&e)),
                // Cut short by the call's own deadline: the member before it said more.
                Err(_) if left < MEMBER_TIMEOUT && !why.is_empty() => {}
                Err(_) => {
                    why = format!(
                        "{}: no answer within {:.1} s",
                        self.addresses[member],
                        left.min(MEMBER_TIMEOUT).as_secs_f32()
                    )
                }
            }
            if (turn + 1) % self.clients.len() == 0 {
                tokio::time::sleep(Duration::from_millis(100).min(left)).await;
            }
        }
        Err(self.unreachable(why))
    }

    fn unreachable(&self, why: String) -> ClusterError {
        ClusterError::Unreachable { urls: self.urls.to_string(), why }
    }
}

impl Cluster {
    /// A client of the members `given` lists, reached as `policy` says
    /// ([`check_urls`]). Nothing is asked yet: an unreachable cluster fails
    /// the first call, not this.
    pub fn connect(given: &str, policy: &Policy) -> Result<Cluster, ClusterError> {
        let members = check_urls(given, policy)?;
        let unreachable = |why: String| ClusterError::Unreachable { urls: given.to_string(), why };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("etcd")
            .enable_all()
            .build()
            .map_err(|e| unreachable(format!("cannot start its client: {e}")))?;
        // A member cut off from the others refuses at once rather than waiting for a leader.
        let options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(MEMBER_TIMEOUT)
            .with_timeout(MEMBER_TIMEOUT)
            .with_keep_alive(Duration::from_secs(2), MEMBER_TIMEOUT)
            .with_require_leader(true);
        let tls = match &policy.tls {
            Some(tls) if members.iter().any(|m| m.tls) => Some(tls_options(tls)),
            _ => None,
        };
        let clients = runtime
            .block_on(async {
                let mut clients = Vec::new();
                for member in &members {
                    let options = match (&tls, member.tls) {
                        (Some(tls), true) => options.clone().with_tls(tls.clone()),
                        _ => options.clone(),
                    };
                    clients.push(etcd_client::Client::connect([member.url()], Some(options)).await?);
                }
                Ok::<_, etcd_client::Error>(clients)
            })
            .map_err(|e| unreachable(describe(&e)))?;
        let addresses = members.into_iter().map(|m| m.address).collect();
        let members = Members {
            clients: std::sync::Arc::new(clients),
            addresses: std::sync::Arc::new(addresses),
            preferred: std::sync::Arc::default(),
            urls: given.into(),
        };
        Ok(Cluster { runtime, members })
    }

    /// The members as given.
    pub fn urls(&self) -> &str {
        &self.members.urls
    }

    /// Runs one call ([`Members::call`]) and waits for its answer.
    pub(crate) fn call<T, F, C>(&self, call: C) -> Result<T, ClusterError>
    where
        C: FnMut(etcd_client::Client) -> F,
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        self.runtime.block_on(self.members.call(call))
    }

    /// A call made on the way out (a lease revoked, a lock given up), whose
    /// failure only leaves something to lapse or to settle later: within a
    /// second, so that a process whose cluster is gone ends promptly.
    pub(crate) fn tidy<T, F, C>(&self, call: C)
    where
        C: FnMut(etcd_client::Client) -> F,
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        let _ = self.runtime.block_on(self.members.call_within(Duration::from_secs(1), call));
    }

    /// The members, for a background task.
    pub(crate) fn members(&self) -> Members {
        self.members.clone()
    }

    /// The error for this cluster failing with `why`.
    pub(crate) fn unreachable(&self, why: String) -> ClusterError {
        self.members.unreachable(why)
    }

    /// Runs `task` on the cluster's runtime in the background (keeping a lease alive).
    pub(crate) fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F) -> tokio::task::JoinHandle<()> {
        self.runtime.spawn(task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_urls_are_http_or_https_host_and_port() {
        let member = |address: &str, tls: bool| Member { address: address.into(), tls };
        assert_eq!(
            parse_urls("http://127.0.0.1:2379, 10.0.0.2:2379,https://etcd-3:2379/").unwrap(),
            [member("127.0.0.1:2379", false), member("10.0.0.2:2379", false), member("etcd-3:2379", true)]
        );
        let err = |given: &str| parse_urls(given).unwrap_err().to_string();
        let not_url = |given: &str, url: &str| {
            format!("--cluster {given:?}: {url:?} is not a member URL (http://HOST:PORT or https://HOST:PORT)")
        };
        assert_eq!(err(""), not_url("", ""));
        assert_eq!(err("127.0.0.1"), not_url("127.0.0.1", "127.0.0.1"));
        assert_eq!(err("127.0.0.1:99999"), not_url("127.0.0.1:99999", "127.0.0.1:99999"));
        assert_eq!(
            err("ftp://a:1"),
            "--cluster \"ftp://a:1\": ftp://a:1: unknown scheme \"ftp\" (http://HOST:PORT or https://HOST:PORT)"
        );
        assert_eq!(err("a:1,,b:2"), not_url("a:1,,b:2", ""));
    }

    #[test]
    fn members_are_reached_under_tls_with_credentials_and_in_clear_only_on_loopback_or_when_asked() {
        let err = |given: &str, policy: &Policy| check_urls(given, policy).unwrap_err().to_string();
        let plain = Policy::default();
        assert_eq!(check_urls("127.0.0.1:1,localhost:2,[::1]:3", &plain).unwrap().len(), 3);
        assert_eq!(
            err("127.0.0.1:1,10.0.0.2:2379", &plain),
            "--cluster \"127.0.0.1:1,10.0.0.2:2379\": http://10.0.0.2:2379: clear text to a member on another host \
             (the fleet's records hold its leases): give its https:// URL and --tls DIR, or --insecure"
        );
        assert_eq!(check_urls("10.0.0.2:2379", &Policy { tls: None, insecure: true }).unwrap().len(), 1);
        assert_eq!(
            err("https://127.0.0.1:2379", &plain),
            "--cluster \"https://127.0.0.1:2379\": https://127.0.0.1:2379: a member under TLS is reached with this \
             process's credentials: give --tls DIR"
        );
    }

    #[test]
    fn a_cluster_nobody_answers_at_is_an_error_within_the_call_timeout() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let started = std::time::Instant::now();
        let result = Cluster::connect(&format!("127.0.0.1:{port}"), &Policy::default())
            .and_then(|cluster| cluster.call(|mut c| async move { c.get("k", None).await }).map(drop));
        let err = result.expect_err("nothing answers there").to_string();
        assert!(err.starts_with(&format!("the cluster (etcd at 127.0.0.1:{port}) cannot be reached: ")), "{err}");
        assert!(started.elapsed() < 2 * CALL_TIMEOUT, "{:?}", started.elapsed());
    }
}
