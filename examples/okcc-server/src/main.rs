//! `okcc-server`: the okcc example server and command-line tool (see the
//! library crate for the modules).

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the server allocates on its Tokio
/// worker and frees on the SQLite worker (audit rows) and the other way
/// round, which glibc's arenas handle poorly (see benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    okcc_server::run()
}
