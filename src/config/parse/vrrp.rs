//! `vrrp_script`, `track_file`, `vrrp_instance`, `vrrp_sync_group`.

use super::Cx;
use crate::config::model::{GlobalDefs, SyncGroup, TrackFile, VrrpInstance, VrrpScript};
use crate::config::tree::Statement;

pub(super) fn vrrp_script(cx: &mut Cx, s: &Statement, _g: &GlobalDefs) -> Option<VrrpScript> {
    cx.unknown(s);
    None
}
pub(super) fn track_file(cx: &mut Cx, s: &Statement) -> Option<TrackFile> {
    cx.unknown(s);
    None
}
pub(super) fn vrrp_instance(cx: &mut Cx, s: &Statement, _g: &GlobalDefs) -> Option<VrrpInstance> {
    cx.unknown(s);
    None
}
pub(super) fn sync_group(cx: &mut Cx, s: &Statement) -> Option<SyncGroup> {
    cx.unknown(s);
    None
}
