//! # vm-cluster: a fleet of hosts on etcd
//!
//! One host needs nothing of this crate: its runtime directory is the
//! registry and the ledger of migrations (`vm-host`). A fleet of hosts
//! shares one etcd cluster — an existing, tested consensus store; we write
//! none of our own — for three things:
//!
//! - **who runs where** ([`registration`]): every VM started with
//!   `--cluster` keeps an entry under a lease of its own (host, endpoint,
//!   instance, machine, program hash, state), gone when the VM ends or its
//!   lease lapses; `hv ps --cluster` lists them all;
//! - **migrations any controller can finish** ([`ledger`]): each migration
//!   is a record advanced by compare-and-swap transactions, locked by its
//!   controller's lease, with one transaction as its commit point, so that
//!   `hv recover` anywhere completes what committed and aborts the rest;
//! - **draining a host** ([`drain`]): a plan that moves every VM off a host
//!   to waiting VMs on the others, run a few at a time.
//!
//! Every call to etcd has a deadline ([`CALL_TIMEOUT`]): an unreachable
//! cluster is an error within seconds, and never stops a running program.

#![warn(missing_docs)]

pub mod drain;
mod etcd;
pub mod ledger;
pub mod registration;

pub use etcd::{check_urls, Cluster, ClusterError, Member, CALL_TIMEOUT};
pub use ledger::EtcdLedger;
pub use registration::{list, Registrar, Registration};
