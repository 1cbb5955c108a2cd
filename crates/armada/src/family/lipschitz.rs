//! The lipschitz family (placeholder until its module lands).

use super::{FamilyEnv, FamilyKind, FieldError, Fields};
use crate::policy::PolicyDef;
use std::sync::Arc;

/// The policies of this family.
pub const POLICIES: &[PolicyDef] = &[];

/// The registry entry of this family.
pub const KIND: FamilyKind = FamilyKind { kind: "lipschitz", keys: &[], parse, policies: POLICIES };

fn parse(_fields: &Fields) -> Result<Arc<dyn FamilyEnv>, FieldError> {
    Err(FieldError::new("kind", "the lipschitz family is not built yet"))
}
