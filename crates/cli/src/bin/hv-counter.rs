//! `hv-counter`: the smallest machine ([`vm_core::counter`]) as a VM
//! process. It prints 1, 2, 3, … one per line, and is controlled like
//! `mova run`. The host's end-to-end tests run it.

use clap::Parser;
use cli::ControlArgs;
use std::process::ExitCode;
use std::time::Duration;
use vm_core::counter::{self, Counter};
use vm_host::host;

#[derive(Parser)]
#[command(name = "hv-counter", version, about = "Count under the hypervisor's control (its reference machine)")]
struct Cli {
    /// The count to start from (the first value printed is START + 1).
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Milliseconds to sleep after each value.
    #[arg(long, value_name = "MS", default_value_t = 1)]
    period_ms: u64,
    /// End once the count reaches N (a run prints at least one value).
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// The largest state payload the control port reads (default: the counter's 20 bytes); larger
    /// declared sizes exercise the port's payload limits, and are refused after reading.
    #[arg(long, value_name = "BYTES", default_value_t = counter::STATE_LEN)]
    max_state: usize,
    /// The exit status at the limit.
    #[arg(long, value_name = "STATUS", default_value_t = 0)]
    exit_status: u8,
    #[command(flatten)]
    control: ControlArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout().lock();
    let period = Duration::from_millis(cli.period_ms);
    let mut counter = Counter::new(cli.start, period, cli.limit, cli.exit_status, stdout).with_max_state(cli.max_state);
    let options = match cli.control.options("counter".into(), String::new()) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("hv-counter: {why}");
            return ExitCode::from(host::EXIT_CANNOT_START);
        }
    };
    ExitCode::from(host::run(&mut counter, options, cli.control.restore.as_deref()))
}
