//! Compact forms. Serde helpers that keep the binary config small: a struct equal to its default
//! is written as one "absent" byte, and whole milliseconds take fewer varint bytes than
//! microseconds. In memory: [`Sparse`] (a rarely-set field boxed only when set) and [`Few`] (a
//! list that nearly always holds one element, kept inline then), for what is memory per real
//! server or per instance.

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

/// A field that is nearly always its default value, kept in a box only when it is not: one
/// pointer where the value takes 32 to 80 bytes (a real server's check timing and notify
/// commands are memory per real server, and a checker may have 10,000 of them). Reads see the
/// value, or the default; a write through `DerefMut` boxes it. Serialized as the value itself,
/// so the binary config does not change.
#[derive(Clone)]
pub struct Sparse<T: SparseDefault>(Option<Box<T>>);

/// A type with a default value that lives for the whole program, for [`Sparse`] to lend.
pub trait SparseDefault: Default + PartialEq + Sized + 'static {
    fn default_ref() -> &'static Self;
}

impl<T: SparseDefault> Sparse<T> {
    pub fn new(value: T) -> Sparse<T> {
        if value == T::default() {
            Sparse(None)
        } else {
            Sparse(Some(Box::new(value)))
        }
    }
}

impl<T: SparseDefault> Default for Sparse<T> {
    fn default() -> Self {
        Sparse(None)
    }
}

impl<T: SparseDefault> From<T> for Sparse<T> {
    fn from(value: T) -> Self {
        Sparse::new(value)
    }
}

impl<T: SparseDefault> std::ops::Deref for Sparse<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or_else(|| T::default_ref())
    }
}

impl<T: SparseDefault> std::ops::DerefMut for Sparse<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Default::default)
    }
}

impl<T: SparseDefault> PartialEq for Sparse<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: SparseDefault + Eq> Eq for Sparse<T> {}

impl<T: SparseDefault + std::fmt::Debug> std::fmt::Debug for Sparse<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: SparseDefault + Serialize> Serialize for Sparse<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de, T: SparseDefault + Deserialize<'de>> Deserialize<'de> for Sparse<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Sparse::new)
    }
}

/// A list that nearly always holds one element (a real server's checkers): that one is kept
/// inline, which saves an allocation and a pointer per list; other lengths are boxed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Few<T> {
    One(T),
    Many(Box<[T]>),
}

impl<T> Default for Few<T> {
    fn default() -> Self {
        // An empty boxed slice allocates nothing.
        Few::Many(Box::new([]))
    }
}

impl<T> From<Vec<T>> for Few<T> {
    fn from(mut items: Vec<T>) -> Self {
        if items.len() == 1 {
            if let Some(one) = items.pop() {
                return Few::One(one);
            }
        }
        Few::Many(items.into_boxed_slice())
    }
}

impl<T> FromIterator<T> for Few<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        items.into_iter().collect::<Vec<T>>().into()
    }
}

impl<T> std::ops::Deref for Few<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Few::One(one) => std::slice::from_ref(one),
            Few::Many(many) => many,
        }
    }
}

impl<T> std::ops::DerefMut for Few<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Few::One(one) => std::slice::from_mut(one),
            Few::Many(many) => many,
        }
    }
}

#[cfg(test)]
mod tests {
    /// Memory per real server and per instance: the sparse fields keep these records small.
    #[test]
    fn config_records_stay_small() {
        assert!(std::mem::size_of::<crate::config::RealServer>() <= 104);
        assert!(std::mem::size_of::<crate::config::VrrpInstance>() <= 440);
    }

    use super::*;

    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    struct Pair(Option<u32>, Option<u32>);

    impl SparseDefault for Pair {
        fn default_ref() -> &'static Self {
            static DEFAULT: Pair = Pair(None, None);
            &DEFAULT
        }
    }

    #[test]
    fn sparse_boxes_only_what_is_not_the_default_and_serializes_as_the_value() {
        let mut a = Sparse::<Pair>::default();
        assert_eq!(*a, Pair(None, None));
        assert!(a.0.is_none());
        a.1 = Some(7);
        assert_eq!(*a, Pair(None, Some(7)));
        assert!(a.0.is_some());
        assert_eq!(Sparse::new(Pair::default()), Sparse::default());
        assert!(Sparse::new(Pair::default()).0.is_none());
        // The same bytes as the plain value, both ways.
        let bytes = postcard::to_allocvec(&a).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&Pair(None, Some(7))).unwrap());
        let back: Sparse<Pair> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, a);
        let plain = postcard::to_allocvec(&Pair::default()).unwrap();
        let back: Sparse<Pair> = postcard::from_bytes(&plain).unwrap();
        assert!(back.0.is_none());
    }

    #[test]
    fn few_keeps_one_inline_and_reads_like_a_slice() {
        let one: Few<u32> = vec![7].into();
        assert!(matches!(one, Few::One(7)));
        assert_eq!(&*one, &[7]);
        let mut three: Few<u32> = (1..=3).collect();
        assert!(matches!(three, Few::Many(_)));
        three[1] = 9;
        assert_eq!(&*three, &[1, 9, 3]);
        let none: Few<u32> = Vec::new().into();
        assert!(none.is_empty());
        assert_eq!(Few::<u32>::default(), none);
        // One element takes no more room than the element and a pointer pair.
        assert!(std::mem::size_of::<Few<[u64; 4]>>() <= 40);
    }

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
