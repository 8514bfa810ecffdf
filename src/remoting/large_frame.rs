//! Reading one large frame into a buffer of its own size, without zero-filling it.
//!
//! A frame much larger than the read scratch (a 1 MiB batch) gets one allocation of its
//! full size; the socket's bytes land there directly and the buffer becomes the frame
//! without a copy. The buffer is left uninitialized: the kernel's `recv` fills its spare
//! capacity (`MaybeUninit` bytes, passed as a raw pointer). Zero-filling it first was
//! 6 % of a broker's CPU under 64 KiB batches. When the socket is empty, glommio's read of
//! a small piece parks until data arrives; that piece is copied over.

use std::io;
use std::os::fd::RawFd;

use bytes::BytesMut;
use futures_lite::{AsyncRead, AsyncReadExt};

/// Reads until `frame` (which holds the frame's first bytes) is `frame_bytes` long, from
/// `fd` whose stream is `stream`; `scratch` takes the bytes of a read that had to wait.
/// Returns the bytes read, or 0 if the peer closed first.
pub(super) async fn fill<R: AsyncRead + Unpin>(
    fd: RawFd,
    stream: &mut R,
    frame: &mut BytesMut,
    frame_bytes: usize,
    scratch: &mut [u8],
) -> io::Result<usize> {
    assert!(
        frame.len() <= frame_bytes,
        "frame already longer than itself"
    );
    frame.reserve(frame_bytes - frame.len());
    let start = frame.len();
    while frame.len() < frame_bytes {
        let want = frame_bytes - frame.len();
        match recv_into_spare(fd, frame, want) {
            Ok(0) => return Ok(0),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let piece = want.min(scratch.len());
                match stream.read(&mut scratch[..piece]).await? {
                    0 => return Ok(0),
                    n => frame.extend_from_slice(&scratch[..n]),
                }
            }
            Err(e) => return Err(e),
        }
    }
    debug_assert_eq!(frame.len(), frame_bytes);
    Ok(frame_bytes - start)
}

/// One non-blocking `recv` of at most `max` bytes into `buf`'s spare capacity.
fn recv_into_spare(fd: RawFd, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let len = max.min(spare.len());
    assert!(len > 0, "no room to read into");
    // SAFETY: the pointer and length describe `buf`'s spare capacity, which the kernel
    // writes (never reads); only the `n` bytes it reports written are then marked filled.
    let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), len, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    assert!(n <= len, "recv reported {n} bytes into {len}");
    // SAFETY: the kernel initialized these `n` bytes just above.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}
