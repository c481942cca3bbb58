//! netpol-fix: offline analysis of Kubernetes NetworkPolicy for a migration to an enforcing CNI.
//!
//! Pipeline: [`load`] (files → YAML objects with spans) → [`model`] (typed subset of
//! Kubernetes) → [`connectivity`] (who may reach whom, and why). The library never prints.

pub mod analysis;
pub mod check;
pub mod config;
pub mod connectivity;
pub mod diag;
pub mod endpoint;
pub mod fix;
pub mod fuzzing;
pub mod lint;
pub mod load;
pub mod model;
pub mod net;
pub mod outdir;
pub mod probes;
pub mod redact;
pub mod refs;
pub mod report;
pub mod source;
pub mod timings;
pub mod yaml;
