//! The runtime directory as a migration ledger, raced by a second `hv`.
//!
//! One process plays both: `flock` locks belong to open file descriptions,
//! so two threads that each open the record contend exactly as two `hv`
//! processes on one host do.

use std::time::{Duration, Instant};

use vm_host::migration::{Begin, Ledger, RuntimeDir, Unfinished};

/// `hv recover` running beside `hv migrate` never makes the migration's start
/// fail: a record is locked from the moment it can be seen, so a recovery
/// finds it held (a migration in progress) or not at all, and never takes
/// (and removes) a record its migration has created but not yet locked.
#[test]
fn a_recovery_beside_a_starting_migration_never_takes_its_record() {
    let dir = Scratch(std::env::temp_dir().join(format!("mova-ledger-race-{}", std::process::id())));
    // The only test in this binary: nothing else reads the environment meanwhile.
    std::env::set_var("MOVA_RUNTIME_DIR", &dir.0);
    let until = Instant::now() + Duration::from_secs(1);
    let recovering = std::thread::spawn(move || {
        let mut taken = 0;
        while Instant::now() < until {
            for found in RuntimeDir.unfinished().unwrap() {
                // Dropping what was taken removes it, as `hv recover` does with an empty record.
                taken += usize::from(matches!(found.what, Unfinished::Taken(..)));
            }
        }
        taken
    });
    let mut started = 0;
    while Instant::now() < until {
        match RuntimeDir.begin("5eed") {
            Ok(record) => drop(record),
            Err(Begin::Busy(why)) => panic!("start {started} refused: {why}"),
            Err(Begin::Unfinished) => panic!("start {started} found an unfinished record"),
            Err(Begin::Failed(e)) => panic!("start {started} failed: {e}"),
        }
        started += 1;
    }
    assert_eq!(recovering.join().unwrap(), 0, "the recovery took a record of a live migration");
    let left: Vec<_> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "each migration removed its record and nothing else is left: {left:?}");
}

/// The runtime directory of the test, removed with it.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
