//! The gRPC listener of one shard: accepts connections, runs hyper's HTTP/2 server on
//! this core's executor, and sends each request to its RPC.
//!
//! Transport-level refusals use gRPC's own status in the trailers (an unknown RPC is
//! UNIMPLEMENTED, a body that is not the RPC's protobuf INVALID_ARGUMENT, a message past
//! the limit RESOURCE_EXHAUSTED); only that stream ends, the connection's others go on.
//! Everything else answers with RocketMQ's `Status` inside the response, as the proxy.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use glommio::net::{TcpListener, TcpStream};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};

use super::acl::{self, AclNeeds};
use super::body::{channel, GrpcBody};
use super::{ack, receive, route, send, telemetry};
use crate::broker::shard::Shard;
use crate::http_io::HyperIo;
use crate::protocol::grpc::framing::{FramingError, MessageDecoder};
use crate::protocol::grpc::status::{parse_timeout, GrpcCode};
use crate::protocol::grpc::{v2, SERVICE_PATH_PREFIX};

/// Streams one connection may have open at once (a Telemetry stream per client, a
/// receive per consumer thread, the unary calls).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 1_024;
/// Wait after a failed accept before the next.
const ACCEPT_RETRY_MS: u64 = 100;

/// Runs hyper's connection tasks (one per HTTP/2 stream) on this core.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        glommio::spawn_local(fut).detach();
    }
}

/// One RPC's context: the shard, the client and the deadline.
pub struct Call {
    /// This core's shard.
    pub shard: Rc<Shard>,
    /// The client's address.
    pub peer: SocketAddr,
    /// `x-mq-client-id` (empty when the client sent none).
    pub client_id: String,
    /// The request's metadata (ACL signature, language, namespace).
    pub headers: HeaderMap,
    /// From `grpc-timeout`.
    pub deadline: Option<Instant>,
}

impl Call {
    /// Time left before the deadline, `None` without one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// A metadata value as text.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Serves gRPC connections until the listener is cancelled.
pub async fn serve(listener: TcpListener, shard: Rc<Shard>) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shard = shard.clone();
                glommio::spawn_local(async move {
                    if let Err(e) = connection(stream, shard).await {
                        tracing::debug!("gRPC connection: {e}");
                    }
                })
                .detach();
            }
            Err(e) => {
                tracing::warn!("gRPC listener: {e}");
                glommio::timer::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
            }
        }
    }
}

async fn connection(stream: TcpStream, shard: Rc<Shard>) -> Result<(), String> {
    let peer = stream.peer_addr().map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| {
        let shard = shard.clone();
        async move { Ok::<_, Infallible>(dispatch(shard, peer, req).await) }
    });
    http2::Builder::new(LocalExec)
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .serve_connection(HyperIo(stream), service)
        .await
        .map_err(|e| e.to_string())
}

/// A gRPC response whose body is `body`.
pub fn grpc_response(body: GrpcBody) -> Response<GrpcBody> {
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    r
}

/// A response that is only a status (no message).
pub fn status_only(code: GrpcCode, message: &str) -> Response<GrpcBody> {
    let (w, body) = channel();
    w.finish(code, message);
    grpc_response(body)
}

/// One message, then OK.
pub fn unary_response<M: prost::Message>(msg: &M) -> Response<GrpcBody> {
    let (w, body) = channel();
    w.send(msg);
    w.finish(GrpcCode::Ok, "");
    grpc_response(body)
}

/// A refusal of the request itself: the gRPC code and what was wrong.
pub type Refused = (GrpcCode, String);

fn framing_refusal(rpc: &str, e: FramingError) -> Refused {
    let code = match e {
        FramingError::TooLarge { .. } => GrpcCode::ResourceExhausted,
        FramingError::Compressed => GrpcCode::Unimplemented,
        FramingError::Truncated { .. } => GrpcCode::InvalidArgument,
    };
    (code, format!("{rpc}: {e}"))
}

/// Decodes one protobuf message as the RPC's request type.
pub fn decode<M: prost::Message + Default>(rpc: &str, bytes: &[u8]) -> Result<M, Refused> {
    M::decode(bytes).map_err(|e| {
        (
            GrpcCode::InvalidArgument,
            format!("{rpc}: the request is not a valid apache.rocketmq.v2.{rpc}Request: {e}"),
        )
    })
}

/// Reads a unary request's one message, and the body to its end.
///
/// The end matters: a client sends END_STREAM after the message, often in a frame of its
/// own. Answering before it arrives makes h2 reset the stream, the late frame then hits a
/// closed stream, and h2 counts that as a protocol error toward its per-connection limit
/// (1,024), after which it closes the connection with every call on it.
pub async fn read_one<M: prost::Message + Default>(
    rpc: &str,
    mut body: Incoming,
) -> Result<M, Refused> {
    let mut d = MessageDecoder::default();
    let mut message = None;
    loop {
        match body.frame().await {
            None => break,
            Some(Err(e)) => return Err((GrpcCode::Cancelled, format!("{rpc}: {e}"))),
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    d.push(&data);
                    while let Some(m) = d.next_message().map_err(|e| framing_refusal(rpc, e))? {
                        if message.is_some() {
                            return Err((
                                GrpcCode::InvalidArgument,
                                format!("{rpc}: a unary request carries one message, not more"),
                            ));
                        }
                        message = Some(m);
                    }
                }
            }
        }
    }
    d.finish().map_err(|e| framing_refusal(rpc, e))?;
    match message {
        Some(m) => decode(rpc, &m),
        None => Err((
            GrpcCode::InvalidArgument,
            format!("{rpc}: the request carried no message"),
        )),
    }
}

/// Reads the messages of a client stream (Telemetry) one at a time.
pub struct MessageReader {
    rpc: &'static str,
    body: Incoming,
    decoder: MessageDecoder,
}

impl MessageReader {
    /// Reads `body`'s messages.
    pub fn new(rpc: &'static str, body: Incoming) -> Self {
        Self {
            rpc,
            body,
            decoder: MessageDecoder::default(),
        }
    }

    /// The next message; `Ok(None)` when the client closed its side.
    pub async fn next<M: prost::Message + Default>(&mut self) -> Result<Option<M>, Refused> {
        loop {
            if let Some(m) = self
                .decoder
                .next_message()
                .map_err(|e| framing_refusal(self.rpc, e))?
            {
                return decode(self.rpc, &m).map(Some);
            }
            match self.body.frame().await {
                None => {
                    self.decoder
                        .finish()
                        .map_err(|e| framing_refusal(self.rpc, e))?;
                    return Ok(None);
                }
                Some(Err(e)) => return Err((GrpcCode::Cancelled, format!("{}: {e}", self.rpc))),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        self.decoder.push(&data);
                    }
                }
            }
        }
    }
}

async fn unary<Req, Resp, F, Fut>(
    call: &Call,
    rpc: &str,
    body: Incoming,
    f: F,
) -> Response<GrpcBody>
where
    Req: prost::Message + Default + AclNeeds,
    Resp: prost::Message,
    F: FnOnce(Req) -> Fut,
    Fut: Future<Output = Resp>,
{
    match read_one::<Req>(rpc, body).await {
        Ok(req) => match acl::check(call, rpc, &req) {
            Ok(()) => unary_response(&f(req).await),
            Err(e) => status_only(GrpcCode::PermissionDenied, &e),
        },
        Err((code, msg)) => status_only(code, &msg),
    }
}

async fn dispatch(
    shard: Rc<Shard>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<GrpcBody> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let Some(rpc) = path.strip_prefix(SERVICE_PATH_PREFIX).map(str::to_owned) else {
        return status_only(
            GrpcCode::Unimplemented,
            &format!(
                "unknown service path {path}: coremq serves apache.rocketmq.v2.MessagingService"
            ),
        );
    };
    if parts.method != Method::POST {
        return status_only(
            GrpcCode::Unimplemented,
            &format!("{rpc}: gRPC calls are POST, not {}", parts.method),
        );
    }
    let grpc_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if !grpc_type {
        return status_only(
            GrpcCode::InvalidArgument,
            &format!("{rpc}: content-type must be application/grpc"),
        );
    }
    let deadline = parts
        .headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_timeout)
        .map(|d| Instant::now() + d);
    let call = Rc::new(Call {
        client_id: parts
            .headers
            .get("x-mq-client-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        shard,
        peer,
        headers: parts.headers,
        deadline,
    });
    if call.shard.closing.get() {
        return status_only(GrpcCode::Unavailable, "the broker is shutting down");
    }
    let c = call.clone();
    match rpc.as_str() {
        "QueryRoute" => unary(&call, &rpc, body, |r| route::query_route(c, r)).await,
        "QueryAssignment" => unary(&call, &rpc, body, |r| route::query_assignment(c, r)).await,
        "Heartbeat" => unary(&call, &rpc, body, |r| telemetry::heartbeat(c, r)).await,
        "NotifyClientTermination" => {
            unary(&call, &rpc, body, |r| telemetry::terminated(c, r)).await
        }
        "SendMessage" => unary(&call, &rpc, body, |r| send::send_message(c, r)).await,
        "AckMessage" => unary(&call, &rpc, body, |r| ack::ack_message(c, r)).await,
        "ChangeInvisibleDuration" => {
            unary(&call, &rpc, body, |r| ack::change_invisible(c, r)).await
        }
        "ForwardMessageToDeadLetterQueue" => {
            unary(&call, &rpc, body, |r| ack::forward_to_dlq(c, r)).await
        }
        "EndTransaction" => unary(&call, &rpc, body, |r| send::end_transaction(c, r)).await,
        "ReceiveMessage" => match read_one::<v2::ReceiveMessageRequest>(&rpc, body).await {
            Ok(r) => match acl::check(&call, &rpc, &r) {
                Ok(()) => receive::open(call, r),
                Err(e) => status_only(GrpcCode::PermissionDenied, &e),
            },
            Err((code, msg)) => status_only(code, &msg),
        },
        "Telemetry" => telemetry::open(call, MessageReader::new("Telemetry", body)),
        other => status_only(
            GrpcCode::Unimplemented,
            &format!(
                "RPC apache.rocketmq.v2.MessagingService/{other} is not implemented by coremq"
            ),
        ),
    }
}
