//! The `stickler` command line. Parsing and dispatch only; the work lives in the library.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
