use super::*;
use crate::session::{Connection, Mask, Turn};

fn session(turns: &[(Side, &[u8])]) -> Session {
    Session {
        connections: vec![Connection {
            turns: turns
                .iter()
                .map(|&(from, b)| Turn {
                    from,
                    bytes: b.to_vec(),
                })
                .collect(),
            incomplete: None,
        }],
        ..Session::default()
    }
}

fn names(spec: &str) -> Vec<String> {
    cases(&spec.parse().unwrap())
        .into_iter()
        .map(|c| c.name)
        .collect()
}

#[test]
fn cases_follow_the_description() {
    let dns = names("dns");
    assert!(dns.contains(&"len-type-max".to_string()), "{dns:?}");
    assert!(
        !dns.contains(&"len-negative".to_string()),
        "unsigned: {dns:?}"
    );
    assert!(
        !dns.contains(&"len-over-max".to_string()),
        "8m > u16: {dns:?}"
    );
    assert!(dns.contains(&"header-cut-2".to_string()), "{dns:?}");
    assert!(names("dns,max=1k").contains(&"len-over-max".to_string()));
    let pg = names("postgres");
    assert!(pg.contains(&"len-negative".to_string()), "{pg:?}");
    assert!(pg.contains(&"header-cut-5".to_string()), "{pg:?}");
    let modbus = names("modbus");
    assert!(modbus.contains(&"header-cut-6".to_string()), "{modbus:?}");
    assert!(names("length:u32be,offset=100").contains(&"header-cut-every".to_string()));
    let mqtt = names("mqtt");
    assert!(mqtt.contains(&"varint-too-long".to_string()), "{mqtt:?}");
    let lines = names("lines");
    assert!(lines.contains(&"delim-oversize".to_string()), "{lines:?}");
    assert!(!lines
        .iter()
        .any(|n| n.starts_with("len-") || n.starts_with("header-")));
    for spec in [
        "dns",
        "modbus",
        "mqtt",
        "postgres",
        "lines",
        "length:i64le,adjust=-8",
    ] {
        let mut n = names(spec);
        let all = n.len();
        n.sort();
        n.dedup();
        assert_eq!(n.len(), all, "{spec}: names are unique");
    }
}

#[test]
fn hostile_bytes_keep_the_offset_and_replace_the_length() {
    let modbus: FrameSpec = "modbus".parse().unwrap();
    let request = b"\x00\x07\x00\x00\x00\x06\x01\x03\x00\x00\x00\x02";
    let s = session(&[(Side::Client, request), (Side::Server, b"reply")]);
    let t = SessionTarget::new(&s, modbus.clone()).unwrap();
    assert_eq!(t.message, request);
    let config = AttackConfig::new(
        "127.0.0.1:9".parse().unwrap(),
        crate::codec::Framing::Framed,
    );
    let built = |name: &str| {
        cases(&modbus)
            .into_iter()
            .find(|c| c.name == name)
            .unwrap()
            .build(&t, &config)
    };
    let bytes = built("len-type-max").bytes().unwrap();
    assert_eq!(&bytes[..6], b"\x00\x07\x00\x00\xff\xff");
    assert_eq!(&bytes[6..], &request[6..]);
    assert_eq!(built("header-cut-5").bytes().unwrap(), &request[..5]);
    let swapped = built("len-wrong-byte-order").bytes().unwrap();
    assert_eq!(&swapped[4..6], b"\x06\x00");
    let Script::Send { parts, .. } = built("header-pause") else {
        panic!("a send")
    };
    assert_eq!(parts[0], &request[..5]);
    assert_eq!(parts.concat(), request);

    let pg: FrameSpec = "postgres".parse().unwrap();
    let s = session(&[(Side::Client, b"Q\x00\x00\x00\x05x"), (Side::Server, b"ok")]);
    let t = SessionTarget::new(&s, pg.clone()).unwrap();
    let neg = cases(&pg)
        .into_iter()
        .find(|c| c.name == "len-negative")
        .unwrap()
        .build(&t, &config);
    assert_eq!(neg.bytes().unwrap(), b"Q\xff\xff\xff\xffx");

    let mqtt: FrameSpec = "mqtt".parse().unwrap();
    let s = session(&[(Side::Client, b"\x30\x02ab"), (Side::Server, b"ok")]);
    let t = SessionTarget::new(&s, mqtt.clone()).unwrap();
    let max = cases(&mqtt)
        .into_iter()
        .find(|c| c.name == "varint-max")
        .unwrap()
        .build(&t, &config);
    assert_eq!(max.bytes().unwrap(), b"\x30\xff\xff\xff\x7fab");
}

#[test]
fn unusable_sessions_are_named() {
    let dns: FrameSpec = "dns".parse().unwrap();
    let err = |s: &Session| SessionTarget::new(s, dns.clone()).unwrap_err();
    assert_eq!(err(&Session::default()), SessionProblem::NoConnection);
    assert_eq!(
        err(&session(&[
            (Side::Server, b"hi"),
            (Side::Client, b"\x00\x01a")
        ])),
        SessionProblem::ServerFirst { len: 2 }
    );
    assert_eq!(
        err(&session(&[(Side::Client, b"\x00\x01a")])),
        SessionProblem::NoReply
    );
    let e = err(&session(&[
        (Side::Client, b"\x00\x09a"),
        (Side::Server, b"x"),
    ]));
    assert!(
        matches!(&e, SessionProblem::NotAMessage { .. }) && e.to_string().contains("length:u16be"),
        "{e}"
    );
    let mut masked = session(&[(Side::Client, b"\x00\x01a"), (Side::Server, b"\x00\x01b")]);
    masked.masks.push(Mask {
        conn: 0,
        turn: 1,
        start: 0,
        end: 1,
        reason: None,
    });
    assert_eq!(SessionTarget::new(&masked, dns).unwrap().masks, vec![0..1]);
}

#[test]
fn varints_are_mqtts() {
    assert_eq!(varint_bytes(0), vec![0]);
    assert_eq!(varint_bytes(127), vec![0x7f]);
    assert_eq!(varint_bytes(128), vec![0x80, 0x01]);
    assert_eq!(
        varint_bytes(VARINT_MAX as u64),
        vec![0xff, 0xff, 0xff, 0x7f]
    );
    assert_eq!(field_bytes(LengthType::I32Be, -1), Some(vec![0xff; 4]));
    assert_eq!(field_bytes(LengthType::U16Be, -1), None);
}
