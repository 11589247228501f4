//! The property's path for framing descriptions: a fuzzer-chosen description, its raw decode
//! over chunkings, and its round trip.

use super::round_trip::messages;
use super::*;

/// The description a spec input chooses (layout in the module doc).
pub(super) fn fuzz_spec(cur: &mut Cursor) -> FrameSpec {
    let (hi, lo) = (cur.byte(), cur.byte());
    let max = if hi & 0x80 != 0 {
        DEFAULT_MAX_FRAME_LENGTH
    } else {
        usize::from(u16::from_be_bytes([hi, lo]))
    };
    match cur.byte() % 3 {
        0 => FrameSpec::Length(LengthHeader {
            ty: LengthType::ALL[usize::from(cur.byte()) % LengthType::ALL.len()],
            offset: usize::from(cur.byte() % 8),
            adjust: i64::from(cur.byte() as i8),
            max,
        }),
        1 => FrameSpec::Varint {
            offset: usize::from(cur.byte() % 8),
            max,
        },
        _ => {
            let n = usize::from(cur.byte() % 4) + 1;
            FrameSpec::Delimiter {
                delimiter: Bytes::from(cur.bytes(n)),
                max,
            }
        }
    }
}

/// The description's codec over `payload` whole, cut by `lens` and (as `reads` says) in 1-byte
/// pieces.
pub(super) fn spec_raw(
    spec: &FrameSpec,
    payload: &[u8],
    lens: &[u8],
    reads: Reads,
) -> Result<(), Failure> {
    let split = Splits::new(payload, lens, reads);
    let codec = || SpecCodec::new(spec.clone());
    same_over("spec", &split.all(), codec, same)
}

/// Messages → encode (each alone, then as one stream) → split → decode: the encoded messages
/// back, one by one; a prefix of the stream gives a prefix of them, then `Truncated`.
pub(super) fn spec_round_trip(spec: &FrameSpec, mut cur: Cursor) -> Result<(), Failure> {
    let at = cur.byte();
    let items = messages(&mut cur);
    let mut codec = SpecCodec::new(spec.clone());
    let mut stream = BytesMut::new();
    let mut expected = Vec::new();
    for item in &items {
        let mut one = BytesMut::new();
        match codec.encode(&item[..], &mut one) {
            Ok(()) => {}
            Err(
                CodecError::ShortItem { .. }
                | CodecError::FrameTooLarge { .. }
                | CodecError::LengthOverflow(_)
                | CodecError::BodyBelowAdjust { .. }
                | CodecError::DelimiterInBody { .. },
            ) if one.is_empty() => continue,
            Err(e) => {
                return Err(fail(
                    "spec",
                    format!("encoding {item:?}: {e} (wrote {one:?})"),
                ))
            }
        }
        let (prefix, body) = item.split_at(spec.offset());
        let framed = match spec {
            FrameSpec::Delimiter { delimiter, .. } => {
                one.starts_with(body) && one.ends_with(delimiter)
            }
            _ => one.starts_with(prefix) && one.ends_with(body),
        };
        if !framed {
            return Err(fail("spec", format!("{item:?} encoded as {one:?}")));
        }
        stream.extend_from_slice(&one);
        expected.push(one.freeze());
    }
    let codec = || SpecCodec::new(spec.clone());
    expect("spec", codec, &stream, cur.0, at, expected, (same, exact))
}
