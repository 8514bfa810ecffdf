//! Batch bodies (spec §4.3): SEND_BATCH_MESSAGE carries its messages back to back, each
//! `total(4) magic(4) bodyCRC(4) flag(4) bodyLen(4) body propsLen(2) props`, where the
//! magic and CRC are left 0 for the broker to fill.

/// Bytes before an entry's body.
pub const ENTRY_FIXED_BYTES: usize = 4 + 4 + 4 + 4 + 4;

/// Appends one message to a batch body. Properties longer than `i16::MAX` bytes cannot be
/// encoded (the broker would reject them anyway); the caller checks first.
pub fn encode_entry(flag: i32, body: &[u8], props: &str, out: &mut Vec<u8>) {
    debug_assert!(props.len() <= i16::MAX as usize);
    let total = entry_len(body.len(), props.len());
    out.extend((total as i32).to_be_bytes());
    out.extend(0i32.to_be_bytes());
    out.extend(0i32.to_be_bytes());
    out.extend(flag.to_be_bytes());
    out.extend((body.len() as i32).to_be_bytes());
    out.extend(body);
    out.extend((props.len() as i16).to_be_bytes());
    out.extend(props.as_bytes());
}

/// Bytes [`encode_entry`] appends for a body and a properties string of these lengths.
pub fn entry_len(body_bytes: usize, props_bytes: usize) -> usize {
    ENTRY_FIXED_BYTES + body_bytes + 2 + props_bytes
}

/// One message of a batch body, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry<'a> {
    /// The producer's flag.
    pub flag: i32,
    /// The body as sent.
    pub body: &'a [u8],
    /// The properties string as sent.
    pub properties: &'a str,
}

/// Splits a batch body into its entries; the error names the byte where it went wrong.
pub fn split(body: &[u8]) -> Result<Vec<BatchEntry<'_>>, String> {
    let be32 = |b: &[u8], i: usize| i32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < body.len() {
        let rest = &body[at..];
        if rest.len() < ENTRY_FIXED_BYTES + 2 {
            return Err(format!("batch entry at byte {at} is truncated"));
        }
        let total = usize::try_from(be32(rest, 0)).map_err(|_| format!("bad size at byte {at}"))?;
        if total < ENTRY_FIXED_BYTES + 2 || total > rest.len() {
            return Err(format!("batch entry at byte {at} has bad size {total}"));
        }
        let entry = &rest[..total];
        let flag = be32(entry, 12);
        let body_len = usize::try_from(be32(entry, 16))
            .map_err(|_| format!("bad body length at byte {at}"))?;
        let props_at = ENTRY_FIXED_BYTES
            .checked_add(body_len)
            .filter(|p| p + 2 <= total)
            .ok_or_else(|| format!("batch entry at byte {at}: body overruns the entry"))?;
        let props_len = i16::from_be_bytes([entry[props_at], entry[props_at + 1]]);
        let props_len =
            usize::try_from(props_len).map_err(|_| format!("bad properties at byte {at}"))?;
        if props_at + 2 + props_len != total {
            return Err(format!("batch entry at byte {at}: sizes do not add up"));
        }
        let properties = std::str::from_utf8(&entry[props_at + 2..])
            .map_err(|_| format!("batch entry at byte {at}: properties are not UTF-8"))?;
        out.push(BatchEntry {
            flag,
            body: &entry[ENTRY_FIXED_BYTES..props_at],
            properties,
        });
        at += total;
    }
    Ok(out)
}
