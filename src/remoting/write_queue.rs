//! A connection's outgoing frames and the vectored write that sends them.
//!
//! Small frames are encoded into one growing tail buffer, so a burst of responses leaves in
//! one syscall. A frame whose body is at least [`UNCOPIED_BODY_BYTES`] is queued as its
//! encoded head followed by the body itself, a reference to the buffer it was built in (a
//! client's batch, a pull response read from the store): the body is never copied into the
//! queue. Measured on 1 MiB batches, the copy and the growing buffer it needed (a
//! reallocation per doubling, and fresh pages after each shrink) were half of a producer's
//! CPU. The writer hands everything queued to one `sendmsg` with an iovec per segment.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::task::Waker;

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::{AsyncWrite, AsyncWriteExt};

use crate::protocol::{frame, RemotingCommand};

/// Bodies at least this large are queued by reference instead of copied.
pub const UNCOPIED_BODY_BYTES: usize = 64 * 1024;
/// Segments handed to one `sendmsg` (well below the kernel's IOV_MAX of 1,024).
const MAX_IOVECS_PER_WRITE: usize = 64;
/// A tail buffer larger than this is released once its bytes are taken.
const SHRINK_TAIL_ABOVE_BYTES: usize = 1 << 20;

/// Frames queued for a connection's writer, in order.
#[derive(Default)]
pub(super) struct WriteQueue {
    /// Whole segments, oldest first: heads with any small frames before them, and bodies.
    segments: VecDeque<Bytes>,
    /// Small frames (and the head of a large one, until its body is queued).
    tail: BytesMut,
    /// Bytes in `segments` and `tail`.
    queued: usize,
    /// The writer task, parked until something is queued.
    pub(super) writer: Option<Waker>,
    /// Tasks waiting for the queue to drain below the limit.
    pub(super) drained: Vec<Waker>,
}

impl WriteQueue {
    /// Bytes queued and not yet taken by the writer.
    pub(super) fn len(&self) -> usize {
        self.queued
    }

    /// Queues `cmd`'s frame; on error (too large) nothing is queued.
    pub(super) fn push(&mut self, cmd: &RemotingCommand) -> Result<(), frame::FrameError> {
        let before = self.tail.len();
        if cmd.body.len() < UNCOPIED_BODY_BYTES {
            frame::encode(cmd, &mut self.tail)?;
            self.queued += self.tail.len() - before;
            return Ok(());
        }
        frame::encode_head(cmd, &mut self.tail)?;
        self.queued += self.tail.len() - before + cmd.body.len();
        self.segments.push_back(self.tail.split().freeze());
        self.segments.push_back(cmd.body.clone());
        Ok(())
    }

    /// Takes everything queued, in order; `None` if nothing is.
    pub(super) fn take(&mut self) -> Option<Segments> {
        if self.queued == 0 {
            return None;
        }
        if !self.tail.is_empty() {
            self.segments.push_back(self.tail.split().freeze());
        }
        if self.tail.capacity() > SHRINK_TAIL_ABOVE_BYTES {
            self.tail = BytesMut::new();
        }
        let bytes = std::mem::take(&mut self.queued);
        Some(Segments {
            parts: std::mem::take(&mut self.segments),
            bytes,
        })
    }

    /// Drops everything queued (the connection closed: nobody will read it).
    pub(super) fn clear(&mut self) {
        self.segments = VecDeque::new();
        self.tail = BytesMut::new();
        self.queued = 0;
    }
}

/// Bytes taken from a queue, to be written in order.
pub(super) struct Segments {
    parts: VecDeque<Bytes>,
    bytes: usize,
}

impl Segments {
    /// Bytes not yet written.
    pub(super) fn len(&self) -> usize {
        self.bytes
    }

    /// Drops the first `n` bytes (written).
    fn advance(&mut self, mut n: usize) {
        assert!(n <= self.bytes, "wrote {n} of {} bytes", self.bytes);
        self.bytes -= n;
        while n > 0 {
            let front = self.parts.front_mut().expect("bytes left imply a segment");
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.parts.pop_front();
        }
        while self.parts.front().is_some_and(Bytes::is_empty) {
            self.parts.pop_front();
        }
    }

    /// Writes every segment to `fd`, whose stream is `stream`: one `sendmsg` over as many
    /// segments as it takes while the socket has room; when it is full, glommio's write of
    /// the first segment waits for room (and writes what it can).
    pub(super) async fn write_all<W: AsyncWrite + Unpin>(
        &mut self,
        fd: RawFd,
        stream: &mut W,
    ) -> io::Result<()> {
        while self.bytes > 0 {
            match send_vectored(fd, &self.parts) {
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let first = self.parts.front().expect("bytes left imply a segment");
                    match stream.write(first).await? {
                        0 => return Err(io::ErrorKind::WriteZero.into()),
                        n => self.advance(n),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// One non-blocking `sendmsg` of up to [`MAX_IOVECS_PER_WRITE`] segments.
fn send_vectored(fd: RawFd, parts: &VecDeque<Bytes>) -> io::Result<usize> {
    let iov: Vec<libc::iovec> = parts
        .iter()
        .take(MAX_IOVECS_PER_WRITE)
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        })
        .collect();
    // SAFETY: an all-zero msghdr is valid (no address, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iov.len() as _;
    // SAFETY: the iovecs point into `parts`, borrowed (unchanged) for the call; the kernel
    // only reads them. The fd stays open while the connection's writer runs.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::RemotingCommand;

    fn cmd(code: i32, body_bytes: usize) -> RemotingCommand {
        RemotingCommand::request(code, Default::default()).with_body(vec![code as u8; body_bytes])
    }

    #[test]
    fn segments_hold_the_frames_in_order_and_large_bodies_uncopied() {
        let mut q = WriteQueue::default();
        let small = cmd(1, 10);
        let large = cmd(2, UNCOPIED_BODY_BYTES);
        let after = cmd(3, 5);
        for c in [&small, &large, &after] {
            q.push(c).unwrap();
        }
        let expected: Vec<u8> = [&small, &large, &after]
            .into_iter()
            .flat_map(frame::encode_to_vec)
            .collect();
        assert_eq!(q.len(), expected.len());
        let taken = q.take().unwrap();
        assert_eq!(q.len(), 0);
        assert!(q.take().is_none());
        assert_eq!(taken.len(), expected.len());
        // Head (with the small frame before it), the body itself, then the tail.
        assert_eq!(taken.parts.len(), 3);
        assert_eq!(taken.parts[1].as_ptr(), large.body.as_ptr());
        let joined: Vec<u8> = taken.parts.iter().flat_map(|p| p.to_vec()).collect();
        assert_eq!(joined, expected);
    }

    #[test]
    fn advancing_splits_and_drops_written_segments() {
        let mut q = WriteQueue::default();
        q.push(&cmd(1, UNCOPIED_BODY_BYTES)).unwrap();
        q.push(&cmd(2, 3)).unwrap();
        let mut s = q.take().unwrap();
        let all: Vec<u8> = s.parts.iter().flat_map(|p| p.to_vec()).collect();
        let head = s.parts[0].len();
        s.advance(head + 100);
        assert_eq!(s.len(), all.len() - head - 100);
        let rest: Vec<u8> = s.parts.iter().flat_map(|p| p.to_vec()).collect();
        assert_eq!(rest, all[head + 100..]);
        s.advance(s.len());
        assert_eq!(s.len(), 0);
        assert!(s.parts.is_empty());
    }

    #[test]
    fn a_frame_too_large_queues_nothing() {
        let mut q = WriteQueue::default();
        q.push(&cmd(1, 7)).unwrap();
        let len = q.len();
        assert!(q.push(&cmd(2, frame::MAX_FRAME_BYTES)).is_err());
        assert_eq!(q.len(), len);
        let s = q.take().unwrap();
        assert_eq!(s.parts.len(), 1);
        assert_eq!(s.len(), len);
    }
}
