//! Dump of the VRRP side.

use super::Writer;
use crate::config::model::{SyncGroup, TrackFile, VrrpInstance, VrrpScript};

pub(super) fn vrrp_script(_w: &mut Writer, _s: &VrrpScript) {}
pub(super) fn track_file(_w: &mut Writer, _f: &TrackFile) {}
pub(super) fn vrrp_instance(_w: &mut Writer, _i: &VrrpInstance) {}
pub(super) fn sync_group(_w: &mut Writer, _g: &SyncGroup) {}
