//! The `cardswitch` binary: everything lives in the library; this only runs the command line.

use std::ffi::c_long;

/// mimalloc instead of glibc's malloc: the writer allocates what sled's I/O threads free, and
/// glibc's per-thread arenas then spent a fifth to a third of the switch's CPU in `_int_malloc`
/// and consolidation under load (perf, `docs/performance.md`). It backs its arenas with
/// transparent huge pages where the kernel allows (`madvise` or `always`): at a million cards the
/// state is gigabytes of tree nodes, and balance enquiries ran 25% faster with 2 MiB pages (fewer
/// TLB misses, presumably), while a 10,000-card store measured the same either way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the 16th of its `mi_option_e`, v3): libmimalloc-sys names
/// no constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc v3's default purge delay: the option is changed only from this value, so a
/// renumbered option list in a later mimalloc leaves the allocator as it was.
const PURGE_DELAY_DEFAULT_MS: c_long = 1_000;

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    cardswitch::cli::main()
}

/// Keeps memory the switch frees for its own reuse instead of returning it to the kernel after a
/// second (mimalloc's default). Under load, pages freed and later taken again were faulted back
/// in and zeroed, 2 MiB at a time with huge pages: 11,000-17,000 page faults in a 6 s debit run
/// at 10,000 cards, 2,600-4,300 in a balance run; with this, a few dozen. Echo and balance
/// enquiries ran about 20% faster, and resident memory stays at its peak (+50 MB at 10,000
/// cards, +100 MB of 6.4 GB at a million; `docs/performance.md`). `MIMALLOC_PURGE_DELAY` in the
/// environment still decides when it is set.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: reads and writes one entry of mimalloc's option table; any option number below
    // `_mi_option_last` is valid, at any time, from any thread.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == PURGE_DELAY_DEFAULT_MS {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        }
    }
}
