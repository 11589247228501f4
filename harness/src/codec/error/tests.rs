use super::*;

#[test]
fn parts_name_themselves() {
    let names: Vec<String> = [
        Part::LengthHeader,
        Part::JsonHeader,
        Part::Body,
        Part::Digits,
        Part::Token,
        Part::Delimited,
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    assert_eq!(
        names,
        [
            "length header",
            "JSON header",
            "body",
            "length digits",
            "ready token",
            "message before its delimiter"
        ]
    );
    let e = CodecError::Truncated {
        part: Part::Body,
        have: 1,
        need: 3,
    };
    assert_eq!(
        e.to_string(),
        "stream ended inside the body: have 1 of 3 bytes"
    );
}

#[test]
fn a_bad_length_field_names_the_other_byte_order_when_it_would_do() {
    let e = |other| CodecError::BadLengthField {
        field: "u16be",
        value: 1280,
        problem: LengthProblem::OverMax {
            len: 1280,
            limit: 100,
        },
        other,
    };
    let plain = e(None).to_string();
    assert!(
        plain.ends_with("raise max= if this is expected)"),
        "{plain}"
    );
    assert_eq!(
        e(Some(("u16le", 5))).to_string(),
        format!("{plain}; read as u16le it would be 5")
    );
}

fn io(kind: io::ErrorKind, msg: &str) -> CodecError {
    CodecError::Io(io::Error::new(kind, msg.to_string()))
}

/// Each error, an equal one built apart, and ones that differ in one field each.
fn cases() -> Vec<(CodecError, CodecError, Vec<CodecError>)> {
    use CodecError::*;
    let problem = LengthProblem::Negative;
    let blf = |field, value, problem, other| BadLengthField {
        field,
        value,
        problem,
        other,
    };
    vec![
        (
            NegativeLength(-1),
            NegativeLength(-1),
            vec![NegativeLength(-2)],
        ),
        (
            FrameTooLarge { len: 5, limit: 4 },
            FrameTooLarge { len: 5, limit: 4 },
            vec![
                FrameTooLarge { len: 6, limit: 4 },
                FrameTooLarge { len: 5, limit: 3 },
                JsonHeaderTooLarge { len: 5, limit: 4 },
            ],
        ),
        (
            JsonHeaderTooLarge { len: 5, limit: 4 },
            JsonHeaderTooLarge { len: 5, limit: 4 },
            vec![
                JsonHeaderTooLarge { len: 6, limit: 4 },
                JsonHeaderTooLarge { len: 5, limit: 3 },
            ],
        ),
        (
            HeaderNotJson("a".into()),
            HeaderNotJson("a".into()),
            vec![HeaderNotJson("b".into()), BadDigits("a".into())],
        ),
        (
            BadDigits("a".into()),
            BadDigits("a".into()),
            vec![BadDigits("b".into()), BadFileName("a".into())],
        ),
        (
            BadFileName("a".into()),
            BadFileName("a".into()),
            vec![BadFileName("b".into()), HeaderNotJson("a".into())],
        ),
        (HeaderNotObject, HeaderNotObject, vec![MissingSize]),
        (MissingSize, MissingSize, vec![EmptyToken]),
        (EmptyToken, EmptyToken, vec![VarintTooLong]),
        (VarintTooLong, VarintTooLong, vec![HeaderNotObject]),
        (
            BadSize {
                key: "file_size",
                value: "x".into(),
            },
            BadSize {
                key: "file_size",
                value: "x".into(),
            },
            vec![
                BadSize {
                    key: "data_size",
                    value: "x".into(),
                },
                BadSize {
                    key: "file_size",
                    value: "y".into(),
                },
            ],
        ),
        (
            ConflictingSizes {
                file_size: 1,
                data_size: 2,
            },
            ConflictingSizes {
                file_size: 1,
                data_size: 2,
            },
            vec![
                ConflictingSizes {
                    file_size: 3,
                    data_size: 2,
                },
                ConflictingSizes {
                    file_size: 1,
                    data_size: 3,
                },
            ],
        ),
        (
            BadField { key: "md5" },
            BadField { key: "md5" },
            vec![BadField { key: "file_name" }],
        ),
        (
            Md5Mismatch {
                expected: "a".into(),
                actual: "b".into(),
            },
            Md5Mismatch {
                expected: "a".into(),
                actual: "b".into(),
            },
            vec![
                Md5Mismatch {
                    expected: "c".into(),
                    actual: "b".into(),
                },
                Md5Mismatch {
                    expected: "a".into(),
                    actual: "c".into(),
                },
            ],
        ),
        (
            Truncated {
                part: Part::Body,
                have: 1,
                need: 2,
            },
            Truncated {
                part: Part::Body,
                have: 1,
                need: 2,
            },
            vec![
                Truncated {
                    part: Part::Token,
                    have: 1,
                    need: 2,
                },
                Truncated {
                    part: Part::Body,
                    have: 0,
                    need: 2,
                },
                Truncated {
                    part: Part::Body,
                    have: 1,
                    need: 3,
                },
            ],
        ),
        (
            UnexpectedToken {
                expected: "a".into(),
                got: "b".into(),
            },
            UnexpectedToken {
                expected: "a".into(),
                got: "b".into(),
            },
            vec![
                UnexpectedToken {
                    expected: "c".into(),
                    got: "b".into(),
                },
                UnexpectedToken {
                    expected: "a".into(),
                    got: "c".into(),
                },
            ],
        ),
        (
            LengthOverflow(7),
            LengthOverflow(7),
            vec![LengthOverflow(8)],
        ),
        (
            blf("u8", 1, problem, Some(("u16le", 1))),
            blf("u8", 1, problem, Some(("u16le", 1))),
            vec![
                blf("u16be", 1, problem, Some(("u16le", 1))),
                blf("u8", 2, problem, Some(("u16le", 1))),
                blf(
                    "u8",
                    1,
                    LengthProblem::NegativeBody { adjust: -1 },
                    Some(("u16le", 1)),
                ),
                blf("u8", 1, problem, None),
            ],
        ),
        (
            BodyBelowAdjust { len: 1, adjust: 2 },
            BodyBelowAdjust { len: 1, adjust: 2 },
            vec![
                BodyBelowAdjust { len: 2, adjust: 2 },
                BodyBelowAdjust { len: 1, adjust: 3 },
            ],
        ),
        (
            DelimiterNotFound {
                delimiter: "a".into(),
                limit: 1,
            },
            DelimiterNotFound {
                delimiter: "a".into(),
                limit: 1,
            },
            vec![
                DelimiterNotFound {
                    delimiter: "b".into(),
                    limit: 1,
                },
                DelimiterNotFound {
                    delimiter: "a".into(),
                    limit: 2,
                },
            ],
        ),
        (
            DelimiterInBody {
                delimiter: "a".into(),
            },
            DelimiterInBody {
                delimiter: "a".into(),
            },
            vec![DelimiterInBody {
                delimiter: "b".into(),
            }],
        ),
        (
            ShortItem { have: 1, need: 2 },
            ShortItem { have: 1, need: 2 },
            vec![
                ShortItem { have: 0, need: 2 },
                ShortItem { have: 1, need: 3 },
            ],
        ),
        (
            io(io::ErrorKind::Other, "x"),
            io(io::ErrorKind::Other, "x"),
            vec![
                io(io::ErrorKind::NotFound, "x"),
                io(io::ErrorKind::Other, "y"),
            ],
        ),
    ]
}

#[test]
fn errors_are_equal_exactly_when_variant_and_every_field_are() {
    for (a, same, differing) in cases() {
        assert_eq!(a, same);
        for d in differing {
            assert_ne!(a, d);
            assert_ne!(d, a);
        }
    }
}

#[test]
fn shown_bytes_are_cut_after_64() {
    let b = [b'a'; 65];
    assert_eq!(CodecError::show(&b[..64]), "a".repeat(64));
    assert_eq!(CodecError::show(&b), format!("{}…", "a".repeat(64)));
    assert_eq!(CodecError::show(b"a\xffb"), "a\u{fffd}b");
    assert_eq!(CodecError::show(b""), "");
}
