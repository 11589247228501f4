//! Scripted partial reads through `tokio_util::codec::FramedRead`, in the style of tokio-util's
//! `tests/length_delimited.rs`: a mock reader hands out the script's pieces one read at a time and
//! returns `Pending` at each pause, and the stream must yield a frame exactly when its last byte
//! has arrived, never before, then end (or fail with the typed error) at EOF.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::task::noop_waker_ref;
use futures_util::Stream;
use serde_json::Value;
use stickler::codec::framed::{FramedCodec, HeaderKind};
use stickler::codec::json::{md5_hex, JsonCodec};
use stickler::codec::length::LengthCodec;
use stickler::codec::ready::{ReadyItem, ReadyReplyDecoder, TokenDecoder};
use stickler::codec::upload::{UploadDecoder, UploadHeader, UploadItem};
use stickler::codec::{CodecError, Part};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::{Decoder, FramedRead};

enum Step {
    Data(Vec<u8>),
    Pause,
}

/// A reader following a script: each `Data` is one read (cut to the caller's buffer), each
/// `Pause` one `Pending`; after the script, EOF.
struct Scripted(VecDeque<Step>);

fn script(steps: impl IntoIterator<Item = Step>) -> Scripted {
    Scripted(steps.into_iter().collect())
}

fn data(bytes: impl AsRef<[u8]>) -> Step {
    Step::Data(bytes.as_ref().to_vec())
}

use Step::Pause;

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.0.pop_front() {
            None => Poll::Ready(Ok(())),
            Some(Step::Pause) => Poll::Pending,
            Some(Step::Data(mut d)) => {
                let n = d.len().min(buf.remaining());
                buf.put_slice(&d[..n]);
                if n < d.len() {
                    self.0.push_front(Step::Data(d.split_off(n)));
                }
                Poll::Ready(Ok(()))
            }
        }
    }
}

fn poll<D: Decoder>(
    framed: &mut FramedRead<Scripted, D>,
) -> Poll<Option<Result<D::Item, D::Error>>> {
    let mut cx = Context::from_waker(noop_waker_ref());
    Pin::new(framed).poll_next(&mut cx)
}

fn next<D: Decoder>(framed: &mut FramedRead<Scripted, D>) -> Option<Result<D::Item, D::Error>> {
    match poll(framed) {
        Poll::Ready(item) => item,
        Poll::Pending => panic!("pending where the script has no pause"),
    }
}

fn pending<D: Decoder>(framed: &mut FramedRead<Scripted, D>)
where
    D::Item: std::fmt::Debug,
    D::Error: std::fmt::Debug,
{
    let got = poll(framed);
    assert!(
        got.is_pending(),
        "a frame before its bytes arrived: {got:?}"
    );
}

fn le(n: i32) -> [u8; 4] {
    n.to_le_bytes()
}

#[test]
fn struct_single_frame_one_read() {
    let mut io = FramedRead::new(
        script([data([&le(9)[..], b"abcdefghi"].concat())]),
        LengthCodec::default(),
    );
    assert_eq!(&next(&mut io).unwrap().unwrap()[..], b"abcdefghi");
    assert!(next(&mut io).is_none());
}

#[test]
fn struct_single_frame_split_with_pauses() {
    let steps = [
        data(&le(9)[..2]),
        Pause,
        data(&le(9)[2..]),
        Pause,
        data("abc"),
        Pause,
        data("defghi"),
    ];
    let mut io = FramedRead::new(script(steps), LengthCodec::default());
    pending(&mut io);
    pending(&mut io);
    pending(&mut io);
    assert_eq!(&next(&mut io).unwrap().unwrap()[..], b"abcdefghi");
    assert!(next(&mut io).is_none());
}

#[test]
fn struct_multi_frames_multi_reads_with_pauses() {
    let stream = [&le(3)[..], b"abc", &le(0)[..], &le(2)[..], b"de"].concat();
    let steps = [
        data(&stream[..5]),
        Pause,
        data(&stream[5..9]),
        Pause,
        data(&stream[9..]),
    ];
    let mut io = FramedRead::new(script(steps), LengthCodec::default());
    pending(&mut io);
    assert_eq!(&next(&mut io).unwrap().unwrap()[..], b"abc");
    pending(&mut io);
    assert_eq!(&next(&mut io).unwrap().unwrap()[..], b"");
    assert_eq!(&next(&mut io).unwrap().unwrap()[..], b"de");
    assert!(next(&mut io).is_none());
}

#[test]
fn struct_incomplete_head_at_eof() {
    let mut io = FramedRead::new(script([data([0, 0])]), LengthCodec::default());
    let err = next(&mut io).unwrap().unwrap_err();
    assert_eq!(
        err,
        CodecError::Truncated {
            part: Part::LengthHeader,
            have: 2,
            need: 4
        }
    );
}

#[test]
fn struct_incomplete_body_at_eof() {
    let steps = [data(le(9)), Pause, data("abc")];
    let mut io = FramedRead::new(script(steps), LengthCodec::default());
    pending(&mut io);
    let err = next(&mut io).unwrap().unwrap_err();
    assert_eq!(
        err,
        CodecError::Truncated {
            part: Part::Body,
            have: 3,
            need: 9
        }
    );
}

#[test]
fn struct_max_frame_len_and_negative() {
    let codec = LengthCodec::builder().max_frame_length(5).new_codec();
    let mut io = FramedRead::new(script([data(le(6)), data("abcdef")]), codec);
    assert_eq!(
        next(&mut io).unwrap().unwrap_err(),
        CodecError::FrameTooLarge { len: 6, limit: 5 }
    );
    let mut io = FramedRead::new(script([data(le(-1))]), LengthCodec::default());
    assert_eq!(
        next(&mut io).unwrap().unwrap_err(),
        CodecError::NegativeLength(-1)
    );
}

#[test]
fn json_frames_one_byte_reads_with_pauses() {
    let head = br#"{"name": "jason", "file_size": 3, "info": "x"}"#;
    let stream = [&le(head.len() as i32)[..], head, b"abc"].concat();
    let steps = stream.iter().flat_map(|b| [data([*b]), Pause]);
    let mut io = FramedRead::new(script(steps), JsonCodec::default());
    // Every read but the last leaves the frame incomplete.
    for _ in 1..stream.len() {
        pending(&mut io);
    }
    let frame = next(&mut io).unwrap().unwrap();
    assert_eq!(&frame.body[..], b"abc");
    assert_eq!(frame.header["name"], Value::from("jason"));
    pending(&mut io);
    assert!(next(&mut io).is_none());
}

#[test]
fn framed_json_header_split_inside_the_json() {
    let head = br#"{"data_size": 2}"#;
    let stream = [&le(head.len() as i32)[..], head, b"hi"].concat();
    let steps = [
        data(&stream[..10]),
        Pause,
        data(&stream[10..]),
        data(&stream),
    ];
    let mut io = FramedRead::new(script(steps), FramedCodec::new(HeaderKind::Json));
    pending(&mut io);
    assert_eq!(next(&mut io).unwrap().unwrap(), Bytes::from_static(b"hi"));
    assert_eq!(next(&mut io).unwrap().unwrap(), Bytes::from_static(b"hi"));
    assert!(next(&mut io).is_none());
}

#[test]
fn upload_streams_pieces_as_they_arrive() {
    let file = b"0123456789";
    let mut stream = BytesMut::new();
    let header = UploadHeader {
        file_name: "x/a.txt".into(),
        file_size: 10,
        md5: Some(md5_hex(file)),
    };
    header.encode(Default::default(), &mut stream).unwrap();
    let hlen = stream.len();
    stream.extend_from_slice(file);
    let steps = [data(&stream[..hlen + 4]), Pause, data(&stream[hlen + 4..])];
    let mut io = FramedRead::new(script(steps), UploadDecoder::default());
    assert_eq!(next(&mut io).unwrap().unwrap(), UploadItem::Header(header));
    assert_eq!(
        next(&mut io).unwrap().unwrap(),
        UploadItem::Chunk(BytesMut::from(&b"0123"[..]))
    );
    pending(&mut io);
    assert_eq!(
        next(&mut io).unwrap().unwrap(),
        UploadItem::Chunk(BytesMut::from(&b"456789"[..]))
    );
    assert_eq!(
        next(&mut io).unwrap().unwrap(),
        UploadItem::Done { md5: md5_hex(file) }
    );
    assert!(next(&mut io).is_none());
}

#[test]
fn ready_reply_then_token_across_pauses() {
    let steps = [data("12"), Pause, data("hello "), Pause, data("world!")];
    let mut io = FramedRead::new(script(steps), ReadyReplyDecoder::default());
    assert_eq!(next(&mut io).unwrap().unwrap(), ReadyItem::Length(12));
    pending(&mut io);
    pending(&mut io);
    assert_eq!(
        next(&mut io).unwrap().unwrap(),
        ReadyItem::Body(BytesMut::from(&b"hello world!"[..]))
    );
    assert!(next(&mut io).is_none());

    let steps = [data("re"), Pause, data("ady"), data("rea"), Pause];
    let mut io = FramedRead::new(script(steps), TokenDecoder::default());
    pending(&mut io);
    assert!(matches!(next(&mut io), Some(Ok(()))));
    pending(&mut io);
    let err = next(&mut io).unwrap().unwrap_err();
    assert_eq!(
        err,
        CodecError::Truncated {
            part: Part::Token,
            have: 3,
            need: 5
        }
    );
}
