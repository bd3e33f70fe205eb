//! A real etcd cluster for a test: three members on loopback ports of the
//! test's own, data in the test's directory, killed when dropped. Members
//! can be killed one at a time (the cluster goes on with two) or all at
//! once, and started again on their data. Clients reach them in clear, or
//! under TLS with client certificates required ([`Etcd::start_tls_or_skip`]).
//!
//! The `etcd` binary is Debian's `etcd-server` (`.ci/run` installs it), or
//! `$MOVA_ETCD`. Where there is none, a test says loudly that it did not
//! run — and fails instead when `MOVA_REQUIRE_ETCD` is set, as CI sets it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a cluster may take to elect a leader and answer.
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);

/// One member: its name, ports and process (none while stopped).
struct Member {
    name: String,
    client: u16,
    peer: u16,
    /// Where it answers `/health` in clear, whatever its clients use.
    metrics: u16,
    process: Option<Child>,
}

/// A three-member etcd cluster on loopback.
pub struct Etcd {
    binary: PathBuf,
    dir: PathBuf,
    members: Vec<Member>,
    /// The credentials its members serve clients with (`ca.pem`, `cert.pem`, `key.pem`), if under TLS.
    tls: Option<PathBuf>,
    /// `dir` is the cluster's own (made by [`Etcd::start_in_temp_or_skip`]): it goes with it.
    own_dir: bool,
}

impl Drop for Etcd {
    /// Kills the members and removes their data — each member preallocates
    /// a 64 MiB write-ahead log, over 350 MiB a cluster, which a test run
    /// must not leave behind — keeping their logs, unless the whole
    /// directory is the cluster's own.
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill_member(i);
            let _ = std::fs::remove_dir_all(self.dir.join(&self.members[i].name));
        }
        if self.own_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The etcd binary, or `None` after saying that `test` did not run (a
/// failure instead under `MOVA_REQUIRE_ETCD`).
pub fn binary_or_skip(test: &str) -> Option<PathBuf> {
    let binary = std::env::var_os("MOVA_ETCD").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("etcd"));
    let found = Command::new(&binary).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if found.is_ok_and(|s| s.success()) {
        return Some(binary);
    }
    let message =
        format!("{test} NOT RUN: no etcd here (install Debian's etcd-server, or set MOVA_ETCD to an etcd binary)");
    // Straight to the process's stderr: the harness captures eprintln! of a passing test.
    let _ = std::io::stderr().write_all(format!("\n!!!!!!!! {message} !!!!!!!!\n\n").as_bytes());
    assert!(std::env::var_os("MOVA_REQUIRE_ETCD").is_none(), "{message}");
    None
}

/// Ports nothing listens on now (bound at once, then closed).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port")).collect();
    held.iter().map(|l| l.local_addr().expect("bound").port()).collect()
}

impl Etcd {
    /// [`Etcd::start_or_skip`] in a directory of the system's temp dir that
    /// goes with the cluster (for tests without a scratch directory).
    pub fn start_in_temp_or_skip(test: &str) -> Option<Etcd> {
        let dir = std::env::temp_dir().join(format!("mova-etcd-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir for etcd");
        let mut etcd = Etcd::start_or_skip(&dir, test);
        match &mut etcd {
            Some(etcd) => etcd.own_dir = true,
            None => {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        etcd
    }

    /// Starts a cluster with its data under `dir`, or says that `test` did
    /// not run (see the module's doc) and returns `None`.
    pub fn start_or_skip(dir: &Path, test: &str) -> Option<Etcd> {
        Etcd::start_with(dir, test, None)
    }

    /// [`Etcd::start_or_skip`], its clients served under TLS with the
    /// credentials in `credentials` (`hv tls-init` makes them: `ca.pem`,
    /// and `cert.pem`/`key.pem` naming 127.0.0.1), and required to show a
    /// certificate that `ca.pem` signed (`--client-cert-auth`).
    pub fn start_tls_or_skip(dir: &Path, test: &str, credentials: &Path) -> Option<Etcd> {
        Etcd::start_with(dir, test, Some(credentials.to_path_buf()))
    }

    fn start_with(dir: &Path, test: &str, tls: Option<PathBuf>) -> Option<Etcd> {
        let binary = binary_or_skip(test)?;
        let ports = free_ports(9);
        let members = (0..3)
            .map(|i| Member {
                name: format!("m{i}"),
                client: ports[3 * i],
                peer: ports[3 * i + 1],
                metrics: ports[3 * i + 2],
                process: None,
            })
            .collect();
        let mut etcd = Etcd { binary, dir: dir.to_path_buf(), members, tls, own_dir: false };
        for i in 0..3 {
            etcd.start_member(i);
        }
        etcd.wait_healthy();
        Some(etcd)
    }

    /// The members' client URLs, as `--cluster` takes them.
    pub fn urls(&self) -> String {
        self.members.iter().map(|m| self.client_url(m)).collect::<Vec<_>>().join(",")
    }

    fn client_url(&self, member: &Member) -> String {
        format!("{}://127.0.0.1:{}", if self.tls.is_some() { "https" } else { "http" }, member.client)
    }

    fn start_member(&mut self, i: usize) {
        let initial: Vec<String> =
            self.members.iter().map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer)).collect();
        let member = &self.members[i];
        let (client, peer) = (self.client_url(member), format!("http://127.0.0.1:{}", member.peer));
        let log = std::fs::File::create(self.dir.join(format!("{}.log", member.name))).expect("a log file");
        let mut command = Command::new(&self.binary);
        if let Some(credentials) = &self.tls {
            command
                .arg("--cert-file")
                .arg(credentials.join("cert.pem"))
                .arg("--key-file")
                .arg(credentials.join("key.pem"))
                .arg("--trusted-ca-file")
                .arg(credentials.join("ca.pem"))
                .arg("--client-cert-auth");
        }
        let process = command
            .args(["--name", &member.name])
            .args(["--listen-metrics-urls", &format!("http://127.0.0.1:{}", member.metrics)])
            .arg("--data-dir")
            .arg(self.dir.join(&member.name))
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial.join(","), "--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "mova-test"])
            // Fast elections on loopback: a killed member's leadership moves within a second.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        self.members[i].process = Some(process);
    }

    /// Kills member `i` (SIGKILL); the other two go on as a cluster.
    pub fn kill_member(&mut self, i: usize) {
        if let Some(mut process) = self.members[i].process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// The running member that leads the cluster now, as one of them says
    /// (a cluster in clear: this asks its JSON gateway).
    pub fn leader(&self) -> usize {
        assert!(self.tls.is_none(), "leader() asks the members in clear");
        let running = || self.members.iter().enumerate().filter(|(_, m)| m.process.is_some());
        for _ in 0..100 {
            let said = running().find_map(|(_, m)| post(m.client, "/v3/maintenance/status", "{}"));
            if let Some(leader) = said.as_deref().and_then(|s| string_field(s, "leader")) {
                let led = running().find(|(_, m)| {
                    post(m.client, "/v3/maintenance/status", "{}")
                        .is_some_and(|s| string_field(&s, "member_id").as_deref() == Some(leader.as_str()))
                });
                if let Some((i, _)) = led {
                    return i;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no member of the etcd cluster in {} says who leads it", self.dir.display());
    }

    /// Kills every member: the cluster cannot be reached.
    pub fn stop(&mut self) {
        for i in 0..self.members.len() {
            self.kill_member(i);
        }
    }

    /// Starts every stopped member again on its data, and waits until the cluster answers.
    pub fn restart(&mut self) {
        for i in 0..self.members.len() {
            if self.members[i].process.is_none() {
                self.start_member(i);
            }
        }
        self.wait_healthy();
    }

    /// Waits until a running member says the cluster is healthy (it has a leader and answers).
    fn wait_healthy(&self) {
        let started = Instant::now();
        while started.elapsed() < HEALTHY_WITHIN {
            if self.members.iter().filter(|m| m.process.is_some()).any(|m| healthy(m.metrics)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the etcd cluster in {} did not become healthy within {HEALTHY_WITHIN:?}", self.dir.display());
    }
}

/// Whether the member at `port` answers its `/health` with `"health":"true"`.
fn healthy(port: u16) -> bool {
    http(port, &format!("GET /health HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"))
        .is_some_and(|answer| answer.contains("\"health\":\"true\""))
}

/// The answer of the member at `port` to `body` POSTed to its JSON gateway at `path`.
fn post(port: u16, path: &str, body: &str) -> Option<String> {
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http(port, &request)
}

/// One HTTP/1.0 exchange with the member at `port`: the whole answer.
fn http(port: u16, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// The string value of `"name":"…"` in a JSON text (the gateway writes ids as strings).
fn string_field(json: &str, name: &str) -> Option<String> {
    let start = json.find(&format!("\"{name}\":\""))? + name.len() + 4;
    let end = json[start..].find('"')?;
    Some(json[start..start + end].to_string())
}
