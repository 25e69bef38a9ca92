//! FILE_CHECK's reading of a `track_file` (keepalived.conf(5) "Track files", keepalived 2.2's
//! track_file.c): the first 127 bytes of the file are a number as C's `strtol(s, NULL, 0)` reads
//! it (leading blanks, a sign, `0x` hex, `0` octal, else decimal, up to the first other
//! character; no digits is 0). A missing or empty file reads as 0.
//!
//! Weight 0 (the FILE_CHECK's, else the track_file's): a non-zero value is a failure (with
//! `reverse`, a zero value). Otherwise value × weight (negated with `reverse`) is added to the
//! real server's weight, and `i32::MIN` or less is a failure. keepalived applies the offset with
//! or without the `dynamic` keyword, and so does this.

use super::outcome::{Failure, ProbeResult, WeightEffect};

/// Bytes of the file that are read.
pub const READ_MAX: usize = 127;

/// The number at the start of `text`, as `strtol(text, NULL, 0)`, saturated to i64.
pub fn parse_value(text: &[u8]) -> i64 {
    let mut s = text;
    while let [b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c', rest @ ..] = s {
        s = rest;
    }
    let negative = match s {
        [b'-', rest @ ..] => {
            s = rest;
            true
        }
        [b'+', rest @ ..] => {
            s = rest;
            false
        }
        _ => false,
    };
    let radix = match s {
        [b'0', b'x' | b'X', d, ..] if d.is_ascii_hexdigit() => {
            s = &s[2..];
            16
        }
        [b'0', ..] => 8,
        _ => 10,
    };
    let magnitude = s
        .iter()
        .map_while(|&b| char::from(b).to_digit(radix))
        .fold(0i64, |acc, d| {
            acc.saturating_mul(i64::from(radix))
                .saturating_add(i64::from(d))
        });
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// The verdict on a value read from the file, with the weight that applies.
pub fn judge(value: i64, weight: i32, reverse: bool) -> ProbeResult {
    if weight == 0 {
        return if (value != 0) != reverse {
            Err(Failure::FileFault(value))
        } else {
            Ok(WeightEffect::Offset(0))
        };
    }
    let sign = if reverse { -1 } else { 1 };
    let status = value
        .saturating_mul(i64::from(weight))
        .saturating_mul(sign)
        .clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    if status <= i64::from(i32::MIN) {
        return Err(Failure::FileFault(value));
    }
    Ok(WeightEffect::Offset(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_forms() {
        assert_eq!(parse_value(b"42\n"), 42);
        assert_eq!(parse_value(b"  -17 apples"), -17);
        assert_eq!(parse_value(b"+5"), 5);
        assert_eq!(parse_value(b"0x1F"), 31);
        assert_eq!(parse_value(b"0X1f"), 31);
        assert_eq!(parse_value(b"010"), 8);
        assert_eq!(parse_value(b"09"), 0);
        assert_eq!(parse_value(b"0x"), 0);
        assert_eq!(parse_value(b"x12"), 0);
        assert_eq!(parse_value(b""), 0);
        assert_eq!(parse_value(b"99999999999999999999999"), i64::MAX);
    }

    #[test]
    fn weight_zero_is_a_flag() {
        assert_eq!(judge(0, 0, false), Ok(WeightEffect::Offset(0)));
        assert_eq!(judge(3, 0, false), Err(Failure::FileFault(3)));
        assert_eq!(judge(0, 0, true), Err(Failure::FileFault(0)));
        assert_eq!(judge(-1, 0, true), Ok(WeightEffect::Offset(0)));
    }

    #[test]
    fn weighted_offsets() {
        assert_eq!(judge(5, 2, false), Ok(WeightEffect::Offset(10)));
        assert_eq!(judge(5, 2, true), Ok(WeightEffect::Offset(-10)));
        assert_eq!(judge(-3, -4, false), Ok(WeightEffect::Offset(12)));
        assert_eq!(
            judge(i64::from(i32::MIN), 1, false),
            Err(Failure::FileFault(i64::from(i32::MIN)))
        );
        assert_eq!(
            judge(i64::MAX, 1, false),
            Ok(WeightEffect::Offset(i64::from(i32::MAX)))
        );
    }
}
