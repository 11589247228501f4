//! Named descriptions of real protocols, each with a one-line summary and a wire diagram, and
//! the same summaries for the built-in framings (what `stickler framings` lists).

use bytes::Bytes;

use super::{FrameSpec, LengthHeader, LengthType};
use crate::codec::{Framing, DEFAULT_MAX_FRAME_LENGTH};

/// A named description of a real protocol.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// The name `--framing` takes (`dns`).
    pub name: &'static str,
    /// One line: the protocol and where its framing is specified.
    pub summary: &'static str,
    /// The bytes of one message, as a diagram.
    pub diagram: &'static str,
    spec: Spec,
}

/// A preset's description, const-constructible.
#[derive(Debug, Clone, Copy)]
enum Spec {
    Length(LengthType, usize, i64),
    Varint(usize),
    Delimiter(&'static [u8]),
}

impl Preset {
    /// The description this preset names.
    pub fn spec(&self) -> FrameSpec {
        let max = DEFAULT_MAX_FRAME_LENGTH;
        match self.spec {
            Spec::Length(ty, offset, adjust) => FrameSpec::Length(LengthHeader {
                ty,
                offset,
                adjust,
                max,
            }),
            Spec::Varint(offset) => FrameSpec::Varint { offset, max },
            Spec::Delimiter(d) => FrameSpec::Delimiter {
                delimiter: Bytes::from_static(d),
                max,
            },
        }
    }

    /// The preset called `name`.
    pub fn find(name: &str) -> Option<&'static Preset> {
        PRESETS.iter().find(|p| p.name == name)
    }
}

/// Every preset, in the order `stickler framings` lists them.
pub const PRESETS: [Preset; 9] = [
    Preset {
        name: "dns",
        summary: "DNS over TCP (RFC 1035 §4.2.2): a 2-byte big-endian length, then the message",
        diagram: "\
+--------------+---------------------------------+
| length u16be | DNS message (header, question…) |
+--------------+---------------------------------+
   2 bytes        length bytes",
        spec: Spec::Length(LengthType::U16Be, 0, 0),
    },
    Preset {
        name: "modbus",
        summary: "Modbus/TCP MBAP header: transaction id, protocol id, then a length counting \
                  the unit id and the PDU",
        diagram: "\
+----------------+-------------+--------------+---------+-----------------+
| transaction u16| protocol u16| length u16be | unit u8 | PDU (function…) |
+----------------+-------------+--------------+---------+-----------------+
   2 bytes          2 bytes       2 bytes        `------ length bytes ------'",
        spec: Spec::Length(LengthType::U16Be, 4, 0),
    },
    Preset {
        name: "mqtt",
        summary: "MQTT control packet: a fixed-header byte, the remaining length as a varint of \
                  at most 4 bytes, then that many bytes",
        diagram: "\
+-------------------+---------------------------+-------------------------------+
| type+flags 1 byte | remaining length varint   | variable header and payload   |
+-------------------+---------------------------+-------------------------------+
                      1-4 bytes, 7 bits each,     remaining-length bytes
                      least significant first",
        spec: Spec::Varint(1),
    },
    Preset {
        name: "postgres",
        summary: "PostgreSQL protocol regular messages: a type byte, then an i32be length that \
                  counts itself but not the type byte (the startup message has no type byte: \
                  describe it as length:i32be,adjust=-4)",
        diagram: "\
+-------------+--------------+---------------------+
| type 1 byte | length i32be | contents            |
+-------------+--------------+---------------------+
               `------------ length bytes ---------'",
        spec: Spec::Length(LengthType::I32Be, 1, -4),
    },
    Preset {
        name: "kafka",
        summary: "Kafka protocol: an i32be size, then the request or response",
        diagram: "\
+------------+------------------------------------------+
| size i32be | request/response (api key, version, …)  |
+------------+------------------------------------------+
               size bytes",
        spec: Spec::Length(LengthType::I32Be, 0, 0),
    },
    Preset {
        name: "thrift",
        summary: "Thrift framed transport: an i32be frame size, then the message",
        diagram: "\
+------------------+-------------------------+
| frame size i32be | Thrift message          |
+------------------+-------------------------+
                     frame size bytes",
        spec: Spec::Length(LengthType::I32Be, 0, 0),
    },
    Preset {
        name: "tls",
        summary: "TLS record (RFC 8446 §5.1): content type, legacy version, a u16be length, \
                  then the fragment",
        diagram: "\
+-------------+-------------+--------------+----------------------+
| type 1 byte | version u16 | length u16be | fragment             |
+-------------+-------------+--------------+----------------------+
                                              length bytes",
        spec: Spec::Length(LengthType::U16Be, 3, 0),
    },
    Preset {
        name: "lines",
        summary: "Text lines ending in \\n (the decoded message keeps its \\n)",
        diagram: "\
+----------------------------+----+
| line (no \\n inside)        | \\n |
+----------------------------+----+",
        spec: Spec::Delimiter(b"\n"),
    },
    Preset {
        name: "crlf",
        summary: "Text lines ending in \\r\\n, as SMTP, HTTP/1 headers, Redis inline commands",
        diagram: "\
+----------------------------+--------+
| line (no \\r\\n inside)      | \\r \\n  |
+----------------------------+--------+",
        spec: Spec::Delimiter(b"\r\n"),
    },
];

/// A built-in framing's one-line summary and wire diagram.
pub fn builtin_summary(framing: Framing) -> (&'static str, &'static str) {
    match framing {
        Framing::Naive => (
            "No framing: one read is taken as one message (the sticky-packet bug itself)",
            "+-----------------------------+\n\
             | the bytes, nothing else     |\n\
             +-----------------------------+",
        ),
        Framing::Ready => (
            "The reply length in decimal digits, the client answers a ready token, then the body",
            "server: +--------+      client: +-------+      server: +------+\n\
             \x20       | digits |  ->          | ready |  ->          | body |\n\
             \x20       +--------+              +-------+              +------+",
        ),
        Framing::Struct => (
            "A signed 4-byte little-endian length (struct.pack('i')), then the body; \
             as a description: length:i32le (which keeps the header in the message)",
            "+------------+------------+\n\
             | len i32 le | body       |\n\
             +------------+------------+",
        ),
        Framing::Json => (
            "A 4-byte length, a JSON header naming the body size (and md5), then the body",
            "+------------+-------------------------+--------+\n\
             | len i32 le | {\"data_size\": n, …}     | body   |\n\
             +------------+-------------------------+--------+",
        ),
        Framing::Framed => (
            "Requests and replies both framed, with a struct or JSON header",
            "request: struct or json frame   reply: struct or json frame",
        ),
        Framing::Upload => (
            "A 4-byte length, a JSON header with file name, size and md5, then the file streamed",
            "+------------+-----------------------------------+------------+\n\
             | len i32 le | {\"file_name\", \"file_size\", \"md5\"} | file bytes |\n\
             +------------+-----------------------------------+------------+",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_preset_names_its_description() {
        let table: Vec<(&str, String)> = PRESETS
            .iter()
            .map(|p| (p.name, p.spec().to_string()))
            .collect();
        assert_eq!(
            table,
            [
                ("dns", "length:u16be".to_string()),
                ("modbus", "length:u16be,offset=4".into()),
                ("mqtt", "varint,offset=1".into()),
                ("postgres", "length:i32be,offset=1,adjust=-4".into()),
                ("kafka", "length:i32be".into()),
                ("thrift", "length:i32be".into()),
                ("tls", "length:u16be,offset=3".into()),
                ("lines", "delimiter:\\n".into()),
                ("crlf", "delimiter:\\r\\n".into()),
            ]
        );
        for p in &PRESETS {
            assert_eq!(Preset::find(p.name).map(|f| f.name), Some(p.name));
            assert!(
                p.summary.len() > 20 && p.diagram.contains('+'),
                "{}",
                p.name
            );
        }
        assert!(Preset::find("struct").is_none());
        assert_eq!(
            Preset::find("tls").unwrap().spec().max(),
            DEFAULT_MAX_FRAME_LENGTH
        );
    }

    #[test]
    fn each_builtin_framing_has_its_own_summary_and_diagram() {
        let mut seen = Vec::new();
        for f in Framing::ALL {
            let (summary, diagram) = builtin_summary(f);
            assert!(summary.len() > 20, "{f}");
            assert!(diagram.len() > 20, "{f}");
            seen.push(summary);
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), Framing::ALL.len());
        assert!(builtin_summary(Framing::Struct).0.contains("length:i32le"));
        assert!(builtin_summary(Framing::Ready).1.contains("ready"));
    }
}
