//! Everything a built client decided, in one place: how it authenticates, where the project id
//! comes from, how patient it is. Shared by the client and its hooks.

use std::{sync::Arc, time::Duration};

use crate::{
    Credentials, ProjectId, RetryPolicy, auth::iam::ProjectLookup, retry_budget::RetryBudget,
};

#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) credentials: Credentials,
    /// The default project id of the commits call (builder, else credentials).
    pub(crate) project_id: Option<ProjectId>,
    /// Where the project id comes from when no one gives it (AK/SK and a region).
    pub(crate) iam: Option<ProjectLookup>,
    pub(crate) retry: RetryPolicy,
    /// Shared by the client's clones, as these settings are.
    pub(crate) budget: Option<RetryBudget>,
    /// The time of one attempt, if it has one of its own; else what is left of the call's.
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) overall_timeout: Option<Duration>,
    pub(crate) max_body_bytes: usize,
    /// What the client has seen its answers say beyond the spec; `None`: not checked.
    pub(crate) drift: Option<Arc<crate::drift::DriftLog>>,
}
