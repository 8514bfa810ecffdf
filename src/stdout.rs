//! Standard output for the command line. Operators pipe coremq's output into `head`, `grep`
//! and `awk`: once the reader is gone, a printing command (admin, bench, produce, consume)
//! ends quietly with status 0, as mqadmin does, where `println!` would panic with "failed
//! printing to stdout: Broken pipe". Servers print only their boot lines and go on serving
//! whatever became of their stdout.

use std::io::Write;

/// Prints `text` and a newline; a command whose stdout was closed exits 0 here.
pub fn line(text: &str) {
    if let Err(e) = write_all(text, true) {
        finish(&e);
    }
}

/// Prints `text` as it is; a command whose stdout was closed exits 0 here.
pub fn text(text: &str) {
    if let Err(e) = write_all(text, false) {
        finish(&e);
    }
}

/// Prints a server's line; a closed or failing stdout is ignored (the server keeps serving).
pub fn server_line(text: &str) {
    let _ = write_all(text, true);
}

fn write_all(text: &str, newline: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if newline {
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn finish(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("coremq: writing to standard output: {e}");
    std::process::exit(1);
}
