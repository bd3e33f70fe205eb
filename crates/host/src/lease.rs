//! The lease state machine: a VM's mode and lease, and what each control
//! command may do to them — `docs/protocol.md`'s tables, as code. It is
//! pure: state + command (+ the time) → new state + the [`Step`] the VM
//! thread then carries out on its machine and answers. No socket, no
//! machine, no clock of its own, so every transition is tested here alone.

use crate::protocol::{same_secret, Command};
use std::time::{Duration, Instant};

/// The VM's mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The program runs.
    Running,
    /// Stopped at an instruction boundary, with a state.
    Interrupted,
    /// No state yet (`--wait`, or a restored state dropped).
    Waiting,
    /// The state was handed to VM `to`; only the lease holder can commit or abort.
    Moving {
        /// The target's instance id.
        to: String,
    },
    /// The program runs while its state is sent to a target (a `send`'s
    /// pre-copy); the lease is for the stop at its end.
    Sending,
}

impl Mode {
    /// Its name on the wire (`status`, replies).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Mode::Running => "running",
            Mode::Interrupted => "interrupted",
            Mode::Waiting => "waiting",
            Mode::Moving { .. } => "moving",
            Mode::Sending => "migrating",
        }
    }
}

/// A granted lease: its secret, and when its holder last used it.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub(crate) id: String,
    pub(crate) used: Instant,
}

/// Says what a command presenting a lease may do.
enum Holder {
    /// It is the current lease.
    Mine,
    /// No lease, or one idle past the timeout (and neither moving nor provisional): takeable.
    Free,
    /// Someone else holds it: why not.
    Other(String),
}

/// What an allowed command does, for the VM thread to carry out and answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The lease was granted or renewed: `OK MODE lease=L POSITION` (when
    /// moving, `OK moving lease=L to=T POSITION`).
    Granted(String),
    /// Save the machine's state: `OK LEN` and the bytes.
    Save,
    /// Restore the payload into the machine under lease L; if the machine
    /// takes it, [`Leases::restored`], then `OK restored POSITION`.
    Restore(String),
    /// Run the program: `OK running`. `settled`: a provisional state ran.
    Run { settled: bool },
    /// The lease ended, the VM stays stopped: `OK released MODE`. `dropped`:
    /// a provisional state went with it.
    Released { dropped: bool },
    /// Handed off: `OK moving to=T`.
    Moving(String),
    /// Let a source stream a state here, under lease L: `OK accepting ticket=…`.
    Accept(String),
    /// Send the state to a target, under lease L; `running`: the program
    /// runs meanwhile (mode [`Mode::Sending`]), else it stays stopped.
    Send {
        /// The lease granted (or presented) for the stop at the end.
        lease: String,
        /// The program was running: pre-copy while it runs on, and given back running on a failure.
        running: bool,
    },
    /// Back from `moving`: `OK interrupted`.
    Aborted,
    /// The target runs the program: `OK moved`, and the process ends.
    Committed,
    /// `OK killed`, and the process ends.
    Killed,
}

/// A VM's mode and lease.
#[derive(Debug)]
pub(crate) struct Leases {
    pub(crate) mode: Mode,
    pub(crate) lease: Option<Lease>,
    /// The state was restored and its holder has not resumed it yet: it is
    /// the holder's alone, and dropped when the lease lapses.
    pub(crate) provisional: bool,
    /// How long a lease may go unused before another client may take it.
    pub(crate) timeout: Duration,
    /// This VM's instance id (a hand-off to itself is refused).
    pub(crate) instance: String,
    /// The VM is interrupted only to serve the requests queued while it
    /// ran (it runs on after them unless one takes it): a `send` then finds
    /// it running.
    pub(crate) serving_while_running: bool,
}

impl Leases {
    /// A VM in `mode`, with no lease.
    pub(crate) fn new(mode: Mode, timeout: Duration, instance: String) -> Leases {
        Leases { mode, lease: None, provisional: false, timeout, instance, serving_while_running: false }
    }

    /// True if `lease` is the lease this VM is held by.
    pub(crate) fn held_by(&self, lease: &str) -> bool {
        self.lease.as_ref().is_some_and(|l| l.id == lease)
    }

    fn moving(&self) -> bool {
        matches!(self.mode, Mode::Moving { .. })
    }

    /// Whether the lease binds: a provisional state's or a moving VM's lease
    /// never passes to another client.
    pub(crate) fn binding(&self) -> bool {
        self.provisional || self.moving() || self.mode == Mode::Sending
    }

    fn holder(&self, given: Option<&str>, now: Instant) -> Holder {
        match &self.lease {
            None => Holder::Free,
            Some(lease) if given.is_some_and(|g| same_secret(g.as_bytes(), lease.id.as_bytes())) => Holder::Mine,
            // A provisional state's lease never passes to another client: the
            // state is dropped when it lapses (`drop_lapsed`), before any request sees it.
            Some(lease) if !self.binding() && now.saturating_duration_since(lease.used) >= self.timeout => Holder::Free,
            Some(lease) => {
                let idle = now.saturating_duration_since(lease.used).as_secs();
                let why = match &self.mode {
                    Mode::Moving { to } => format!(
                        "busy: moving to instance {to}; held by lease {}… until its holder commits or aborts",
                        &lease.id[..4]
                    ),
                    _ if self.provisional => format!(
                        "busy: a restored state held by lease {}… (idle {idle} s; it is dropped if its holder \
                         does not resume it within {} s idle)",
                        &lease.id[..4],
                        self.timeout.as_secs()
                    ),
                    _ => format!(
                        "busy: held by lease {}… (idle {idle} s; another client may take it over after {} s idle)",
                        &lease.id[..4],
                        self.timeout.as_secs()
                    ),
                };
                Holder::Other(why)
            }
        }
    }

    /// The lease for a command that needs one: `Ok` if `given` holds it (renewed).
    fn check(&mut self, given: &str, now: Instant) -> Result<(), String> {
        match self.holder(Some(given), now) {
            Holder::Mine => {
                if let Some(lease) = &mut self.lease {
                    lease.used = now;
                }
                Ok(())
            }
            Holder::Other(why) => Err(why),
            Holder::Free => Err(format!(
                "not held: lease {} is not this VM's lease; take it with `interrupt` or `claim`",
                given.chars().take(8).collect::<String>()
            )),
        }
    }

    /// `interrupt` and `claim` on a stopped VM: the holder renews, a free
    /// lease is granted (`fresh` makes its secret).
    fn take(&mut self, given: Option<&str>, now: Instant, fresh: impl FnOnce() -> String) -> Result<String, String> {
        match self.holder(given, now) {
            Holder::Mine => {
                let lease = self.lease.as_mut().expect("the holder has a lease");
                lease.used = now;
                Ok(lease.id.clone())
            }
            Holder::Free => {
                let id = fresh();
                self.lease = Some(Lease { id: id.clone(), used: now });
                Ok(id)
            }
            Holder::Other(why) => Err(why),
        }
    }

    fn busy_moving(&self) -> String {
        match &self.mode {
            Mode::Moving { to } => format!("busy: moving to instance {to}; only its lease holder may commit or abort"),
            other => format!("{}: not moving", other.name()),
        }
    }

    /// Decides `command` (any but `auth`, `status` and `outcome`, which the
    /// listener answers) at `now`: the state changes and the step to carry
    /// out, or why not (the `ERR` text; nothing changed but a lease
    /// renewed). `fresh` makes a new lease's secret. A `restore`'s change
    /// waits for the machine: see [`Leases::restored`].
    pub(crate) fn apply(
        &mut self,
        command: &Command,
        now: Instant,
        fresh: impl FnOnce() -> String,
    ) -> Result<Step, String> {
        let moving = self.moving();
        let stops_it =
            matches!(command, Command::Interrupt(_) | Command::Claim(_) | Command::Kill(_) | Command::Send(_));
        if self.mode == Mode::Running && !stops_it {
            // Queued just as the VM resumed; the listener refuses these while it runs.
            return Err("running: interrupt it first".into());
        }
        if self.mode == Mode::Sending {
            return match command {
                // Anyone may end a running VM: the migration fails with it.
                Command::Kill(_) => Ok(Step::Killed),
                _ => Err("busy: migrating (its state is being sent to another VM while it runs)".into()),
            };
        }
        match command {
            Command::Claim(_) if self.mode == Mode::Running => {
                // Reached only when a request was queued just as the VM resumed.
                Err("running: interrupt it first".into())
            }
            Command::Interrupt(given) | Command::Claim(given) if !moving => {
                if self.mode == Mode::Running {
                    // Queued just as the VM resumed: it stops before running an instruction.
                    self.mode = Mode::Interrupted;
                }
                self.take(given.as_deref(), now, fresh).map(Step::Granted)
            }
            Command::Interrupt(given) | Command::Claim(given) => match self.holder(given.as_deref(), now) {
                // The holder renews its lease: `hv resume` or `hv release` after a lost migration.
                Holder::Mine => self.take(given.as_deref(), now, fresh).map(Step::Granted),
                _ => Err(self.busy_moving()),
            },
            Command::Save(given) => {
                self.check(given, now)?;
                match self.mode {
                    Mode::Waiting => Err("waiting: there is no state to save yet".into()),
                    Mode::Interrupted => Ok(Step::Save),
                    _ => Err(self.busy_moving()),
                }
            }
            Command::Restore(given, _) => {
                self.check(given, now)?;
                match moving {
                    true => Err(self.busy_moving()),
                    false => Ok(Step::Restore(given.clone())),
                }
            }
            Command::Resume(given) => {
                self.check(given, now)?;
                if self.mode == Mode::Waiting {
                    return Err("waiting: restore a state first".into());
                }
                // From `moving` this is the holder's abort: the target never ran the program.
                self.lease = None;
                self.mode = Mode::Running;
                Ok(Step::Run { settled: std::mem::take(&mut self.provisional) })
            }
            Command::Release(given) => {
                self.check(given, now)?;
                if moving {
                    self.mode = Mode::Interrupted;
                }
                let dropped = std::mem::take(&mut self.provisional);
                if dropped {
                    // Given up before it ran: nobody else may run it, so it goes.
                    self.mode = Mode::Waiting;
                }
                self.lease = None;
                Ok(Step::Released { dropped })
            }
            Command::Handoff(given, to) => {
                self.check(given, now)?;
                if *to == self.instance {
                    return Err("this VM is the target itself: a VM cannot hand its program to itself".into());
                }
                if self.mode != Mode::Interrupted {
                    return Err(format!("{}: only an interrupted VM with a state can hand it off", self.mode.name()));
                }
                if self.provisional {
                    return Err("the state was restored here and has not run: resume it before handing it on".into());
                }
                self.mode = Mode::Moving { to: to.clone() };
                Ok(Step::Moving(to.clone()))
            }
            Command::Abort(given) => {
                self.check(given, now)?;
                if !moving {
                    return Err(format!("{}: abort follows handoff", self.mode.name()));
                }
                self.mode = Mode::Interrupted;
                Ok(Step::Aborted)
            }
            Command::Commit(given) => {
                self.check(given, now)?;
                match moving {
                    true => Ok(Step::Committed),
                    false => Err(format!("{}: commit follows handoff", self.mode.name())),
                }
            }
            Command::Kill(given) => match self.holder(given.as_deref(), now) {
                Holder::Mine => Ok(Step::Killed),
                Holder::Free if !moving => Ok(Step::Killed),
                Holder::Free => Err(self.busy_moving()),
                Holder::Other(why) => Err(why),
            },
            Command::Accept(given) => {
                self.check(given, now)?;
                match self.mode {
                    Mode::Waiting => Ok(Step::Accept(given.clone())),
                    _ => Err(format!("{}: only a waiting VM accepts a state", self.mode.name())),
                }
            }
            Command::Send(order) => match (&self.mode, &order.lease) {
                (Mode::Running, None) | (Mode::Interrupted, None) if self.running_but_for_requests() => {
                    let id = fresh();
                    self.lease = Some(Lease { id: id.clone(), used: now });
                    self.mode = Mode::Sending;
                    Ok(Step::Send { lease: id, running: true })
                }
                (Mode::Running, Some(_)) => Err("running: a running VM is sent without a lease".into()),
                (_, given) => {
                    self.check(given.as_deref().unwrap_or(""), now)?;
                    match self.mode {
                        Mode::Interrupted if self.provisional => {
                            Err("the state was restored here and has not run: resume it before sending it on".into())
                        }
                        Mode::Interrupted => {
                            Ok(Step::Send { lease: given.clone().unwrap_or_default(), running: false })
                        }
                        Mode::Waiting => Err("waiting: there is no state to send".into()),
                        _ => Err(self.busy_moving()),
                    }
                }
            },
            Command::Auth(_) | Command::Status | Command::Outcome(_) | Command::Stream { .. } => {
                Err("internal: answered by the listener".into())
            }
        }
    }

    /// Running, or stopped only to serve requests with nobody holding it.
    fn running_but_for_requests(&self) -> bool {
        self.mode == Mode::Running
            || (self.mode == Mode::Interrupted && self.lease.is_none() && self.serving_while_running)
    }

    /// A `send` stopped the program for good and the target took the state:
    /// the VM is interrupted, held by the send's lease, for the hand-off.
    pub(crate) fn sent(&mut self) {
        self.mode = Mode::Interrupted;
    }

    /// A `send` failed or was abandoned: the program is given back as it
    /// was — running (the lease ends) or interrupted and still held.
    pub(crate) fn send_failed(&mut self, was_running: bool) {
        if was_running {
            self.mode = Mode::Running;
            self.lease = None;
        } else {
            self.mode = Mode::Interrupted;
        }
    }

    /// The machine took the state a [`Step::Restore`] carried: the VM holds
    /// it, provisionally, until its holder resumes it.
    pub(crate) fn restored(&mut self) {
        self.mode = Mode::Interrupted;
        self.provisional = true;
    }

    /// When a provisional state's lease lapses.
    pub(crate) fn lapse_due(&self) -> Option<Instant> {
        self.lease.as_ref().filter(|_| self.provisional).map(|lease| lease.used + self.timeout)
    }

    /// Drops a provisional state whose lease has lapsed by `now`: the VM
    /// waits again. True if it did.
    pub(crate) fn drop_lapsed(&mut self, now: Instant) -> bool {
        let lapsed = self.lapse_due().is_some_and(|due| now >= due);
        if lapsed {
            self.provisional = false;
            self.lease = None;
            self.mode = Mode::Waiting;
        }
        lapsed
    }
}

/// Transition by transition, the tables of `docs/protocol.md` (commands,
/// and leases: who may do what in each mode).
#[cfg(test)]
mod tests {
    use super::*;

    const HOLDER: &str = "1111111111111111aaaaaaaaaaaaaaaa";
    const OTHER: &str = "2222222222222222bbbbbbbbbbbbbbbb";
    const TIMEOUT: Duration = Duration::from_secs(60);

    fn start() -> Instant {
        Instant::now()
    }

    /// A VM in `mode`, held by HOLDER (used at `at`) if `held`.
    fn vm(mode: Mode, held: bool, at: Instant) -> Leases {
        let mut vm = Leases::new(mode, TIMEOUT, "self".into());
        if held {
            vm.lease = Some(Lease { id: HOLDER.into(), used: at });
        }
        vm
    }

    fn fresh() -> String {
        OTHER.to_string()
    }

    fn moving() -> Mode {
        Mode::Moving { to: "target".into() }
    }

    fn apply(vm: &mut Leases, command: Command, at: Instant) -> Result<Step, String> {
        vm.apply(&command, at, fresh)
    }

    fn mine(f: fn(String) -> Command) -> Command {
        f(HOLDER.into())
    }

    #[test]
    fn running_anyone_may_interrupt_or_kill_and_the_rest_is_refused() {
        let at = start();
        let mut v = vm(Mode::Running, false, at);
        assert_eq!(apply(&mut v, Command::Interrupt(None), at), Ok(Step::Granted(OTHER.into())));
        assert_eq!(v.mode, Mode::Interrupted);
        for command in [mine(Command::Save), mine(Command::Resume), mine(Command::Release), Command::Claim(None)] {
            let mut v = vm(Mode::Running, false, at);
            assert_eq!(apply(&mut v, command, at), Err("running: interrupt it first".into()));
            assert_eq!(v.mode, Mode::Running);
        }
        assert_eq!(apply(&mut vm(Mode::Running, false, at), Command::Kill(None), at), Ok(Step::Killed));
    }

    #[test]
    fn waiting_anyone_may_claim_and_only_the_holder_restores() {
        let at = start();
        let mut v = vm(Mode::Waiting, false, at);
        assert_eq!(apply(&mut v, Command::Claim(None), at), Ok(Step::Granted(OTHER.into())));
        let mut v = vm(Mode::Waiting, true, at);
        assert!(apply(&mut v, Command::Claim(None), at).unwrap_err().starts_with("busy: held by lease 1111…"));
        assert_eq!(apply(&mut v, Command::Restore(HOLDER.into(), 10), at), Ok(Step::Restore(HOLDER.into())));
        assert_eq!(v.mode, Mode::Waiting, "unchanged until the machine takes the state");
        assert_eq!(apply(&mut v, mine(Command::Save), at), Err("waiting: there is no state to save yet".into()));
        assert_eq!(apply(&mut v, mine(Command::Resume), at), Err("waiting: restore a state first".into()));
        let refused = apply(&mut v, Command::Restore(OTHER.into(), 10), at).unwrap_err();
        assert!(refused.starts_with("busy: held by lease 1111…"), "{refused}");
    }

    #[test]
    fn interrupted_the_holder_saves_resumes_releases_and_hands_off() {
        let at = start();
        let mut v = vm(Mode::Interrupted, true, at);
        assert_eq!(apply(&mut v, mine(Command::Save), at), Ok(Step::Save));
        assert_eq!(
            apply(&mut v, Command::Handoff(HOLDER.into(), "self".into()), at).unwrap_err(),
            "this VM is the target itself: a VM cannot hand its program to itself"
        );
        assert_eq!(apply(&mut v, mine(Command::Abort), at), Err("interrupted: abort follows handoff".into()));
        assert_eq!(apply(&mut v, mine(Command::Commit), at), Err("interrupted: commit follows handoff".into()));
        assert_eq!(apply(&mut v, mine(Command::Resume), at), Ok(Step::Run { settled: false }));
        assert_eq!((v.mode.clone(), v.lease.is_none()), (Mode::Running, true), "the lease ends");
        let mut v = vm(Mode::Interrupted, true, at);
        assert_eq!(apply(&mut v, mine(Command::Release), at), Ok(Step::Released { dropped: false }));
        assert_eq!((v.mode.clone(), v.lease.is_none()), (Mode::Interrupted, true));
        let mut v = vm(Mode::Interrupted, true, at);
        assert_eq!(
            apply(&mut v, Command::Handoff(HOLDER.into(), "target".into()), at),
            Ok(Step::Moving("target".into()))
        );
        assert_eq!(v.mode, moving());
    }

    #[test]
    fn a_lease_idle_past_the_timeout_may_be_taken_over_and_the_old_one_is_void() {
        let at = start();
        let later = at + TIMEOUT;
        let mut v = vm(Mode::Interrupted, true, at);
        assert!(apply(&mut v, Command::Claim(None), later - Duration::from_secs(1)).unwrap_err().starts_with("busy:"));
        assert_eq!(apply(&mut v, Command::Claim(None), later), Ok(Step::Granted(OTHER.into())));
        let void = apply(&mut v, mine(Command::Resume), later).unwrap_err();
        assert!(void.starts_with("busy: held by lease 2222…"), "{void}");
        let mut v = vm(Mode::Interrupted, true, at);
        assert!(apply(&mut v, Command::Save("0123".into()), at).unwrap_err().starts_with("busy: held by lease"));
        let mut free = vm(Mode::Interrupted, false, at);
        let not_held = apply(&mut free, Command::Save("0123456789".into()), at).unwrap_err();
        assert_eq!(not_held, "not held: lease 01234567 is not this VM's lease; take it with `interrupt` or `claim`");
    }

    #[test]
    fn a_restored_state_is_the_holders_alone_and_lapses_instead_of_passing_on() {
        let at = start();
        let mut v = vm(Mode::Waiting, true, at);
        assert_eq!(apply(&mut v, Command::Restore(HOLDER.into(), 10), at), Ok(Step::Restore(HOLDER.into())));
        v.restored();
        assert_eq!((v.mode.clone(), v.provisional), (Mode::Interrupted, true));
        let later = at + TIMEOUT * 2;
        let busy = apply(&mut v, Command::Claim(None), at + TIMEOUT - Duration::from_secs(1)).unwrap_err();
        assert!(busy.starts_with("busy: a restored state held by lease 1111…"), "{busy}");
        assert_eq!(
            apply(&mut v, Command::Handoff(HOLDER.into(), "target".into()), at),
            Err("the state was restored here and has not run: resume it before handing it on".into())
        );
        assert_eq!(v.lapse_due(), Some(at + TIMEOUT));
        assert!(!v.drop_lapsed(at + TIMEOUT - Duration::from_secs(1)));
        assert!(v.drop_lapsed(later));
        assert_eq!((v.mode.clone(), v.provisional, v.lease.is_none()), (Mode::Waiting, false, true));
    }

    #[test]
    fn a_restored_state_runs_by_its_holders_resume_or_goes_with_its_release() {
        let at = start();
        let mut v = vm(Mode::Waiting, true, at);
        v.restored();
        assert_eq!(apply(&mut v, mine(Command::Resume), at), Ok(Step::Run { settled: true }));
        assert!(!v.provisional);
        let mut v = vm(Mode::Waiting, true, at);
        v.restored();
        assert_eq!(apply(&mut v, mine(Command::Release), at), Ok(Step::Released { dropped: true }));
        assert_eq!(v.mode, Mode::Waiting, "dropped: the VM waits again");
    }

    #[test]
    fn moving_only_the_holder_decides_and_the_lease_never_lapses() {
        let at = start();
        let years = at + TIMEOUT * 1000;
        let mut v = vm(moving(), true, at);
        for command in [Command::Claim(None), Command::Interrupt(None), Command::Claim(Some(OTHER.into()))] {
            let refused = apply(&mut v, command, years).unwrap_err();
            assert_eq!(refused, "busy: moving to instance target; only its lease holder may commit or abort");
        }
        let refused = apply(&mut v, Command::Kill(None), years).unwrap_err();
        assert!(refused.starts_with("busy: moving to instance target; held by lease 1111…"), "{refused}");
        let refused = apply(&mut v, Command::Resume(OTHER.into()), years).unwrap_err();
        assert!(refused.starts_with("busy: moving to instance target; held by lease 1111…"), "{refused}");
        assert_eq!(apply(&mut v, Command::Claim(Some(HOLDER.into())), years), Ok(Step::Granted(HOLDER.into())));
        assert_eq!(v.mode, moving(), "renewed, still moving");
        assert_eq!(
            apply(&mut v, mine(Command::Save), years).unwrap_err(),
            "busy: moving to instance target; only its lease holder may commit or abort"
        );
        assert_eq!(apply(&mut v, mine(Command::Commit), years), Ok(Step::Committed));
        let mut v = vm(moving(), true, at);
        assert_eq!(apply(&mut v, mine(Command::Abort), at), Ok(Step::Aborted));
        assert_eq!(v.mode, Mode::Interrupted);
        let mut v = vm(moving(), true, at);
        assert_eq!(apply(&mut v, mine(Command::Release), at), Ok(Step::Released { dropped: false }));
        assert_eq!(v.mode, Mode::Interrupted);
        let mut v = vm(moving(), true, at);
        assert_eq!(apply(&mut v, mine(Command::Resume), at), Ok(Step::Run { settled: false }));
        let mut v = vm(moving(), true, at);
        assert_eq!(apply(&mut v, Command::Kill(Some(HOLDER.into())), at), Ok(Step::Killed));
    }
}
