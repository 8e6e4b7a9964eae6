//! Binary messages of the operator → aggregator wire (not JSON: fixed layout, strict decoding).
//!
//! Every message: `version: u8 (= 2) | kind: u8 | fields`, integers big-endian.
//! - `kind 1` Response: `task_id u64 | resp_len u16 | response | operator [20] | sig_len u16 |
//!   signature`. `response` is the AVS's response bytes (at most `avs::MAX_RESPONSE_LEN`; 32 for
//!   the sum), which the aggregator decodes with the AVS's codec. The honest operator sends the
//!   192-byte uncompressed G2 point: decoding it costs no square root (the README's aggregation
//!   table: 4.3 ms for 1000 uncompressed against 52 ms compressed); the aggregator also takes
//!   96-byte compressed. Version 1 carried a `result u64` in place of the
//!   response and is refused.
//! - `kind 2` Ack.
//! - `kind 3` Reject: `code u16 | text_len u16 | text (UTF-8)`; codes are `RejectReason::code`.
//!
//! Trailing bytes, unknown versions and kinds are errors. Decoding never panics.

use alloy::primitives::Address;

use crate::avs::MAX_RESPONSE_LEN;
use crate::protocol::{RejectReason, Response};

pub const VERSION: u8 = 2;
const KIND_RESPONSE: u8 = 1;
const KIND_ACK: u8 = 2;
const KIND_REJECT: u8 = 3;
/// Longest signature field accepted: an EIP-2537 G2 point (256 B) is the largest encoding in use.
pub const MAX_SIGNATURE: usize = 256;
/// Longest reject text sent or accepted.
pub const MAX_REJECT_TEXT: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Response(Response),
    Ack,
    Reject { code: u16, text: String },
}

impl Message {
    pub fn reject(reason: &RejectReason) -> Self {
        let mut text = reason.to_string();
        if text.len() > MAX_REJECT_TEXT {
            let mut cut = MAX_REJECT_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        Message::Reject {
            code: reason.code(),
            text,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("empty message")]
    Empty,
    #[error("unsupported wire version {0}")]
    Version(u8),
    #[error("unknown message kind {0}")]
    Kind(u8),
    #[error("message truncated")]
    Truncated,
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("field too long: {0}")]
    TooLong(&'static str),
    #[error("reject text is not UTF-8")]
    Utf8,
}

pub fn encode(msg: &Message) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![VERSION];
    match msg {
        Message::Response(r) => {
            if r.signature.len() > MAX_SIGNATURE {
                return Err(CodecError::TooLong("signature"));
            }
            if r.response.len() > MAX_RESPONSE_LEN {
                return Err(CodecError::TooLong("response"));
            }
            out.push(KIND_RESPONSE);
            out.extend_from_slice(&r.task_id.to_be_bytes());
            out.extend_from_slice(&(r.response.len() as u16).to_be_bytes());
            out.extend_from_slice(&r.response);
            out.extend_from_slice(r.operator.as_slice());
            out.extend_from_slice(&(r.signature.len() as u16).to_be_bytes());
            out.extend_from_slice(&r.signature);
        }
        Message::Ack => out.push(KIND_ACK),
        Message::Reject { code, text } => {
            if text.len() > MAX_REJECT_TEXT {
                return Err(CodecError::TooLong("reject text"));
            }
            out.push(KIND_REJECT);
            out.extend_from_slice(&code.to_be_bytes());
            out.extend_from_slice(&(text.len() as u16).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
    Ok(out)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.0.len() < n {
            return Err(CodecError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
}

pub fn decode(bytes: &[u8]) -> Result<Message, CodecError> {
    if bytes.is_empty() {
        return Err(CodecError::Empty);
    }
    let mut r = Reader(bytes);
    let version = r.u8()?;
    if version != VERSION {
        return Err(CodecError::Version(version));
    }
    let msg = match r.u8()? {
        KIND_RESPONSE => {
            let task_id = r.u64()?;
            let resp_len = r.u16()? as usize;
            if resp_len > MAX_RESPONSE_LEN {
                return Err(CodecError::TooLong("response"));
            }
            let response = r.take(resp_len)?.to_vec();
            let operator = Address::from_slice(r.take(20)?);
            let len = r.u16()? as usize;
            if len > MAX_SIGNATURE {
                return Err(CodecError::TooLong("signature"));
            }
            let signature = r.take(len)?.to_vec();
            Message::Response(Response {
                task_id,
                response,
                operator,
                signature,
            })
        }
        KIND_ACK => Message::Ack,
        KIND_REJECT => {
            let code = r.u16()?;
            let len = r.u16()? as usize;
            if len > MAX_REJECT_TEXT {
                return Err(CodecError::TooLong("reject text"));
            }
            let text = std::str::from_utf8(r.take(len)?)
                .map_err(|_| CodecError::Utf8)?
                .to_string();
            Message::Reject { code, text }
        }
        k => return Err(CodecError::Kind(k)),
    };
    if !r.0.is_empty() {
        return Err(CodecError::Trailing(r.0.len()));
    }
    Ok(msg)
}
