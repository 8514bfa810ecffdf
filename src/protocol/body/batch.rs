//! Batch bodies (spec §4.3): SEND_BATCH_MESSAGE carries its messages back to back, each
//! `total(4) magic(4) bodyCRC(4) flag(4) bodyLen(4) body propsLen(2) props`, where the
//! magic and CRC are left 0 for the broker to fill.

/// Bytes before an entry's body.
pub const ENTRY_FIXED_BYTES: usize = 4 + 4 + 4 + 4 + 4;

/// Appends one message to a batch body. Properties longer than `i16::MAX` bytes cannot be
/// encoded (the broker would reject them anyway); the caller checks first.
pub fn encode_entry(flag: i32, body: &[u8], props: &str, out: &mut Vec<u8>) {
    debug_assert!(props.len() <= i16::MAX as usize);
    let total = ENTRY_FIXED_BYTES + body.len() + 2 + props.len();
    out.extend((total as i32).to_be_bytes());
    out.extend(0i32.to_be_bytes());
    out.extend(0i32.to_be_bytes());
    out.extend(flag.to_be_bytes());
    out.extend((body.len() as i32).to_be_bytes());
    out.extend(body);
    out.extend((props.len() as i16).to_be_bytes());
    out.extend(props.as_bytes());
}
