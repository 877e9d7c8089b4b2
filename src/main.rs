//! The `cardswitch` binary: everything lives in the library; this only runs the command line.

/// mimalloc instead of glibc's malloc: the writer allocates what sled's I/O threads free, and
/// glibc's per-thread arenas then spent a fifth to a third of the switch's CPU in `_int_malloc`
/// and consolidation under load (perf, `docs/performance.md`). Built without transparent huge
/// pages (`no_thp`): zeroing 2 MiB pages on first touch showed up in the writer's profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cardswitch::cli::main()
}
