//! The `cardswitch` binary: everything lives in the library; this only runs the command line.

/// mimalloc instead of glibc's malloc: the writer allocates what sled's I/O threads free, and
/// glibc's per-thread arenas then spent a fifth to a third of the switch's CPU in `_int_malloc`
/// and consolidation under load (perf, `docs/performance.md`). It backs its arenas with
/// transparent huge pages where the kernel allows (`madvise` or `always`): at a million cards the
/// state is gigabytes of tree nodes, and balance enquiries ran 25% faster with 2 MiB pages (fewer
/// TLB misses, presumably), while a 10,000-card store measured the same either way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cardswitch::cli::main()
}
