//! The property's round trip: messages → encode → cut → decode give the messages back, and a
//! prefix of the stream gives a prefix of them, then `Truncated`.

use super::*;

/// Largest message the round trip builds (past naive's 1024 to cross its limit).
const MAX_MESSAGE: usize = 1500;
/// Most message bytes in one round trip, all messages together: past 1024 once, short enough
/// to keep an execution cheap.
const MAX_TOTAL: usize = 1100;
/// Most messages in one round trip.
const MAX_MESSAGES: u8 = 8;

/// `[count][(len: u16 le, bytes)…]`: the messages of a round trip.
pub(super) fn messages(cur: &mut Cursor) -> Vec<Bytes> {
    let count = cur.byte() % (MAX_MESSAGES + 1);
    let mut budget = MAX_TOTAL;
    (0..count)
        .map(|_| {
            let len = u16::from_le_bytes([cur.byte(), cur.byte()]) as usize % (MAX_MESSAGE + 1);
            let len = len.min(budget);
            budget -= len;
            Bytes::from(cur.bytes(len))
        })
        .collect()
}

pub(super) fn round_trip(rest: &[u8]) -> Result<(), Failure> {
    let mut cur = Cursor(rest);
    let framing = cur.byte();
    let at = cur.byte();
    let messages = messages(&mut cur);
    let lens = cur.0;
    match framing % 12 {
        i @ 0..=3 => {
            let (name, field) = STRUCT_FIELDS[usize::from(i)];
            let codec = || LengthCodec::builder().field(field).new_codec();
            let expected = messages.iter().map(|m| BytesMut::from(&m[..])).collect();
            let stream = encode_all(name, codec(), messages.iter().map(|m| &m[..]))?;
            expect(name, codec, &stream, lens, at, expected, (same, exact))
        }
        i @ 4..=5 => {
            let key = if i == 4 {
                SizeKey::FileSize
            } else {
                SizeKey::DataSize
            };
            let with_md5 = i == 5;
            let codec = || {
                JsonCodec::builder()
                    .size_key(key)
                    .with_md5(with_md5)
                    .new_codec()
            };
            let frames: Vec<JsonFrame> = messages.iter().enumerate().map(json_frame).collect();
            let stream = encode_all("json", codec(), frames.iter().cloned())?;
            let expected = frames
                .into_iter()
                .map(|f| JsonFrame {
                    header: header_of(key, with_md5, &f),
                    body: f.body,
                })
                .collect();
            expect("json", codec, &stream, lens, at, expected, (same, exact))
        }
        i @ 6..=7 => {
            let kind = if i == 6 {
                HeaderKind::Struct
            } else {
                HeaderKind::Json
            };
            let codec = || FramedCodec::new(kind);
            let stream = encode_all("framed", codec(), messages.iter().cloned())?;
            expect("framed", codec, &stream, lens, at, messages, (same, exact))
        }
        8 => upload_round_trip(&messages, lens, at),
        9 => {
            let mut stream = BytesMut::new();
            let mut pieces: Vec<Bytes> = Vec::new();
            let mut expected = Vec::new();
            for m in &messages {
                encode_length(m.len(), &mut stream);
                pieces.push(stream.split().freeze());
                pieces.extend(cut(m, lens).into_iter().map(Bytes::copy_from_slice));
                expected.push(ReadyItem::Length(m.len()));
                expected.push(ReadyItem::Body(BytesMut::from(&m[..])));
            }
            let got = decode_chunks(
                &mut ReadyReplyDecoder::default(),
                pieces.iter().map(|p| &p[..]),
            );
            compare(
                "ready reply",
                Decoded {
                    items: expected,
                    error: None,
                },
                got,
            )
        }
        10 => {
            let n = messages.len();
            let stream = encode_all("token", TokenDecoder::default(), (0..n).map(|_| ()))?;
            expect(
                "token",
                TokenDecoder::default,
                &stream,
                lens,
                at,
                vec![(); n],
                (same, exact),
            )
        }
        _ => {
            let fit: Vec<&Bytes> = messages
                .iter()
                .filter(|m| (1..=1024).contains(&m.len()))
                .collect();
            let got = decode_chunks(&mut NaiveCodec::default(), fit.iter().map(|m| &m[..]));
            let expected = fit.iter().map(|m| BytesMut::from(&m[..])).collect();
            compare(
                "naive",
                Decoded {
                    items: expected,
                    error: None,
                },
                got,
            )
        }
    }
}

/// Message `i` as a JSON frame; every other one carries a `name` key.
fn json_frame((i, body): (usize, &Bytes)) -> JsonFrame {
    let mut header = Map::new();
    if i % 2 == 1 {
        header.insert("name".into(), Value::from(format!("m{i}")));
    }
    JsonFrame {
        header,
        body: body.clone(),
    }
}

/// The header the decoder must give back for `frame` (which has no size or md5 key): its keys,
/// the size under `key`, and the body's md5 if on.
fn header_of(key: SizeKey, with_md5: bool, frame: &JsonFrame) -> Map<String, Value> {
    let mut expected = frame.header.clone();
    expected.insert(key.as_str().into(), Value::from(frame.body.len()));
    if with_md5 {
        expected.insert("md5".into(), Value::from(md5_hex(&frame.body)));
    }
    expected
}

fn upload_round_trip(messages: &[Bytes], lens: &[u8], at: u8) -> Result<(), Failure> {
    let mut stream = BytesMut::new();
    let mut expected = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let md5 = md5_hex(m);
        let header = UploadHeader {
            file_name: format!("dir/f{i}.bin"),
            file_size: m.len(),
            md5: Some(md5.clone()),
        };
        header
            .encode(LengthField::I32_LE, &mut stream)
            .map_err(|e| fail("upload", format!("encoding: {e}")))?;
        stream.extend_from_slice(m);
        expected.push(UploadItem::Header(header));
        if !m.is_empty() {
            expected.push(UploadItem::Chunk(BytesMut::from(&m[..])));
        }
        expected.push(UploadItem::Done { md5 });
    }
    expect(
        "upload",
        UploadDecoder::default,
        &stream,
        lens,
        at,
        expected,
        (join_upload, partial_chunk),
    )
}
