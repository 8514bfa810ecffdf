//! The `coremq` binary.

use clap::Parser;

/// mimalloc instead of glibc's malloc: the broker allocates per request across cores, and
/// glibc's arena consolidation was a fifth of its CPU under load (bench/results).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    no_transparent_huge_pages();
    raise_open_file_limit();
    let args = coremq::cli::credentials::rocketmq_bench_args(std::env::args_os().collect());
    let cli = coremq::cli::Cli::parse_from(args);
    if let Err(e) = coremq::cli::run(cli) {
        eprintln!("coremq: {e}");
        std::process::exit(1);
    }
}

/// Opts this process out of transparent huge pages. Write chunks, receive buffers and
/// replication frames are short-lived megabyte buffers; with THP (mimalloc asks for it on
/// its arenas) each fresh 2 MiB page is zeroed at first touch, and that zeroing was 64 % of
/// a slave's CPU while catching up (bench/results/2026-11-30-vm-ha.md). Without THP the
/// same catch-up ran 1.5x faster.
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag on this process.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        // Old kernels lack the flag: the broker runs as before, only slower.
        eprintln!(
            "note: transparent huge pages stay on ({})",
            std::io::Error::last_os_error()
        );
    }
}

/// Raises the soft limit on open files to the hard limit, as operators expect of a server
/// (a broker holds one descriptor per client connection, and the usual soft default of
/// 1024 would refuse the 1,025th client while the hard limit allows far more).
fn raise_open_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the one struct passed.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0
            && (lim.rlim_cur >= lim.rlim_max || {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0
            })
    };
    if !raised {
        eprintln!(
            "note: the open-file limit stays as it was ({})",
            std::io::Error::last_os_error()
        );
    }
}
