//! What a request means: the services a reference server runs (docs/services.md).
//!
//! `cmd` answers a small built-in set byte-identically to `/bin/sh` (dash) + GNU coreutils in the
//! C locale, and never runs a shell:
//!
//! - `echo WORD…`: the words joined by one space, then `\n`; a first word of exactly `-n` drops
//!   the newline (dash's only echo option).
//! - `seq LAST`, `seq FIRST LAST`, `seq FIRST INCR LAST` with integer operands (coreutils' error
//!   texts for a missing or extra operand, a zero increment and a non-number).
//! - any other command name: `/bin/sh: LINE: NAME: not found\n`, as dash prints on stderr. This
//!   includes dash built-ins and programs a real shell would run (`ls`, `cat`, …): we never do.
//! - several lines are several commands; the reply is all stdout, then all stderr.
//! - `echo -n` and a blank request print nothing, so their reply is empty (the tutorials'
//!   servers would send a fixed success text instead; we stay byte-identical to the shell).
//!
//! Where a request leaves that set, the reply is one documented line starting `stickler: ` (a
//! real shell would do something we do not model, so no byte-identical answer exists):
//! shell syntax (quotes, `\`, `$`, `` ` ``, `|`, `&`, `;`, `<`, `>`, `(`, `)`, globs `*?[`, a word
//! starting with `#` or `~`, an assignment or reserved word in command position, NUL), `seq`
//! options, non-integer or out-of-range (beyond `i64`) `seq` operands, and a reply over
//! [`OUTPUT_LIMIT`] bytes (a huge `seq`, or many commands in one request), which is refused
//! instead of allocated.

/// Largest `cmd` reply served; a larger one is refused with one line (4 MiB, under the default
/// frame limit).
pub const OUTPUT_LIMIT: usize = 4 << 20;

/// A service: turns one request into one reply.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// The built-in `echo`/`seq` commands (byte-identical to dash + coreutils).
    #[default]
    Cmd,
    /// ASCII upper-case of the request.
    Upper,
    /// The request unchanged.
    Echo,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Cmd => "cmd",
            Service::Upper => "upper",
            Service::Echo => "echo",
        }
    }

    /// The reply to `request`.
    pub fn reply(&self, request: &[u8]) -> Vec<u8> {
        match self {
            Service::Cmd => run_commands(request),
            Service::Upper => request.to_ascii_uppercase(),
            Service::Echo => request.to_vec(),
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Characters that mean shell syntax anywhere in a word.
const SYNTAX: &[u8] = b"|&;<>()$`\\\"'*?[\0";
/// Words dash reads as reserved in command position.
const RESERVED: &[&[u8]] = &[
    b"!", b"{", b"}", b"case", b"do", b"done", b"elif", b"else", b"esac", b"fi", b"for", b"if",
    b"in", b"then", b"until", b"while",
];

fn unsupported(what: &str) -> Vec<u8> {
    format!(
        "stickler: cmd: {what} (only plain `echo` and integer `seq` are served; no shell runs)\n"
    )
    .into_bytes()
}

fn too_long() -> Vec<u8> {
    format!(
        "stickler: cmd: output over {OUTPUT_LIMIT} bytes refused (a shell would print it all)\n"
    )
    .into_bytes()
}

/// Splits a line into words on blanks, as dash's lexer does for plain words.
fn words(line: &[u8]) -> Vec<&[u8]> {
    line.split(|b| *b == b' ' || *b == b'\t')
        .filter(|w| !w.is_empty())
        .collect()
}

/// Why a request is outside the modelled set, if it is.
fn check_syntax(lines: &[Vec<&[u8]>]) -> Option<Vec<u8>> {
    for line in lines {
        if let Some(first) = line.first() {
            if RESERVED.contains(first) || first.contains(&b'=') {
                return Some(unsupported(
                    "assignment or reserved word in command position",
                ));
            }
        }
        for word in line {
            if word.iter().any(|b| SYNTAX.contains(b)) || matches!(word[0], b'#' | b'~') {
                return Some(unsupported("shell syntax in request"));
            }
        }
    }
    None
}

fn run_commands(request: &[u8]) -> Vec<u8> {
    let lines: Vec<Vec<&[u8]>> = request.split(|b| *b == b'\n').map(words).collect();
    if let Some(refusal) = check_syntax(&lines) {
        return refusal;
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    for (i, line) in lines.iter().enumerate() {
        let Some((&name, args)) = line.split_first() else {
            continue;
        };
        match name {
            b"echo" => echo(args, &mut out),
            b"seq" => {
                if let Err(refusal) = seq(args, &mut out, &mut err) {
                    return refusal;
                }
            }
            _ => {
                err.extend_from_slice(format!("/bin/sh: {}: ", i + 1).as_bytes());
                err.extend_from_slice(name);
                err.extend_from_slice(b": not found\n");
            }
        }
        if out.len() + err.len() > OUTPUT_LIMIT {
            return too_long();
        }
    }
    out.extend_from_slice(&err);
    out
}

/// dash's `echo`: only an exact first `-n` is an option; escapes need a backslash, which
/// [`check_syntax`] refused already.
fn echo(args: &[&[u8]], out: &mut Vec<u8>) {
    let (newline, args) = match args.split_first() {
        Some((&b"-n", rest)) => (false, rest),
        _ => (true, args),
    };
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(arg);
    }
    if newline {
        out.push(b'\n');
    }
}

/// An integer operand: optional sign, decimal digits. `negative_zero` keeps `-0`, which seq
/// prints as such when it is FIRST.
struct Operand {
    value: i128,
    negative_zero: bool,
}

fn parse_integer(arg: &[u8]) -> Option<Result<Operand, ()>> {
    let (negative, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let trimmed = match digits.iter().position(|&d| d != b'0') {
        Some(p) => &digits[p..],
        None => &b"0"[..],
    };
    if trimmed.len() > 19 {
        return Some(Err(()));
    }
    let magnitude: i128 = std::str::from_utf8(trimmed).ok()?.parse().ok()?;
    let value = if negative { -magnitude } else { magnitude };
    if value < i64::MIN as i128 || value > i64::MAX as i128 {
        return Some(Err(()));
    }
    Some(Ok(Operand {
        value,
        negative_zero: negative && magnitude == 0,
    }))
}

/// Whether `strtold` would accept `arg` whole (a number we do not model, e.g. `1.5`, `1e3`,
/// `0x10`, `inf`), as opposed to garbage coreutils calls an invalid argument.
fn is_float_syntax(arg: &[u8]) -> bool {
    let s = arg
        .strip_prefix(b"-")
        .or(arg.strip_prefix(b"+"))
        .unwrap_or(arg);
    let lower = s.to_ascii_lowercase();
    if matches!(&lower[..], b"inf" | b"infinity" | b"nan") || lower.starts_with(b"nan(") {
        return true;
    }
    if lower.starts_with(b"0x") {
        return lower.len() > 2
            && lower[2..]
                .iter()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b'.' | b'p' | b'+' | b'-'));
    }
    let (mantissa, exponent) = match lower.iter().position(|&b| b == b'e') {
        Some(p) => (&lower[..p], Some(&lower[p + 1..])),
        None => (&lower[..], None),
    };
    let mut parts = mantissa.splitn(2, |&b| b == b'.');
    let int = parts.next().unwrap_or_default();
    let frac = parts.next().unwrap_or_default();
    let mantissa_ok =
        (!int.is_empty() || !frac.is_empty()) && int.iter().chain(frac).all(u8::is_ascii_digit);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(b"-").or(e.strip_prefix(b"+")).unwrap_or(e);
        !e.is_empty() && e.iter().all(u8::is_ascii_digit)
    });
    mantissa_ok && exponent_ok
}

/// coreutils' usage error: `seq: MESSAGE` then the `--help` hint, on stderr.
fn usage_error(err: &mut Vec<u8>, message: &str) {
    err.extend_from_slice(
        format!("seq: {message}\nTry 'seq --help' for more information.\n").as_bytes(),
    );
}

/// coreutils' `quote()` in the C locale, for the printable-ASCII operands we quote.
fn quoted(arg: &[u8]) -> Result<String, Vec<u8>> {
    if arg.iter().all(|b| b.is_ascii_graphic()) {
        Ok(format!("'{}'", String::from_utf8_lossy(arg)))
    } else {
        Err(unsupported("non-ASCII `seq` operand"))
    }
}

/// Parses one operand the way coreutils' `scan_arg` reports errors, or refuses one we do not model.
fn scan(arg: &[u8], err: &mut Vec<u8>) -> Result<Option<Operand>, Vec<u8>> {
    match parse_integer(arg) {
        Some(Ok(op)) => Ok(Some(op)),
        Some(Err(())) => Err(unsupported("`seq` operand beyond the 64-bit range")),
        None if is_float_syntax(arg) => Err(unsupported("non-integer `seq` operand")),
        None => {
            usage_error(
                err,
                &format!("invalid floating point argument: {}", quoted(arg)?),
            );
            Ok(None)
        }
    }
}

/// coreutils' `seq` over integers. `Err` is a refusal replacing the whole reply.
fn seq(args: &[&[u8]], out: &mut Vec<u8>, err: &mut Vec<u8>) -> Result<(), Vec<u8>> {
    // Options come only before the first operand; a leading `-DIGIT` or `-.` is an operand.
    let mut args = args;
    if let Some((first, rest)) = args.split_first() {
        let is_option =
            first.len() > 1 && first[0] == b'-' && !(first[1].is_ascii_digit() || first[1] == b'.');
        if *first == b"--" {
            args = rest;
        } else if is_option {
            return Err(unsupported("`seq` options are not served"));
        }
    }
    match args.len() {
        0 => {
            usage_error(err, "missing operand");
            return Ok(());
        }
        1..=3 => {}
        _ => {
            usage_error(err, &format!("extra operand {}", quoted(args[3])?));
            return Ok(());
        }
    }
    let mut ops = Vec::with_capacity(3);
    for (i, arg) in args.iter().enumerate() {
        let Some(op) = scan(arg, err)? else {
            return Ok(());
        };
        if i == 1 && args.len() == 3 && op.value == 0 {
            usage_error(
                err,
                &format!("invalid Zero increment value: {}", quoted(arg)?),
            );
            return Ok(());
        }
        ops.push(op);
    }
    let one = Operand {
        value: 1,
        negative_zero: false,
    };
    let (first, step, last) = match ops.len() {
        1 => (&one, 1, ops[0].value),
        2 => (&ops[0], 1, ops[1].value),
        _ => (&ops[0], ops[1].value, ops[2].value),
    };
    let mut value = first.value;
    let mut is_first = true;
    while (step > 0 && value <= last) || (step < 0 && value >= last) {
        if is_first && first.negative_zero {
            out.push(b'-');
        }
        is_first = false;
        out.extend_from_slice(value.to_string().as_bytes());
        out.push(b'\n');
        if out.len() > OUTPUT_LIMIT {
            return Err(too_long());
        }
        value += step;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> String {
        String::from_utf8(Service::Cmd.reply(s.as_bytes())).unwrap()
    }

    #[test]
    fn seq_1_2000_is_the_reference_reply() {
        let out = Service::Cmd.reply(b"seq 1 2000");
        assert_eq!(out.len(), 8893);
        assert_eq!(
            crate::codec::json::md5_hex(&out),
            "ea4d0a24dabcaa11f9aa979b872d162b"
        );
    }

    #[test]
    fn refusals_are_one_line() {
        assert!(cmd("echo $HOME").starts_with("stickler: cmd: shell syntax"));
        assert!(cmd("seq -w 3").starts_with("stickler: cmd: `seq` options"));
        assert!(cmd("seq 1.5").starts_with("stickler: cmd: non-integer"));
        assert!(cmd("seq 1 99999999999").contains("refused"));
        assert!(cmd("A=1 echo").starts_with("stickler: cmd: assignment"));
    }

    #[test]
    fn other_services() {
        assert_eq!(Service::Upper.reply(b"ab\xffc"), b"AB\xffC");
        assert_eq!(Service::Echo.reply(b"\0x"), b"\0x");
    }
}
