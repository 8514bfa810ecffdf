//! `RemotingCommand`: one request or response, independent of its header encoding.

use bytes::Bytes;

use super::codes::{LanguageCode, ResponseCode, SERVER_VERSION};
use super::ext_fields::{CommandHeader, ExtFields, HeaderError};

/// Longest remark coremq sends.
pub const MAX_REMARK_CHARS: usize = 512;

/// Cuts `s` to at most `max` characters, marking the cut.
pub fn truncate_chars(mut s: String, max: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
        s.push_str("...");
    }
    s
}

/// Flag bit 0: this frame is a response.
pub const FLAG_RESPONSE: i32 = 0x1;
/// Flag bit 1: oneway request, the receiver must not answer.
pub const FLAG_ONEWAY: i32 = 0x2;

/// How the header of a frame is encoded (high byte of the header-length word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    /// JSON text header (type byte 0), what every client speaks by default.
    #[default]
    Json,
    /// RocketMQ's binary header (type byte 1).
    RocketMq,
}

impl SerializeType {
    /// The type byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }
}

/// One remoting command: a request or a response.
#[derive(Debug, Clone, PartialEq)]
pub struct RemotingCommand {
    /// Request code (requests) or response code (responses).
    pub code: i32,
    /// Sender's language; informational.
    pub language: LanguageCode,
    /// Sender's `MQVersion` ordinal.
    pub version: i32,
    /// Request id; a response carries its request's opaque.
    pub opaque: i32,
    /// Bit 0 response, bit 1 oneway.
    pub flag: i32,
    /// Human-readable text, mostly on error responses.
    pub remark: Option<String>,
    /// Custom header fields.
    pub ext: ExtFields,
    /// The header encoding this command arrived in, or will be sent in.
    pub serialize_type: SerializeType,
    /// Opaque body bytes.
    pub body: Bytes,
}

impl RemotingCommand {
    /// A new request with `code`, JSON-encoded, from coremq.
    pub fn request(code: i32, ext: ExtFields) -> Self {
        RemotingCommand {
            code,
            language: LanguageCode::JAVA,
            version: SERVER_VERSION,
            opaque: 0,
            flag: 0,
            remark: None,
            ext,
            serialize_type: SerializeType::Json,
            body: Bytes::new(),
        }
    }

    /// A new request carrying a typed header.
    pub fn request_with<H: CommandHeader>(code: i32, header: &H) -> Self {
        Self::request(code, header.to_ext())
    }

    /// The response skeleton for this request: same opaque and encoding, `code`, and `remark`.
    pub fn response_to(&self, code: ResponseCode, remark: Option<String>) -> Self {
        RemotingCommand {
            code: code.code(),
            language: LanguageCode::JAVA,
            version: SERVER_VERSION,
            opaque: self.opaque,
            flag: FLAG_RESPONSE,
            remark,
            ext: ExtFields::new(),
            serialize_type: self.serialize_type,
            body: Bytes::new(),
        }
    }

    /// A successful, empty response to this request.
    pub fn success(&self) -> Self {
        self.response_to(ResponseCode::SUCCESS, None)
    }

    /// An error response with a remark (capped at [`MAX_REMARK_CHARS`]: remarks often echo
    /// request fields, which must not make the response larger than the request).
    pub fn error(&self, code: ResponseCode, remark: impl Into<String>) -> Self {
        self.response_to(code, Some(truncate_chars(remark.into(), MAX_REMARK_CHARS)))
    }

    /// Turns a response skeleton into an error response with `code` and `remark`.
    pub fn error_response(mut self, code: ResponseCode, remark: &str) -> Self {
        self.code = code.code();
        self.remark = Some(remark.to_owned());
        self
    }

    /// Builder: sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Builder: sets the ext fields.
    pub fn with_ext(mut self, ext: ExtFields) -> Self {
        self.ext = ext;
        self
    }

    /// Builder: marks a request oneway.
    pub fn oneway(mut self) -> Self {
        self.flag |= FLAG_ONEWAY;
        self
    }

    /// True for responses.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// True for oneway requests.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Reads the typed custom header.
    pub fn header<H: CommandHeader>(&self) -> Result<H, HeaderError> {
        H::from_ext(&self.ext)
    }

    /// The response code as a name, or the number when unknown (for logs and errors).
    pub fn code_name(&self) -> String {
        ResponseCode::from_code(self.code)
            .map(|c| c.name().to_owned())
            .unwrap_or_else(|| self.code.to_string())
    }
}
