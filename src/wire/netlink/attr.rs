//! Netlink attributes (`struct nlattr` / `struct rtattr`, linux/netlink.h): 4-byte
//! length-and-type TLVs padded to 4 bytes, nestable. rtnetlink and generic netlink share them.

use super::header::align;
use super::Error;

/// Byte ranges of `struct nlattr`.
pub mod field {
    use core::ops::Range;
    pub const LENGTH: Range<usize> = 0..2;
    pub const TYPE: Range<usize> = 2..4;
}

/// `NLA_HDRLEN`.
pub const HEADER_LEN: usize = 4;
/// `NLA_F_NESTED`: set by newer senders on nested attributes; ignored when reading the type.
pub const NLA_F_NESTED: u16 = 0x8000;
/// `NLA_F_NET_BYTEORDER`: the value is in network byte order (IPVS ports, for one).
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;
/// `NLA_TYPE_MASK`.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// A checked view of one attribute: header plus value, `length()` bytes long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Attr<T> {
    pub const fn new_unchecked(buffer: T) -> Attr<T> {
        Attr { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Attr<T>, Error> {
        let attr = Attr::new_unchecked(buffer);
        attr.check_len()?;
        Ok(attr)
    }

    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let length = usize::from(self.length());
        if length < HEADER_LEN {
            Err(Error::BadLength)
        } else if length > len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// `nla_len`: header plus value, without padding.
    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_ne_bytes([b[0], b[1]])
    }

    /// `nla_type` with the nested and byte-order flags.
    pub fn raw_kind(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::TYPE];
        u16::from_ne_bytes([b[0], b[1]])
    }

    /// `nla_type` without the flags: what the `IFA_*`, `IFLA_*`, `RTA_*` constants name.
    pub fn kind(&self) -> u16 {
        self.raw_kind() & NLA_TYPE_MASK
    }

    pub fn value(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.length())]
    }
}

impl<'a> Attr<&'a [u8]> {
    /// The value, with the lifetime of the underlying buffer rather than of this view.
    pub fn bytes(&self) -> &'a [u8] {
        &self.buffer[HEADER_LEN..usize::from(self.length())]
    }

    fn array<const N: usize>(&self) -> Result<[u8; N], Error> {
        self.bytes()
            .try_into()
            .map_err(|_| Error::BadAttribute(self.kind()))
    }

    pub fn as_u8(&self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    pub fn as_u16(&self) -> Result<u16, Error> {
        Ok(u16::from_ne_bytes(self.array()?))
    }

    /// A `u16` sent in network byte order (`NLA_F_NET_BYTEORDER` values).
    pub fn as_u16_be(&self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn as_u32(&self) -> Result<u32, Error> {
        Ok(u32::from_ne_bytes(self.array()?))
    }

    pub fn as_i32(&self) -> Result<i32, Error> {
        Ok(i32::from_ne_bytes(self.array()?))
    }

    /// A NUL-terminated string (`NLA_NUL_STRING`); a missing terminator is tolerated, bytes after
    /// the first NUL are ignored, and the text must be UTF-8 (interface names in practice are).
    pub fn as_str(&self) -> Result<&'a str, Error> {
        let bytes = self.bytes();
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        core::str::from_utf8(&bytes[..end]).map_err(|_| Error::BadAttribute(self.kind()))
    }

    /// The attributes nested in this one's value.
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.bytes())
    }
}

/// The attributes in a byte run, in order. A malformed attribute ends the walk with an error.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub fn new(bytes: &'a [u8]) -> Attrs<'a> {
        Attrs { rest: bytes }
    }

    /// The first attribute of type `kind`, or `None`; a malformed run is an error.
    pub fn find(self, kind: u16) -> Result<Option<Attr<&'a [u8]>>, Error> {
        for attr in self {
            let attr = attr?;
            if attr.kind() == kind {
                return Ok(Some(attr));
            }
        }
        Ok(None)
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<&'a [u8]>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        // Fewer than 4 bytes left is trailing padding, not an attribute.
        if self.rest.len() < HEADER_LEN {
            self.rest = &[];
            return None;
        }
        match Attr::new_checked(self.rest) {
            Ok(attr) => {
                let length = usize::from(attr.length());
                let next = align(length).min(self.rest.len());
                let (this, rest) = self.rest.split_at(next);
                self.rest = rest;
                Some(Ok(Attr::new_unchecked(&this[..length])))
            }
            Err(error) => {
                self.rest = &[];
                Some(Err(error))
            }
        }
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::super::vectors;
    use super::*;

    /// The attributes of `ip address add 10.55.0.1/24 dev dummy0 label dummy0:1`.
    fn addr_add_attrs() -> &'static [u8] {
        &vectors::ADDR_ADD_LABEL[24..]
    }

    #[test]
    fn deconstruct() {
        let kinds: Vec<(u16, usize)> = Attrs::new(addr_add_attrs())
            .map(|a| {
                let a = a.unwrap();
                (a.kind(), a.value().len())
            })
            .collect();
        assert_eq!(kinds, [(2, 4), (3, 9), (1, 4)]);
        let label = Attrs::new(addr_add_attrs()).find(3).unwrap().unwrap();
        assert_eq!(label.as_str(), Ok("dummy0:1"));
        assert_eq!(label.as_u32(), Err(Error::BadAttribute(3)));
        let local = Attrs::new(addr_add_attrs()).find(2).unwrap().unwrap();
        assert_eq!(local.bytes(), [10, 55, 0, 1]);
        assert!(Attrs::new(addr_add_attrs()).find(9).unwrap().is_none());
    }

    #[test]
    fn nested_with_flags() {
        // IFLA_LINKINFO { IFLA_INFO_KIND "macvlan", IFLA_INFO_DATA { IFLA_MACVLAN_MODE 1 } }
        let linkinfo = &vectors::MACVLAN_ADD[64..92];
        let attr = Attrs::new(linkinfo).next().unwrap().unwrap();
        assert_eq!(attr.kind(), 18);
        let mut inner = attr.nested();
        assert_eq!(inner.next().unwrap().unwrap().as_str(), Ok("macvlan"));
        let data = inner.next().unwrap().unwrap();
        let mode = data.nested().find(1).unwrap().unwrap();
        assert_eq!(mode.as_u32(), Ok(1));
        let mut flagged = [0u8; 8];
        flagged[..4].copy_from_slice(&[8, 0, 0x01, 0x80]);
        let attr = Attr::new_checked(&flagged[..]).unwrap();
        assert_eq!((attr.kind(), attr.raw_kind()), (1, 0x8001));
    }

    #[test]
    fn malformed_attributes_are_errors() {
        let bytes = [3u8, 0, 1, 0, 0, 0, 0, 0];
        assert_eq!(Attrs::new(&bytes).next(), Some(Err(Error::BadLength)));
        let bytes = [12u8, 0, 1, 0, 0, 0, 0, 0];
        assert_eq!(Attrs::new(&bytes).next(), Some(Err(Error::Truncated)));
        assert_eq!(Attrs::new(&bytes).find(1), Err(Error::Truncated));
        assert!(Attrs::new(&bytes[..3]).next().is_none());
        let unterminated = [6u8, 0, 3, 0, b'e', b't'];
        let attr = Attrs::new(&unterminated).next().unwrap().unwrap();
        assert_eq!(attr.as_str(), Ok("et"));
        let bad_utf8 = [6u8, 0, 3, 0, 0xff, 0];
        let attr = Attrs::new(&bad_utf8).next().unwrap().unwrap();
        assert_eq!(attr.as_str(), Err(Error::BadAttribute(3)));
    }
}
