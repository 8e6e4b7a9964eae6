//! The protocol under test, as `exoavs`'s setup and node drivers offer it.

use crate::protocol_roles::Exoavs;
use crate::runner::Plan;
use crate::world::Report;
use std::sync::Arc;

/// Run a sweep with the crate's real node drivers.
pub fn sweep(plan: &Plan, each: impl Fn(&Report) + Send + Sync) -> Result<Vec<Report>, String> {
    crate::runner::sweep(Arc::new(Exoavs::default()), plan, each).map_err(|e| e.to_string())
}
