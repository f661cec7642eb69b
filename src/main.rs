//! The `envault` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    envault::cli::main()
}
