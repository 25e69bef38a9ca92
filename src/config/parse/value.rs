//! Parsers for the value words of keepalived.conf: numbers, timers, addresses, masks.

use crate::config::model::Micros;
use std::net::IpAddr;

pub type Parsed<T> = Result<T, String>;

/// An unsigned integer within `min..=max`.
pub fn uint(text: &str, min: u64, max: u64) -> Parsed<u64> {
    let value: u64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    if value < min || value > max {
        return Err(format!("{value} is outside the range {min}..={max}"));
    }
    Ok(value)
}

pub fn u32_in(text: &str, min: u32, max: u32) -> Parsed<u32> {
    uint(text, min.into(), max.into()).map(|v| v as u32)
}

pub fn u8_in(text: &str, min: u8, max: u8) -> Parsed<u8> {
    uint(text, min.into(), max.into()).map(|v| v as u8)
}

pub fn int(text: &str, min: i64, max: i64) -> Parsed<i64> {
    let value: i64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not an integer"))?;
    if value < min || value > max {
        return Err(format!("{value} is outside the range {min}..={max}"));
    }
    Ok(value)
}

/// Seconds with up to six decimals (`0.92`, `3`, `1.5`), as keepalived's timers take them.
pub fn secs(text: &str) -> Parsed<Micros> {
    let bad = || format!("`{text}` is not a time in seconds");
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    if frac.len() > 6 {
        return Err(format!("`{text}` has more than 6 decimals"));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut micros: u64 = 0;
    for (i, digit) in frac.bytes().enumerate() {
        micros += u64::from(digit - b'0') * 10u64.pow(5 - i as u32);
    }
    // About 11 days: keepalived's own timers stop well short of this.
    if whole > 1_000_000 {
        return Err(format!("`{text}` seconds is too long"));
    }
    Ok(Micros(whole * 1_000_000 + micros))
}

pub fn secs_in(text: &str, min: Micros, max: Micros) -> Parsed<Micros> {
    let value = secs(text)?;
    if value < min || value > max {
        return Err(format!(
            "{} is outside the range {}..={} seconds",
            show_secs(value),
            show_secs(min),
            show_secs(max)
        ));
    }
    Ok(value)
}

/// Writes microseconds back as the shortest decimal seconds.
pub fn show_secs(value: Micros) -> String {
    let whole = value.0 / 1_000_000;
    let frac = value.0 % 1_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:06}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

pub fn ip(text: &str) -> Parsed<IpAddr> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an IP address"))
}

/// `ADDR` or `ADDR/LEN`; the length must fit the family.
pub fn ip_prefix(text: &str) -> Parsed<(IpAddr, Option<u8>)> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let addr = ip(addr)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => Some(u8_in(l, 0, max).map_err(|e| format!("prefix length: {e}"))?),
        None => None,
    };
    Ok((addr, len))
}

pub fn port(text: &str) -> Parsed<u16> {
    uint(text, 1, 65535)
        .map(|v| v as u16)
        .map_err(|e| format!("port: {e}"))
}

/// keepalived's `<BOOL>`: on|off|true|false|yes|no.
pub fn boolean(text: &str) -> Parsed<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!(
            "`{text}` is not one of on, off, true, false, yes, no"
        )),
    }
}

/// A netmask as a prefix length: `255.255.255.0`, `24`, or an IPv6 length.
pub fn netmask(text: &str) -> Parsed<u8> {
    if let Ok(len) = u8_in(text, 0, 128) {
        return Ok(len);
    }
    let mask: std::net::Ipv4Addr = text
        .parse()
        .map_err(|_| format!("`{text}` is not a netmask"))?;
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return Err(format!("`{text}` is not a contiguous netmask"));
    }
    Ok(bits.leading_ones() as u8)
}

const SCOPES: [(&str, u8); 5] = [
    ("global", 0),
    ("site", 200),
    ("link", 253),
    ("host", 254),
    ("nowhere", 255),
];

/// Address scope by name (as `ip address`) or number.
pub fn scope(text: &str) -> Parsed<u8> {
    if let Some((_, n)) = SCOPES.iter().find(|(name, _)| *name == text) {
        return Ok(*n);
    }
    u8_in(text, 0, 255).map_err(|_| {
        format!("`{text}` is not a scope (global, site, link, host, nowhere or 0-255)")
    })
}

pub fn show_scope(scope: u8) -> String {
    match SCOPES.iter().find(|(_, n)| *n == scope) {
        Some((name, _)) => name.to_string(),
        None => scope.to_string(),
    }
}

/// An MD5 digest written as 32 hex digits.
pub fn digest(text: &str) -> Parsed<[u8; 16]> {
    let bytes = text.as_bytes();
    if bytes.len() != 32 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return Err(format!(
            "digest `{text}` is not 32 hex digits (an MD5 as genhash prints it)"
        ));
    }
    let mut out = [0u8; 16];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = (hex_nibble(pair[0]) << 4) | hex_nibble(pair[1]);
    }
    Ok(out)
}

pub fn hex_nibble(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

pub fn show_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(secs("1").unwrap(), Micros(1_000_000));
        assert_eq!(secs("0.92").unwrap(), Micros(920_000));
        assert_eq!(secs(".5").unwrap(), Micros(500_000));
        assert!(secs("-1").is_err());
        assert!(secs("1.2.3").is_err());
        assert!(secs("").is_err());
        assert!(secs(".").is_err());
        assert!(secs("0.0000001").is_err());
        assert_eq!(show_secs(Micros(920_000)), "0.92");
        assert_eq!(show_secs(Micros(3_000_000)), "3");
    }

    #[test]
    fn masks_and_prefixes() {
        assert_eq!(netmask("255.255.255.0").unwrap(), 24);
        assert_eq!(netmask("64").unwrap(), 64);
        assert!(netmask("255.0.255.0").is_err());
        assert_eq!(ip_prefix("10.0.0.1/24").unwrap().1, Some(24));
        assert!(ip_prefix("10.0.0.1/33").is_err());
        assert!(ip_prefix("2001:db8::1/129").is_err());
    }

    #[test]
    fn digests() {
        let d = digest("9b3a0c85a887a256d6939da88aabd8cd").unwrap();
        assert_eq!(show_hex(&d), "9b3a0c85a887a256d6939da88aabd8cd");
        assert!(digest("9b3a").is_err());
        assert!(digest("zz3a0c85a887a256d6939da88aabd8cd").is_err());
    }
}
