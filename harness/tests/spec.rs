//! Framing descriptions: the grammar and its presets read and print back; one `SpecCodec`
//! decodes real protocols' bytes, whatever the reads, refuses attacker lengths without
//! allocating for them, and encodes what it decodes; `stickler framings` lists them.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use stickler::codec::property::split_by;
use stickler::codec::spec::{
    FrameSpec, FramingChoice, LengthHeader, LengthProblem, LengthType, SpecCodec, PRESETS,
};
use stickler::codec::{decode_chunks, CodecError, Decoded, Framing, Part};
use tokio_util::codec::{Decoder, Encoder};

fn spec(s: &str) -> FrameSpec {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn decode_all(s: &str, stream: &[u8]) -> Decoded<Bytes, CodecError> {
    decode_chunks(&mut SpecCodec::new(spec(s)), [stream])
}

#[test]
fn presets_are_the_real_protocols_and_print_back() {
    let want = [
        ("dns", "length:u16be"),
        ("modbus", "length:u16be,offset=4"),
        ("mqtt", "varint,offset=1"),
        ("postgres", "length:i32be,offset=1,adjust=-4"),
        ("kafka", "length:i32be"),
        ("thrift", "length:i32be"),
        ("tls", "length:u16be,offset=3"),
        ("lines", "delimiter:\\n"),
        ("crlf", "delimiter:\\r\\n"),
    ];
    assert_eq!(PRESETS.len(), want.len());
    for (preset, (name, description)) in PRESETS.iter().zip(want) {
        assert_eq!(preset.name, name);
        assert_eq!(preset.spec().to_string(), description, "{name}");
        assert_eq!(spec(name), preset.spec(), "{name}");
        assert_eq!(spec(description), preset.spec(), "{name}");
        assert!(!preset.summary.is_empty() && preset.diagram.lines().count() >= 2);
    }
}

#[test]
fn every_grammar_form_prints_back_canonically() {
    let cases = [
        ("length:u8", "length:u8"),
        (
            "length:u24be,offset=2,adjust=3,max=1000",
            "length:u24be,offset=2,adjust=3,max=1000",
        ),
        ("length:u64le,max=65536", "length:u64le,max=64k"),
        ("length:i64be,max=8m", "length:i64be"),
        ("length:u32le,adjust=-2,offset=0", "length:u32le,adjust=-2"),
        (" varint ", "varint"),
        ("varint,offset=1,max=1g", "varint,offset=1,max=1g"),
        ("delimiter:\\r\\n", "delimiter:\\r\\n"),
        (
            "delimiter:\\0\\t\\\\END\\x2c\\xff",
            "delimiter:\\0\\t\\\\END\\x2c\\xff",
        ),
        ("delimiter:\\x41", "delimiter:A"),
        ("lines,max=100", "delimiter:\\n,max=100"),
        ("dns,max=512", "length:u16be,max=512"),
        ("mqtt,max=0", "varint,offset=1,max=0"),
    ];
    for (input, canonical) in cases {
        let parsed = spec(input);
        assert_eq!(parsed.to_string(), canonical, "{input}");
        assert_eq!(spec(canonical), parsed, "{input}");
    }
    for ty in LengthType::ALL {
        let s = FrameSpec::length(ty);
        assert_eq!(spec(&s.to_string()), s);
    }
}

#[test]
fn descriptions_are_strings_in_serde() {
    let s = spec("postgres");
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(json, r#""length:i32be,offset=1,adjust=-4""#);
    assert_eq!(serde_json::from_str::<FrameSpec>(&json).unwrap(), s);
    let bad = serde_json::from_str::<FrameSpec>(r#""length:u17""#).unwrap_err();
    assert!(bad.to_string().contains("unknown length type"), "{bad}");
}

#[test]
fn framing_choice_takes_built_in_names_and_descriptions() {
    assert_eq!(
        "struct".parse::<FramingChoice>().unwrap(),
        FramingChoice::Builtin(Framing::Struct)
    );
    let dns = "dns".parse::<FramingChoice>().unwrap();
    assert_eq!(dns, FramingChoice::Spec(spec("length:u16be")));
    assert_eq!(dns.to_string(), "length:u16be");
}

#[test]
fn bad_descriptions_say_what_is_wrong_and_what_is_accepted() {
    let cases = [
        ("", "empty"),
        ("length", "needs a type"),
        ("length:u17", "expected one of u8 u16be"),
        (
            "length:u16be,offset=x",
            "`offset=x`: expected a whole number from 0 to 4096",
        ),
        ("length:u16be,offset=5000", "from 0 to 4096"),
        ("length:u16be,offset=-1", "from 0 to 4096"),
        ("length:u16be,max=2g", "over the largest max"),
        ("length:u16be,max=12q", "`max=12q`"),
        ("length:u16be,max=1,max=2", "given twice"),
        (
            "length:u16be,stride=2",
            "this form takes offset, adjust and max",
        ),
        ("length:u16be,offset", "not KEY=VALUE"),
        ("varint,adjust=1", "this form takes offset and max"),
        ("lines,offset=1", "this form takes max"),
        ("delimiter", "needs its bytes"),
        ("delimiter:", "the delimiter is empty"),
        ("delimiter:\\q", "unknown escape"),
        ("delimiter:\\x4", "two hex digits"),
        ("json", "is a built-in framing"),
        ("http", "unknown framing `http`"),
        ("frame:u8", "unknown form `frame:`"),
    ];
    for (input, wanted) in cases {
        let err = input.parse::<FrameSpec>().expect_err(input).to_string();
        assert!(err.contains(wanted), "{input:?}: {err}");
        assert!(err.contains(&format!("{input:?}")), "{input:?}: {err}");
    }
    let long = format!("delimiter:{}", "x".repeat(65));
    assert!(long.parse::<FrameSpec>().is_err());
}

/// One whole message per element, every byte accounted for.
fn frames(s: &str, stream: &[u8], want: &[&[u8]]) {
    let got = decode_all(s, stream);
    let want: Vec<Bytes> = want.iter().map(|m| Bytes::copy_from_slice(m)).collect();
    assert_eq!(
        got,
        Decoded {
            items: want.clone(),
            error: None
        },
        "{s}"
    );
    // One byte at a time gives the same.
    let ones = decode_chunks(&mut SpecCodec::new(spec(s)), stream.chunks(1));
    assert_eq!(
        ones,
        Decoded {
            items: want,
            error: None
        },
        "{s}, 1-byte reads"
    );
}

#[test]
fn a_dns_query_over_tcp() {
    // RFC 1035 §4.2.2: length u16be (29), then id 0x1234, flags 0x0100 (RD), qdcount 1,
    // an/ns/arcount 0, qname 7"example"3"com"0, qtype A (1), qclass IN (1).
    let query: &[u8] = b"\x00\x1d\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
                         \x07example\x03com\x00\x00\x01\x00\x01";
    assert_eq!(query.len(), 31);
    frames("dns", &[query, query].concat(), &[query, query]);
}

#[test]
fn a_modbus_read_holding_registers_request() {
    // MBAP: transaction 0x0001, protocol 0x0000, length 6 (unit + PDU), unit 0x11; PDU:
    // function 0x03 (read holding registers), start 0x006b, count 0x0003.
    let request: &[u8] = b"\x00\x01\x00\x00\x00\x06\x11\x03\x00\x6b\x00\x03";
    frames("modbus", &[request, request].concat(), &[request, request]);
}

#[test]
fn an_mqtt_connect_and_a_two_byte_remaining_length() {
    // Fixed header 0x10 (CONNECT), remaining length 15; variable header: protocol name
    // "\0\x04MQTT", level 4, flags 0x02 (clean session), keep alive 60; payload: client id "abc".
    let connect: &[u8] = b"\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03abc";
    // PUBLISH (0x30) with a remaining length of 200: varint 0xc8 0x01.
    let mut publish = vec![0x30, 0xc8, 0x01];
    publish.extend(std::iter::repeat_n(b'p', 200));
    frames("mqtt", &[connect, &publish].concat(), &[connect, &publish]);
}

#[test]
fn a_postgres_query_message_round_trips() {
    // Type 'Q', length i32be 14 (itself and the query), the query "SELECT 1;\0".
    let query: &[u8] = b"Q\x00\x00\x00\x0eSELECT 1;\x00";
    frames("postgres", query, &[query]);
    // Encoding takes the type byte and the contents; the length is written between them.
    let mut out = BytesMut::new();
    SpecCodec::new(spec("postgres"))
        .encode(&b"QSELECT 1;\x00"[..], &mut out)
        .unwrap();
    assert_eq!(&out[..], query);
}

#[test]
fn a_tls_client_hello_record() {
    // Record: content type 0x16 (handshake), legacy version 0x0301, length 6; fragment:
    // handshake type 1 (client_hello), u24 length 2, client_version 0x0303.
    let record: &[u8] = b"\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03";
    frames("tls", &[record, record].concat(), &[record, record]);
}

#[test]
fn lines_keep_their_delimiter() {
    frames("lines", b"one\ntwo\n\n", &[b"one\n", b"two\n", b"\n"]);
    frames("crlf", b"EHLO x\r\nQUIT\r\n", &[b"EHLO x\r\n", b"QUIT\r\n"]);
    let got = decode_all("crlf", b"EHLO x\r\nQUIT\r");
    assert_eq!(
        got.error,
        Some(CodecError::Truncated {
            part: Part::Delimited,
            have: 5,
            need: 6
        })
    );
}

/// Decodes `data` from a buffer of exactly its size: the error, and the buffer must not have
/// grown (nothing reserved for an announced length).
fn refused(s: &str, data: &[u8]) -> CodecError {
    let mut buf = BytesMut::with_capacity(data.len());
    buf.put_slice(data);
    let cap = buf.capacity();
    let mut codec = SpecCodec::new(spec(s));
    let err = codec.decode(&mut buf).expect_err(s);
    assert!(
        buf.capacity() <= cap.max(64),
        "{s}: capacity {}",
        buf.capacity()
    );
    err
}

#[test]
fn attacker_lengths_are_refused_without_allocating() {
    let over = |field, value: i128, len: u64, other| CodecError::BadLengthField {
        field,
        value,
        problem: LengthProblem::OverMax {
            len,
            limit: 8 << 20,
        },
        other,
    };
    assert_eq!(
        refused("length:u32be", b"\x7f\xff\xff\xff"),
        over("u32be", (1 << 31) - 1, (1 << 31) - 1, None)
    );
    assert_eq!(
        refused(
            "length:u64be,offset=2",
            b"ab\xff\xff\xff\xff\xff\xff\xff\xff"
        ),
        over("u64be", u64::MAX as i128, u64::MAX, None)
    );
    assert_eq!(
        refused("kafka", b"\xff\xff\xff\xfb"),
        CodecError::BadLengthField {
            field: "i32be",
            value: -5,
            problem: LengthProblem::Negative,
            other: None,
        }
    );
    assert_eq!(
        refused("length:i64le", &[0xff; 8]),
        CodecError::BadLengthField {
            field: "i64le",
            value: -1,
            problem: LengthProblem::Negative,
            other: None,
        }
    );
    // A length that counts itself, but says 2: the body would be below zero.
    assert_eq!(
        refused("postgres", b"Q\x00\x00\x00\x02"),
        CodecError::BadLengthField {
            field: "i32be",
            value: 2,
            problem: LengthProblem::NegativeBody { adjust: -4 },
            other: None,
        }
    );
    assert_eq!(
        refused("mqtt", b"\x30\xff\xff\xff\x7f"),
        over("varint", 268_435_455, 268_435_455, None)
    );
    assert_eq!(
        refused("mqtt", b"\x30\xff\xff\xff\xff"),
        CodecError::VarintTooLong
    );
    assert_eq!(
        refused("lines,max=16", &[b'x'; 100]),
        CodecError::DelimiterNotFound {
            delimiter: "\"\\n\"".into(),
            limit: 16
        }
    );
}

#[test]
fn an_over_max_length_names_the_other_byte_order_when_it_fits() {
    let err = refused("length:u32be", b"\x05\x00\x00\x00hello");
    assert_eq!(
        err,
        CodecError::BadLengthField {
            field: "u32be",
            value: 0x0500_0000,
            problem: LengthProblem::OverMax {
                len: 0x0500_0000,
                limit: 8 << 20
            },
            other: Some(("u32le", 5)),
        }
    );
    let text = err.to_string();
    assert!(text.contains("length field u32be holds 83886080"), "{text}");
    assert!(text.contains("read as u32le it would be 5"), "{text}");
    // Negative as i32le, 255 as i32be.
    let text = refused("length:i32le", b"\x00\x00\x00\xff").to_string();
    assert!(text.contains("read as i32be it would be 255"), "{text}");
    // Both orders too large: no hint.
    let text = refused("length:u16be,max=100", b"\xff\xff").to_string();
    assert!(!text.contains("read as"), "{text}");
}

#[test]
fn encoding_refuses_what_it_cannot_frame() {
    let enc = |s: &str, item: &[u8]| {
        let mut out = BytesMut::new();
        let err = SpecCodec::new(spec(s)).encode(item, &mut out).expect_err(s);
        assert!(out.is_empty(), "{s}: wrote {out:?}");
        err
    };
    assert_eq!(
        enc("modbus", b"\x00\x01"),
        CodecError::ShortItem { have: 2, need: 4 }
    );
    assert_eq!(
        enc("length:u8,max=1000", &[0; 300]),
        CodecError::LengthOverflow(300)
    );
    assert_eq!(
        enc("dns,max=10", &[0; 11]),
        CodecError::FrameTooLarge { len: 11, limit: 10 }
    );
    assert_eq!(
        enc("length:u8,adjust=3", b"ab"),
        CodecError::BodyBelowAdjust { len: 2, adjust: 3 }
    );
    assert!(matches!(
        enc("crlf", b"a\r\nb"),
        CodecError::DelimiterInBody { .. }
    ));
    // The body's tail and the delimiter would make the delimiter early.
    assert!(matches!(
        enc("delimiter:aa", b"xa"),
        CodecError::DelimiterInBody { .. }
    ));
}

/// A description with small limits, so that over-max and truncation both happen.
fn any_spec() -> impl Strategy<Value = FrameSpec> {
    let max = prop_oneof![Just(8usize << 20), 0usize..600];
    let length = (0..LengthType::ALL.len(), 0usize..6, -8i64..8, max.clone()).prop_map(
        |(ty, offset, adjust, max)| {
            FrameSpec::Length(LengthHeader {
                ty: LengthType::ALL[ty],
                offset,
                adjust,
                max,
            })
        },
    );
    let varint =
        (0usize..6, max.clone()).prop_map(|(offset, max)| FrameSpec::Varint { offset, max });
    let delimiter = (vec(any::<u8>(), 1..4), max).prop_map(|(d, max)| FrameSpec::Delimiter {
        delimiter: Bytes::from(d),
        max,
    });
    prop_oneof![length, varint, delimiter]
}

fn read_sizes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(vec![1u8]), vec(1u8..=16, 1..8), vec(any::<u8>(), 1..4)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_description_prints_back(s in any_spec()) {
        prop_assert_eq!(s.to_string().parse::<FrameSpec>(), Ok(s));
    }

    #[test]
    fn encoded_messages_decode_back_whatever_the_reads(
        s in any_spec(),
        items in vec(vec(any::<u8>(), 0..400), 0..6),
        lens in read_sizes(),
    ) {
        let mut codec = SpecCodec::new(s.clone());
        let mut stream = BytesMut::new();
        let mut want = Vec::new();
        for item in &items {
            let mut one = BytesMut::new();
            if codec.encode(&item[..], &mut one).is_ok() {
                stream.extend_from_slice(&one);
                want.push(one.freeze());
            }
        }
        let got = decode_chunks(&mut SpecCodec::new(s.clone()), split_by(&stream, &lens));
        prop_assert_eq!(got, Decoded { items: want, error: None });
    }

    #[test]
    fn any_bytes_decode_the_same_whatever_the_reads(
        s in any_spec(),
        data in vec(any::<u8>(), 0..700),
        lens in read_sizes(),
    ) {
        let whole = decode_chunks(&mut SpecCodec::new(s.clone()), [&data[..]]);
        let split = decode_chunks(&mut SpecCodec::new(s.clone()), split_by(&data, &lens));
        prop_assert_eq!(split, whole);
    }
}

#[test]
fn stickler_framings_lists_and_shows_one() {
    let bin = env!("CARGO_BIN_EXE_stickler");
    let out = assert_cmd::Command::new(bin)
        .arg("framings")
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for framing in Framing::ALL {
        assert!(
            text.contains(&format!("{framing}  (built-in)")),
            "{framing}"
        );
    }
    for p in &PRESETS {
        assert!(
            text.contains(&format!("{}  ({})", p.name, p.spec())),
            "{}",
            p.name
        );
    }
    assert!(text.contains("length:TYPE[,offset=N][,adjust=N][,max=SIZE]"));
    assert!(text.contains("1 to 4 bytes"));

    let out = assert_cmd::Command::new(bin)
        .args(["framings", "modbus"])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.starts_with("modbus  (length:u16be,offset=4)"),
        "{text}"
    );
    assert!(text.contains("transaction"), "{text}");
    assert!(!text.contains("dns"), "{text}");

    assert_cmd::Command::new(bin)
        .args(["framings", "gopher"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "no framing or preset named \"gopher\"",
        ));
    let help = assert_cmd::Command::new(bin)
        .args(["framings", "--help"])
        .assert()
        .success();
    let text = String::from_utf8(help.get_output().stdout.clone()).unwrap();
    assert!(text.contains("at most 4 bytes"), "{text}");
}
