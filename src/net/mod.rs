//! Port sets and IP address sets as interval sets, and parsing of CIDRs.

pub mod ip;
pub mod ports;
pub mod ranges;

pub use ip::{IpNet, IpSet};
pub use ports::{PortSet, Protocol};
pub use ranges::RangeSet;
