//! Dump of `virtual_server_group` and `virtual_server`.

use super::Writer;
use crate::config::model::{VirtualServer, VirtualServerGroup};

pub(super) fn virtual_server_group(_w: &mut Writer, _g: &VirtualServerGroup) {}

pub(super) fn virtual_server(_w: &mut Writer, _vs: &VirtualServer) {}
