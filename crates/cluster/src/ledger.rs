//! Migrations recorded in etcd ([`EtcdLedger`], a [`Ledger`]), so that any
//! controller of the fleet can finish one whose controller died.
//!
//! ## Keys
//!
//! - `/mova/migrations/SOURCE` — the migration's [`Record`] (JSON), with no
//!   lease: it outlives its controller.
//! - `/mova/migration-owners/SOURCE` — the controller that drives it, under
//!   that controller's lease: the lock. A controller that dies lets it go
//!   when its lease lapses ([`CONTROLLER_TTL`]); one that gives a record up
//!   deletes it at once.
//!
//! ## Transactions
//!
//! A controller takes a VM by creating its owner key in one transaction
//! that requires neither key to exist, and writes every step with a
//! transaction that requires it still to own the record and the record to
//! be the one it last wrote (its modification revision): a controller whose
//! lease lapsed, or whose record another controller settled, can no longer
//! write — least of all the commit. The commit point is the transaction
//! that writes [`Step::Committed`]: before it the migration is aborted by
//! whoever settles it, after it completed. A transaction whose answer was
//! lost is sent again with the same compare (at most one of the two can
//! succeed), and a compare that fails is read back: this controller's own
//! earlier try, or another's write. A commit read back as committed is
//! committed, whoever holds the record by then (a controller whose lease
//! lapsed while its answer was lost). Only when no member answers at all, or
//! the record was settled and removed meanwhile, is a commit's outcome
//! unknown here; the record, or its settler, decides — never a guess.

use crate::etcd::{Cluster, ClusterError};
use etcd_client::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse};
use std::sync::Arc;
use std::time::Duration;
use vm_host::migration::{Begin, Found, Ledger, Record, Recorded, Settled, Step, Uncommitted, Unfinished};
use vm_host::HvError;

/// Where the migrations' records live, one key per source instance.
pub const RECORDS: &str = "/mova/migrations/";
/// Where their owners live, under the owning controller's lease.
pub const OWNERS: &str = "/mova/migration-owners/";
/// How long a controller that stops renewing its lease keeps its records locked.
pub const CONTROLLER_TTL: Duration = Duration::from_secs(5);
/// The largest record read back.
const MAX_RECORD: usize = 4096;

/// The environment variable that stops (`SIGSTOP`) a controller right after
/// it has recorded the step it names — `begun`, `sending`, `taken`,
/// `committed` — or just before it writes the commit (`committing`: the
/// source is `moving`) or removes a settled record (`finishing`), so that a
/// test can kill it there, or cut the cluster and let it go on.
pub const STOP_AFTER: &str = "MOVA_CLUSTER_STOP_AFTER";

/// The fleet's etcd as the ledger of migrations. Holds a controller lease,
/// kept alive in the background while the ledger lives and revoked when it
/// is dropped.
pub struct EtcdLedger {
    cluster: Arc<Cluster>,
    /// Who this controller is, as its owner keys say: `HOST pid PID (ID)`.
    controller: String,
    lease: i64,
    keeper: tokio::task::JoinHandle<()>,
}

impl EtcdLedger {
    /// Takes a controller lease in `cluster`: refused, with the cluster's
    /// error, when it cannot be reached — no migration starts without it.
    pub fn new(cluster: Arc<Cluster>, host: &str) -> Result<EtcdLedger, ClusterError> {
        let ttl = CONTROLLER_TTL.as_secs() as i64;
        let lease = cluster.call(|mut c| async move { c.lease_grant(ttl, None).await })?.id();
        let members = cluster.members();
        let keeper = cluster.spawn(async move {
            loop {
                tokio::time::sleep(CONTROLLER_TTL / 5).await;
                // A renewal that fails is tried again; the lease lapses only if none succeeds for its TTL.
                let _ = members
                    .call(|mut c| async move {
                        let (mut keeper, mut stream) = c.lease_keep_alive(lease).await?;
                        keeper.keep_alive().await?;
                        stream.message().await
                    })
                    .await;
            }
        });
        let controller = format!("{host} pid {} ({})", std::process::id(), vm_host::random_hex(4));
        Ok(EtcdLedger { cluster, controller, lease, keeper })
    }

    /// The cluster it records in.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    fn failed(e: ClusterError) -> HvError {
        HvError::Ledger(format!("{e}; no migration starts or commits without its record"))
    }

    /// Makes this controller the owner of `source`'s record when nobody
    /// owns it (and, if `fresh`, no record exists): the record's modification
    /// revision if one exists, or why not.
    fn take(&self, source: &str, fresh: bool) -> Result<Result<Option<i64>, Taken>, ClusterError> {
        let (record, owner) = (format!("{RECORDS}{source}"), format!("{OWNERS}{source}"));
        let mut when = vec![Compare::version(owner.clone(), CompareOp::Equal, 0)];
        if fresh {
            when.push(Compare::version(record.clone(), CompareOp::Equal, 0));
        }
        let put = TxnOp::put(
            owner.clone(),
            self.controller.clone(),
            Some(etcd_client::PutOptions::new().with_lease(self.lease)),
        );
        let txn = Txn::new()
            .when(when)
            .and_then([put, TxnOp::get(record.clone(), None)])
            .or_else([TxnOp::get(owner, None), TxnOp::get(record, None)]);
        let answer = self.cluster.call(|mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })?;
        let got = |i: usize| -> Option<etcd_client::KeyValue> {
            match answer.op_responses().into_iter().nth(i) {
                Some(TxnOpResponse::Get(get)) => get.kvs().first().cloned(),
                _ => None,
            }
        };
        if answer.succeeded() {
            return Ok(Ok(got(1).map(|kv| kv.mod_revision())));
        }
        Ok(match got(0) {
            // This controller's own earlier try, whose answer was lost.
            Some(owner) if owner.value() == self.controller.as_bytes() => Ok(got(1).map(|kv| kv.mod_revision())),
            // Shown to the user: what etcd holds is anyone's to write, so at most 200 bytes of it.
            Some(owner) => {
                Err(Taken::By(String::from_utf8_lossy(&owner.value()[..owner.value().len().min(200)]).into_owned()))
            }
            None => Err(Taken::Unfinished),
        })
    }
}

/// Why [`EtcdLedger::take`] did not take a record.
enum Taken {
    /// Another controller owns it.
    By(String),
    /// It exists, with no owner: a gone controller's.
    Unfinished,
}

impl Drop for EtcdLedger {
    fn drop(&mut self) {
        self.keeper.abort();
        let lease = self.lease;
        self.cluster.tidy(|mut c| async move { c.lease_revoke(lease).await });
    }
}

impl Ledger for EtcdLedger {
    fn begin(&self, source: &str) -> Result<Box<dyn Recorded>, Begin> {
        if !vm_host::registry::is_hex_id(source) {
            return Err(Begin::Failed(HvError::Ledger(format!("{source:?} is not an instance id"))));
        }
        match self.take(source, true) {
            Ok(Ok(_)) => {
                stop_if_asked("begun");
                Ok(Box::new(self.recorded(source, None)))
            }
            Ok(Err(Taken::By(controller))) => Err(Begin::Busy(format!(
                "busy: controller {controller} is migrating this VM or settling its migration (the cluster's record \
                 of it is the lock)"
            ))),
            Ok(Err(Taken::Unfinished)) => Err(Begin::Unfinished),
            Err(e) => Err(Begin::Failed(Self::failed(e))),
        }
    }

    fn unfinished(&self) -> Result<Vec<Found>, HvError> {
        let options = etcd_client::GetOptions::new().with_prefix().with_keys_only();
        let keys = self
            .cluster
            .call(|mut c| {
                let options = options.clone();
                async move { c.get(RECORDS, Some(options)).await }
            })
            .map_err(Self::failed)?;
        let mut found = Vec::new();
        for kv in keys.kvs() {
            let Some(instance) = std::str::from_utf8(kv.key()).ok().and_then(|k| k.strip_prefix(RECORDS)) else {
                continue;
            };
            let instance = instance.to_string();
            let left = |line: String, decided: bool| Unfinished::Left(Settled { line, decided });
            let what = match self.take(&instance, false).map_err(Self::failed)? {
                Err(Taken::By(controller)) => left(
                    format!(
                        "in progress: the migration of instance {instance} is held by controller {controller}; left \
                         alone (if that controller is gone, its lock lapses within {} s)",
                        CONTROLLER_TTL.as_secs()
                    ),
                    true,
                ),
                Err(Taken::Unfinished) => continue, // Settled and removed meanwhile.
                Ok(revision) => {
                    let mut recorded = self.recorded(&instance, revision);
                    match recorded.read().map_err(Self::failed)? {
                        Stored::Record(record) if record.check() && record.source.instance == instance => {
                            Unfinished::Taken(Box::new(recorded), Some(record))
                        }
                        Stored::Missing => continue, // Settled and removed meanwhile.
                        _ => {
                            Box::new(recorded).keep();
                            left(
                                format!(
                                    "skipped: the cluster's {RECORDS}{instance} is not a migration record; remove it"
                                ),
                                false,
                            )
                        }
                    }
                }
            };
            found.push(Found { instance, what });
        }
        Ok(found)
    }

    fn commits(&self) -> bool {
        true
    }
}

impl EtcdLedger {
    fn recorded(&self, source: &str, revision: Option<i64>) -> EtcdRecord {
        EtcdRecord {
            cluster: Arc::clone(&self.cluster),
            record: format!("{RECORDS}{source}"),
            owner: format!("{OWNERS}{source}"),
            controller: self.controller.clone(),
            revision,
            keep: false,
        }
    }
}

/// A record as read back: untrusted.
enum Stored {
    Missing,
    Invalid,
    Record(Record),
}

/// One migration's record, owned by this controller.
struct EtcdRecord {
    cluster: Arc<Cluster>,
    record: String,
    owner: String,
    controller: String,
    /// The record's modification revision as this controller last wrote (or
    /// read) it; `None` before the first write.
    revision: Option<i64>,
    keep: bool,
}

impl EtcdRecord {
    /// The record as stored.
    fn read(&mut self) -> Result<Stored, ClusterError> {
        let key = self.record.clone();
        let answer = self.cluster.call(|mut c| {
            let key = key.clone();
            async move { c.get(key, None).await }
        })?;
        Ok(match answer.kvs().first() {
            None => Stored::Missing,
            Some(kv) if kv.value().len() > MAX_RECORD => Stored::Invalid,
            Some(kv) => serde_json::from_slice(kv.value()).map_or(Stored::Invalid, Stored::Record),
        })
    }

    /// Writes `record` if this controller still owns it and it is the one
    /// it last wrote; otherwise says what the record is now.
    ///
    /// A try whose answer was lost is sent again (to the next member), with
    /// the same compare: at most one of the two can succeed. When the
    /// compare fails, what it found tells: this very record under this
    /// controller is its own earlier try, which succeeded; anything else is
    /// another's write, and the later arrival of an earlier try fails its
    /// compare too. So a commit is never both reported failed and done.
    fn swap(&mut self, record: &Record) -> Result<Swap, ClusterError> {
        let value = serde_json::to_string(record).map_err(|e| self.cluster.unreachable(e.to_string()))?;
        let unchanged = match self.revision {
            Some(revision) => Compare::mod_revision(self.record.clone(), CompareOp::Equal, revision),
            None => Compare::version(self.record.clone(), CompareOp::Equal, 0),
        };
        let owned = Compare::value(self.owner.clone(), CompareOp::Equal, self.controller.clone());
        let txn = Txn::new()
            .when([owned, unchanged])
            .and_then([TxnOp::put(self.record.clone(), value.clone(), None)])
            .or_else([TxnOp::get(self.owner.clone(), None), TxnOp::get(self.record.clone(), None)]);
        let answer = self.cluster.call(|mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })?;
        if answer.succeeded() {
            self.revision = answer.header().map(|h| h.revision());
            return Ok(Swap::Written);
        }
        let found: Vec<Option<etcd_client::KeyValue>> = answer
            .op_responses()
            .into_iter()
            .map(|op| match op {
                TxnOpResponse::Get(get) => get.kvs().first().cloned(),
                _ => None,
            })
            .collect();
        let (owner, stored) = (found.first().cloned().flatten(), found.get(1).cloned().flatten());
        let Some(stored) = stored else { return Ok(Swap::Removed) };
        if owner.is_some_and(|owner| owner.value() == self.controller.as_bytes()) && stored.value() == value.as_bytes()
        {
            self.revision = Some(stored.mod_revision());
            return Ok(Swap::Written);
        }
        // Whoever holds it now, the record says whether the migration committed.
        let committed = serde_json::from_slice::<Record>(stored.value())
            .is_ok_and(|now| now.step == Step::Committed && now.source.instance == record.source.instance);
        Ok(Swap::Refused { committed })
    }

    fn lost() -> String {
        "this controller no longer holds the cluster's record of the migration (its lease lapsed while the cluster \
         could not be reached, or another controller settled it)"
            .into()
    }
}

/// What [`EtcdRecord::swap`] did.
enum Swap {
    /// Wrote the record: this try, or an earlier one whose answer was lost.
    Written,
    /// Wrote nothing: this controller no longer holds the record, or it
    /// changed since; whether it now says the migration `committed`.
    Refused { committed: bool },
    /// Wrote nothing: the record is gone, settled and removed by another
    /// controller (which may have found this one's commit there).
    Removed,
}

impl Recorded for EtcdRecord {
    fn write(&mut self, record: &Record) -> Result<(), HvError> {
        match self.swap(record) {
            Ok(Swap::Written) => {
                stop_if_asked(step_name(record.step));
                Ok(())
            }
            Ok(_) => Err(HvError::Ledger(Self::lost())),
            Err(e) => Err(EtcdLedger::failed(e)),
        }
    }

    fn commit(&mut self, record: &Record) -> Result<(), Uncommitted> {
        stop_if_asked("committing");
        match self.swap(record) {
            // Committed by a try of this controller's whose answer was lost, even if the record has
            // since passed to a controller settling it: the record decides, and it says committed.
            Ok(Swap::Written | Swap::Refused { committed: true }) => {
                stop_if_asked(step_name(record.step));
                Ok(())
            }
            Ok(Swap::Refused { committed: false }) => Err(Uncommitted::Not(HvError::Ledger(Self::lost()))),
            // Whether it had committed went with the record; its settler acted on it.
            Ok(Swap::Removed) => Err(Uncommitted::Unknown(HvError::Ledger(
                "another controller settled the migration and removed its record meanwhile; `hv status` both VMs"
                    .into(),
            ))),
            // No member answered: a try may still be carried out; the record tells, later.
            Err(e) => Err(Uncommitted::Unknown(HvError::Ledger(e.to_string()))),
        }
    }

    fn keep(mut self: Box<Self>) {
        self.keep = true;
    }
}

impl Drop for EtcdRecord {
    /// Settled: the record and its owner go (only while this controller owns
    /// it); kept: only the owner goes, so that a recovery may take it at once.
    fn drop(&mut self) {
        if !self.keep {
            stop_if_asked("finishing");
        }
        let owned = Compare::value(self.owner.clone(), CompareOp::Equal, self.controller.clone());
        let mut delete = vec![TxnOp::delete(self.owner.clone(), None)];
        if !self.keep {
            delete.push(TxnOp::delete(self.record.clone(), None));
        }
        let txn = Txn::new().when([owned]).and_then(delete);
        // Best effort: what is not deleted now is settled again by a later `hv recover`.
        self.cluster.tidy(|mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        });
    }
}

/// The name [`STOP_AFTER`] gives `step`.
fn step_name(step: Step) -> &'static str {
    match step {
        Step::Sending => "sending",
        Step::Taken => "taken",
        Step::HandedOff => "handed-off",
        Step::Resuming => "resuming",
        Step::Committed => "committed",
    }
}

/// Stops this process if [`STOP_AFTER`] names `step`.
fn stop_if_asked(step: &str) {
    if std::env::var(STOP_AFTER).is_ok_and(|wanted| wanted == step) {
        // SAFETY: raise(2) with a valid signal number; no memory is involved.
        unsafe { libc::raise(libc::SIGSTOP) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::etcd::Etcd;
    use vm_host::migration::Party;

    fn cluster(name: &str) -> Option<(Etcd, Arc<Cluster>)> {
        let etcd = Etcd::start_in_temp_or_skip(name)?;
        let cluster = Arc::new(Cluster::connect(&etcd.urls(), &vm_host::tls::Policy::default()).unwrap());
        Some((etcd, cluster))
    }

    fn record(step: Step) -> Record {
        let party = |instance: &str| Party {
            name: instance.into(),
            endpoint: "127.0.0.1:1".into(),
            instance: instance.into(),
            lease: "ab".repeat(16),
        };
        Record { source: party("00000000000000aa"), target: party("00000000000000bb"), source_was_running: true, step }
    }

    fn put(cluster: &Cluster, key: &str, value: &[u8]) {
        let (key, value) = (key.to_string(), value.to_vec());
        cluster
            .call(|mut c| {
                let (key, value) = (key.clone(), value.clone());
                async move { c.put(key, value, None).await }
            })
            .unwrap();
    }

    #[test]
    fn one_controller_holds_a_vm_and_one_whose_record_was_taken_can_commit_nothing() {
        let Some((_etcd, cluster)) = cluster("one_controller_holds_a_vm") else { return };
        let first = EtcdLedger::new(Arc::clone(&cluster), "host-a").unwrap();
        let second = EtcdLedger::new(Arc::clone(&cluster), "host-b").unwrap();
        let mut held = first.begin("00000000000000aa").ok().unwrap();
        match second.begin("00000000000000aa") {
            Err(Begin::Busy(why)) => assert!(why.starts_with("busy: controller host-a pid "), "{why}"),
            _ => panic!("a second controller took a held VM"),
        }
        held.write(&record(Step::Sending)).unwrap();
        // The first controller's lease lapses (revoked here): a recovery takes the record over…
        let lease = first.lease;
        cluster.call(|mut c| async move { c.lease_revoke(lease).await }).unwrap();
        let found = second.unfinished().unwrap();
        assert_eq!(found.len(), 1);
        assert!(matches!(&found[0].what, Unfinished::Taken(_, Some(r)) if *r == record(Step::Sending)));
        // …and the first can no longer write, least of all commit: it certainly did not commit.
        let err = held.write(&record(Step::Taken)).unwrap_err().to_string();
        assert!(err.starts_with("this controller no longer holds the cluster's record"), "{err}");
        assert!(matches!(held.commit(&record(Step::Committed)), Err(Uncommitted::Not(_))));
        drop(found);
        // Settled by the recovery (dropped: removed): nothing is left.
        assert!(second.unfinished().unwrap().is_empty());
    }

    /// A cluster, a controller on it (`host-a`), and the record of VM
    /// `00000000000000aa` it took; the record holds no migration yet.
    fn held(name: &str) -> Option<(Etcd, Arc<Cluster>, EtcdLedger, EtcdRecord)> {
        let (etcd, cluster) = cluster(name)?;
        let source = "00000000000000aa";
        let ledger = EtcdLedger::new(Arc::clone(&cluster), "host-a").unwrap();
        assert!(matches!(ledger.take(source, true), Ok(Ok(None))));
        let recorded = ledger.recorded(source, None);
        Some((etcd, cluster, ledger, recorded))
    }

    /// A controller's try whose answer is lost: it was carried out, and the
    /// controller still knows the revision before it.
    fn answer_lost(recorded: &mut EtcdRecord, record: &Record) {
        let before = recorded.revision;
        assert!(matches!(recorded.swap(record).unwrap(), Swap::Written));
        recorded.revision = before;
    }

    fn outcome(recorded: &mut EtcdRecord, record: &Record) -> &'static str {
        match recorded.commit(record) {
            Ok(()) => "committed",
            Err(Uncommitted::Not(_)) => "not committed",
            Err(Uncommitted::Unknown(_)) => "unknown",
        }
    }

    #[test]
    fn a_commit_whose_answer_was_lost_is_read_back_as_committed_never_as_not() {
        let Some((_etcd, cluster, first, mut held)) = held("a_commit_whose_answer_was_lost") else { return };
        // Taking sent twice: the second finds the first's owner key, its own.
        assert!(matches!(first.take("00000000000000aa", true), Ok(Ok(None))));
        answer_lost(&mut held, &record(Step::Sending));
        held.write(&record(Step::Sending)).unwrap();
        // The commit is carried out and its answer lost: sent again, it is its own earlier try.
        answer_lost(&mut held, &record(Step::Committed));
        assert_eq!(outcome(&mut held, &record(Step::Committed)), "committed");
        // Lost again, and meanwhile the controller's lease lapsed and another controller took the
        // record to settle it: it is committed all the same, as the record says to its settler.
        answer_lost(&mut held, &record(Step::Committed));
        let lease = first.lease;
        cluster.call(|mut c| async move { c.lease_revoke(lease).await }).unwrap();
        let second = EtcdLedger::new(Arc::clone(&cluster), "host-b").unwrap();
        let found = second.unfinished().unwrap();
        assert!(matches!(&found[..], [Found { what: Unfinished::Taken(_, Some(r)), .. }] if r.step == Step::Committed));
        assert_eq!(outcome(&mut held, &record(Step::Committed)), "committed");
        // Settled and removed by it: whether it committed went with the record.
        drop(found);
        assert_eq!(outcome(&mut held, &record(Step::Committed)), "unknown");
    }

    #[test]
    fn a_commit_refused_by_a_record_that_moved_on_is_not_committed() {
        let Some((_etcd, _, ledger, mut held)) = held("a_commit_refused_by_a_record") else { return };
        held.write(&record(Step::Sending)).unwrap();
        // A step written since the revision this copy of the record knows (by another of its
        // writers): the commit's compare fails and the record does not say committed.
        let mut stale = ledger.recorded("00000000000000aa", held.revision);
        held.write(&record(Step::Taken)).unwrap();
        assert_eq!(outcome(&mut stale, &record(Step::Committed)), "not committed");
        assert_eq!(outcome(&mut held, &record(Step::Committed)), "committed");
    }

    #[test]
    fn a_record_that_is_not_a_migration_is_left_and_named() {
        let Some((_etcd, cluster)) = cluster("a_record_that_is_not_a_migration") else { return };
        put(&cluster, &format!("{RECORDS}00000000000000cc"), b"{not json");
        put(&cluster, &format!("{RECORDS}00000000000000dd"), &vec![b' '; MAX_RECORD + 1]);
        let mut other = record(Step::Taken);
        other.source.instance = "00000000000000ff".into();
        put(&cluster, &format!("{RECORDS}00000000000000ee"), serde_json::to_string(&other).unwrap().as_bytes());
        let mut escaping = record(Step::Taken);
        escaping.source.instance = "00000000000000fa".into();
        escaping.target.name = "\u{1b}]0;owned\u{7}".into();
        put(&cluster, &format!("{RECORDS}00000000000000fa"), serde_json::to_string(&escaping).unwrap().as_bytes());
        let ledger = EtcdLedger::new(Arc::clone(&cluster), "host-a").unwrap();
        let lines: Vec<String> = ledger
            .unfinished()
            .unwrap()
            .into_iter()
            .map(|found| match found.what {
                Unfinished::Left(settled) => {
                    assert!(!settled.decided);
                    settled.line
                }
                Unfinished::Taken(..) => panic!("took {}", found.instance),
            })
            .collect();
        let skipped = |i: &str| format!("skipped: the cluster's {RECORDS}{i} is not a migration record; remove it");
        assert_eq!(
            lines,
            [
                skipped("00000000000000cc"),
                skipped("00000000000000dd"),
                skipped("00000000000000ee"),
                skipped("00000000000000fa")
            ]
        );
        // Left where they were, for a person to look at.
        assert_eq!(ledger.unfinished().unwrap().len(), 4);
    }
}
