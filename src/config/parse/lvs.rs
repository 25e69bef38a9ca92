//! `virtual_server_group`, `virtual_server`, `real_server` and the checkers.

use super::Cx;
use crate::config::model::{VirtualServer, VirtualServerGroup};
use crate::config::tree::Statement;

pub(super) fn virtual_server_group(cx: &mut Cx, s: &Statement) -> Option<VirtualServerGroup> {
    cx.unknown(s);
    None
}

pub(super) fn virtual_server(cx: &mut Cx, s: &Statement) -> Option<VirtualServer> {
    cx.unknown(s);
    None
}
