//! Serde helpers that keep the binary config small: a struct equal to its default is written as
//! one "absent" byte, and whole milliseconds take fewer varint bytes than microseconds.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `#[serde(with = "compact_default")]`: `None` for the default value, `Some(v)` otherwise.
pub mod compact_default {
    use super::*;

    pub fn serialize<T, S>(value: &T, s: S) -> Result<S::Ok, S::Error>
    where
        T: Serialize + Default + PartialEq,
        S: Serializer,
    {
        if *value == T::default() {
            s.serialize_none()
        } else {
            s.serialize_some(value)
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: Deserialize<'de> + Default,
        D: Deserializer<'de>,
    {
        Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
    }
}

/// Timer values: `ms << 1` when a whole number of milliseconds (nearly always), else
/// `µs << 1 | 1`, so a 3 s timer is 2 varint bytes instead of 3.
pub fn encode_micros(us: u64) -> Option<u64> {
    if us % 1000 == 0 {
        Some((us / 1000) << 1)
    } else {
        us.checked_shl(1).filter(|v| v >> 1 == us).map(|v| v | 1)
    }
}

pub fn decode_micros(v: u64) -> Option<u64> {
    if v & 1 == 1 {
        Some(v >> 1)
    } else {
        (v >> 1).checked_mul(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip() {
        for us in [
            0,
            1,
            999,
            1000,
            3_000_000,
            1_500_001,
            u64::MAX / 4,
            u64::MAX / 1000 * 1000,
        ] {
            assert_eq!(encode_micros(us).and_then(decode_micros), Some(us), "{us}");
        }
        assert_eq!(encode_micros(u64::MAX), None);
        assert_eq!(decode_micros(u64::MAX - 1), None);
    }
}
