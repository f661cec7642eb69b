//! The `envault` binary: everything lives in the library's `cli` module.

/// mimalloc asks the kernel for transparent huge pages for its arenas: a large file's text and
/// items then cost a few page faults instead of one per 4 KiB page, which was most of the time
/// of a large diff (`scripts/bench-peers`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    envault::cli::main()
}
