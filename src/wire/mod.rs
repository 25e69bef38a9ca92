//! Byte-exact codecs (smoltcp style: checked `Packet` views, parsed `Repr`s), no syscalls and no
//! allocation.

pub mod ah;
pub mod arp;
pub mod checksum;
pub mod ipv4;
pub mod ipvs;
pub mod ndisc;
pub mod netlink;
pub mod vrrp;
