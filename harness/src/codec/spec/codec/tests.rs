use super::*;
use crate::codec::DEFAULT_MAX_FRAME_LENGTH;

fn codec(s: &str) -> SpecCodec {
    SpecCodec::new(s.parse().unwrap())
}

/// Every message of `wire` fed in `chunks`, then what the end of stream said.
fn decode_in(
    c: &mut SpecCodec,
    chunks: &[&[u8]],
) -> (Vec<Bytes>, Result<Option<Bytes>, CodecError>) {
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(m) = c.decode(&mut buf).unwrap() {
            got.push(m);
        }
    }
    let end = c.decode_eof(&mut buf);
    (got, end)
}

fn encoded(c: &mut SpecCodec, item: &[u8]) -> Result<BytesMut, CodecError> {
    let mut dst = BytesMut::from(&b">"[..]);
    c.encode(item, &mut dst)?;
    assert_eq!(dst[0], b'>');
    Ok(dst.split_off(1))
}

#[test]
fn splits_whole_messages_into_prefix_and_body() {
    let c = codec("length:u16be,offset=2");
    assert_eq!(
        c.spec(),
        &"length:u16be,offset=2".parse::<FrameSpec>().unwrap()
    );
    assert_eq!(
        c.parts(b"\x07\x09\x00\x02hi"),
        (&b"\x07\x09"[..], &b"hi"[..])
    );
    assert_eq!(c.parts(b"\x07"), (&b"\x07"[..], &b""[..]));
    assert_eq!(c.parts(b"\x07\x09\x00"), (&b"\x07\x09"[..], &b""[..]));
    let v = codec("varint,offset=1");
    assert_eq!(v.parts(b"\x30\x82\x01ab"), (&b"\x30"[..], &b"ab"[..]));
    let d = codec("delimiter:\\r\\n");
    assert_eq!(d.parts(b"ab\r\n"), (&b""[..], &b"ab"[..]));
    assert_eq!(d.parts(b"ab\r"), (&b""[..], &b"ab\r"[..]));
}

#[test]
fn a_length_message_is_its_header_and_body() {
    let mut c = codec("length:u16be,offset=1,max=3");
    let (got, end) = decode_in(&mut c, &[b"t\x00", b"\x03ab", b"ct\x00\x00"]);
    assert_eq!(got, [&b"t\x00\x03abc"[..], b"t\x00\x00"]);
    assert_eq!(end, Ok(None));
    let (got, end) = decode_in(&mut c, &[b"t\x00\x03abc"]);
    assert_eq!((got.len(), end), (1, Ok(None)));
    let mut buf = BytesMut::from(&b"t\x00\x04"[..]);
    assert_eq!(
        c.decode(&mut buf),
        Err(CodecError::BadLengthField {
            field: "u16be",
            value: 4,
            problem: LengthProblem::OverMax { len: 4, limit: 3 },
            other: None
        })
    );
    let mut c = codec("length:u16be,max=3");
    let mut buf = BytesMut::from(&b"\x02\x00"[..]);
    assert_eq!(
        c.decode(&mut buf),
        Err(CodecError::BadLengthField {
            field: "u16be",
            value: 512,
            problem: LengthProblem::OverMax { len: 512, limit: 3 },
            other: Some(("u16le", 2))
        })
    );
}

#[test]
fn a_varint_message_is_checked_against_max() {
    let mut c = codec("varint,offset=1,max=128");
    let mut body = vec![b't', 0x80, 0x01];
    body.extend_from_slice(&[7; 128]);
    let (got, end) = decode_in(&mut c, &[&body[..2], &body[2..], b"u\x00"]);
    assert_eq!(got, [&body[..], b"u\x00"]);
    assert_eq!(end, Ok(None));
    let mut buf = BytesMut::from(&b"t\x81\x01"[..]);
    assert_eq!(
        c.decode(&mut buf),
        Err(CodecError::BadLengthField {
            field: "varint",
            value: 129,
            problem: LengthProblem::OverMax {
                len: 129,
                limit: 128
            },
            other: None
        })
    );
    let mut buf = BytesMut::from(&b"t\x80\x80\x80\x80"[..]);
    assert_eq!(c.decode(&mut buf), Err(CodecError::VarintTooLong));
}

#[test]
fn varints_read_and_write_seven_bits_a_byte() {
    for (value, bytes) in [
        (0usize, &b"\x00"[..]),
        (5, b"\x05"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ] {
        let mut dst = BytesMut::new();
        write_varint(value, &mut dst).unwrap();
        assert_eq!(&dst[..], bytes, "{value}");
        let mut more = bytes.to_vec();
        more.push(0xff);
        assert_eq!(
            read_varint(&more),
            Ok(Some((value, bytes.len()))),
            "{value}"
        );
    }
    let mut dst = BytesMut::new();
    assert_eq!(
        write_varint(268_435_456, &mut dst),
        Err(CodecError::LengthOverflow(268_435_456))
    );
    assert!(dst.is_empty());
    assert_eq!(read_varint(b""), Ok(None));
    assert_eq!(read_varint(b"\x80"), Ok(None));
    assert_eq!(read_varint(b"\x80\x80\x80"), Ok(None));
    assert_eq!(
        read_varint(b"\x80\x80\x80\x80"),
        Err(CodecError::VarintTooLong)
    );
    assert_eq!(
        read_varint(b"\x80\x80\x80\x80\x01"),
        Err(CodecError::VarintTooLong)
    );
}

#[test]
fn a_delimited_message_is_found_across_reads() {
    let mut c = codec("delimiter:\\r\\n,max=4");
    let (got, end) = decode_in(&mut c, &[b"ab\r", b"\ncd", b"e", b"f\r\n\r\n"]);
    assert_eq!(got, [&b"ab\r\n"[..], b"cdef\r\n", b"\r\n"]);
    assert_eq!(end, Ok(None));
    // The delimiter may end up to max bytes of body in, and no further.
    let (got, end) = decode_in(&mut c, &[b"abcd\r", b"\n"]);
    assert_eq!(
        (got, end),
        (vec![Bytes::from_static(b"abcd\r\n")], Ok(None))
    );
    let mut buf = BytesMut::from(&b"abcde\r\n"[..]);
    let too_long = Err(CodecError::DelimiterNotFound {
        delimiter: "\"\\r\\n\"".into(),
        limit: 4,
    });
    assert_eq!(c.decode(&mut buf), too_long);
    let mut c = codec("delimiter:\\r\\n,max=4");
    let mut buf = BytesMut::from(&b"abc"[..]);
    assert_eq!(c.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"de\r\n");
    assert_eq!(c.decode(&mut buf), too_long);
    let mut c = codec("lines");
    let (got, _) = decode_in(&mut c, &[b"a", b"b\nc", b"\n"]);
    assert_eq!(got, [&b"ab\n"[..], b"c\n"]);
}

#[test]
fn the_end_of_stream_says_what_is_missing() {
    let cut = |spec: &str, bytes: &[u8]| {
        let mut c = codec(spec);
        decode_in(&mut c, &[bytes]).1
    };
    let t = |part, have, need| Err(CodecError::Truncated { part, have, need });
    assert_eq!(
        cut("length:u16be,offset=1", b"t\x00"),
        t(Part::LengthHeader, 2, 3)
    );
    assert_eq!(
        cut("length:u16be,offset=1", b"t\x00\x05ab"),
        t(Part::Body, 5, 8)
    );
    assert_eq!(
        cut("varint,offset=1", b"t\x80"),
        t(Part::LengthHeader, 2, 3)
    );
    assert_eq!(cut("varint,offset=3", b"t"), t(Part::LengthHeader, 1, 4));
    assert_eq!(cut("varint,offset=1", b"t\x03a"), t(Part::Body, 3, 5));
    assert_eq!(cut("delimiter:\\r\\n", b"abc"), t(Part::Delimited, 3, 5));
    assert_eq!(cut("delimiter:\\r\\n", b"abc\r"), t(Part::Delimited, 4, 5));
    assert_eq!(cut("delimiter:abc", b"xab"), t(Part::Delimited, 3, 4));
    assert_eq!(cut("delimiter:abc", b"xa"), t(Part::Delimited, 2, 4));
    assert_eq!(cut("delimiter:aab", b"xaa"), t(Part::Delimited, 3, 4));
    assert_eq!(cut("lines", b""), Ok(None));
}

#[test]
fn encodes_prefix_field_body() {
    let mut c = codec("postgres");
    assert_eq!(
        encoded(&mut c, b"QSELECT 1\0").unwrap(),
        &b"Q\x00\x00\x00\x0dSELECT 1\0"[..]
    );
    assert_eq!(
        encoded(&mut c, b""),
        Err(CodecError::ShortItem { have: 0, need: 1 })
    );
    assert_eq!(encoded(&mut c, b"Q").unwrap(), &b"Q\x00\x00\x00\x04"[..]);
    let mut c = codec("length:u8,offset=1,max=300");
    assert_eq!(
        encoded(&mut c, &[b'x'; 257]),
        Err(CodecError::LengthOverflow(256))
    );
    let mut c = codec("varint,offset=1,max=128");
    let mut item = vec![b't'];
    item.extend_from_slice(&[1; 128]);
    let out = encoded(&mut c, &item).unwrap();
    assert_eq!(&out[..3], b"t\x80\x01");
    assert_eq!(out.len(), 131);
    item.push(1);
    assert_eq!(
        encoded(&mut c, &item),
        Err(CodecError::FrameTooLarge {
            len: 129,
            limit: 128
        })
    );
    let mut c = codec("varint");
    let over = DEFAULT_MAX_FRAME_LENGTH + 1;
    assert_eq!(
        encoded(&mut c, &vec![0; over]),
        Err(CodecError::FrameTooLarge {
            len: over as u64,
            limit: DEFAULT_MAX_FRAME_LENGTH
        })
    );
}

#[test]
fn a_delimited_body_must_not_hold_its_delimiter() {
    let mut c = codec("delimiter:\\r\\n,max=4");
    assert_eq!(encoded(&mut c, b"abcd").unwrap(), &b"abcd\r\n"[..]);
    assert_eq!(encoded(&mut c, b"").unwrap(), &b"\r\n"[..]);
    assert_eq!(encoded(&mut c, b"ab\r").unwrap(), &b"ab\r\r\n"[..]);
    assert_eq!(
        encoded(&mut c, b"abcde"),
        Err(CodecError::FrameTooLarge { len: 5, limit: 4 })
    );
    let inside = Err(CodecError::DelimiterInBody {
        delimiter: "\"\\r\\n\"".into(),
    });
    assert_eq!(encoded(&mut c, b"a\r\nb"), inside);
    // The body's last byte and the delimiter's first would make an earlier delimiter.
    let mut c = codec("delimiter:\\n\\n");
    assert_eq!(
        encoded(&mut c, b"a\n"),
        Err(CodecError::DelimiterInBody {
            delimiter: "\"\\n\\n\"".into()
        })
    );
    let mut c = codec("lines");
    let mut dst = BytesMut::new();
    c.encode(Bytes::from_static(b"x"), &mut dst).unwrap();
    assert_eq!(&dst[..], b"x\n");
    assert!(c.encode(Bytes::from_static(b"x\ny"), &mut dst).is_err());
    assert_eq!(&dst[..], b"x\n", "a refused item leaves nothing behind");
}

#[test]
fn finds_single_and_multi_byte_needles() {
    assert_eq!(find(b"abcabc", b"c"), Some(2));
    assert_eq!(find(b"abcabc", b"ca"), Some(2));
    assert_eq!(find(b"abcabc", b"x"), None);
    assert_eq!(find(b"abcabc", b"cb"), None);
    assert_eq!(find(b"", b"ab"), None);
}
