//! The gRPC response body: a queue of DATA frames ended by the status trailers, written by
//! the RPC's task and read by hyper as the HTTP/2 stream has room.
//!
//! Shared by the unary RPCs (one message, then trailers) and the streams (ReceiveMessage
//! writes several; Telemetry writes for as long as the client stays). It lives on one
//! core, so an `Rc<RefCell<_>>` and a waker are all the synchronisation it needs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Body, Frame};
use hyper::header::{HeaderMap, HeaderValue};

use crate::protocol::grpc::framing::encode_message;
use crate::protocol::grpc::status::{encode_message as encode_grpc_message, GrpcCode};

/// Frames queued and not yet taken by hyper, past which a writer is told the client does
/// not keep up (a Telemetry client that never reads).
pub const MAX_QUEUED_FRAMES: usize = 4_096;

#[derive(Default)]
struct Shared {
    frames: VecDeque<Frame<Bytes>>,
    ended: bool,
    /// hyper dropped the body: the client went away or reset the stream.
    gone: bool,
    waker: Option<Waker>,
}

/// The writing end, kept by the RPC.
#[derive(Clone)]
pub struct BodyWriter(Rc<RefCell<Shared>>);

/// The reading end, handed to hyper.
pub struct GrpcBody(Rc<RefCell<Shared>>);

/// A new body and its writer.
pub fn channel() -> (BodyWriter, GrpcBody) {
    let shared = Rc::new(RefCell::new(Shared::default()));
    (BodyWriter(shared.clone()), GrpcBody(shared))
}

/// gRPC status trailers.
pub fn trailers(code: GrpcCode, message: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("grpc-status", HeaderValue::from_static(code.as_str()));
    if !message.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&encode_grpc_message(message)) {
            h.insert("grpc-message", v);
        }
    }
    h
}

impl BodyWriter {
    /// Queues one message; false when the client is gone or far behind.
    pub fn send<M: prost::Message>(&self, msg: &M) -> bool {
        self.push(Frame::data(encode_message(msg)))
    }

    /// Ends the stream with a status.
    pub fn finish(&self, code: GrpcCode, message: &str) {
        self.push(Frame::trailers(trailers(code, message)));
        let mut s = self.0.borrow_mut();
        s.ended = true;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    /// True once hyper dropped the body (stream reset or connection closed).
    pub fn is_gone(&self) -> bool {
        self.0.borrow().gone
    }

    fn push(&self, frame: Frame<Bytes>) -> bool {
        let mut s = self.0.borrow_mut();
        if s.gone || s.ended || s.frames.len() >= MAX_QUEUED_FRAMES {
            return false;
        }
        s.frames.push_back(frame);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
        true
    }
}

impl Drop for GrpcBody {
    fn drop(&mut self) {
        self.0.borrow_mut().gone = true;
    }
}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let mut s = self.0.borrow_mut();
        if let Some(f) = s.frames.pop_front() {
            return Poll::Ready(Some(Ok(f)));
        }
        if s.ended {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        let s = self.0.borrow();
        s.ended && s.frames.is_empty()
    }
}
