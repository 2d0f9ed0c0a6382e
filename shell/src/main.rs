//! `vfish`: the guestfish-compatible shell. The command table, parser and REPL arrive with the
//! read-side issue; until then this binary says so and exits non-zero.

fn main() -> std::process::ExitCode {
    eprintln!("vfish: the interactive shell is not implemented yet (see the read-side issue); use vfilesystems");
    std::process::ExitCode::from(1)
}
