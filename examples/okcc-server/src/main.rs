//! `okcc-server`: the okcc example server and command-line tool (see the
//! library crate for the modules).

use std::process::ExitCode;

fn main() -> ExitCode {
    okcc_server::run()
}
