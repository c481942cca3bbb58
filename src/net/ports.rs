//! Protocols and port sets (one interval set per protocol).

use std::fmt;

use super::RangeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// Parses the Kubernetes spelling (`TCP`, `UDP`, `SCTP`); case-insensitive on the CLI.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const MIN_PORT: u16 = 1;
pub const MAX_PORT: u16 = 65535;

/// A set of (protocol, port) pairs. "All traffic" is every port of every protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortSet {
    by_protocol: [RangeSet<u16>; 3],
}

impl PortSet {
    pub fn empty() -> PortSet {
        PortSet::default()
    }

    /// Every port of every protocol (a rule without `ports`).
    pub fn all() -> PortSet {
        let full = RangeSet::range(MIN_PORT, MAX_PORT);
        PortSet {
            by_protocol: [full.clone(), full.clone(), full],
        }
    }

    /// Ports `start..=end` of one protocol.
    pub fn range(protocol: Protocol, start: u16, end: u16) -> PortSet {
        let mut set = PortSet::empty();
        set.by_protocol[protocol.index()] = RangeSet::range(start, end);
        set
    }

    pub fn is_empty(&self) -> bool {
        self.by_protocol.iter().all(RangeSet::is_empty)
    }

    pub fn is_all(&self) -> bool {
        *self == PortSet::all()
    }

    pub fn contains(&self, protocol: Protocol, port: u16) -> bool {
        self.by_protocol[protocol.index()].contains(port)
    }

    pub fn union(&self, other: &PortSet) -> PortSet {
        self.zip(other, RangeSet::union)
    }

    pub fn intersection(&self, other: &PortSet) -> PortSet {
        self.zip(other, RangeSet::intersection)
    }

    fn zip(
        &self,
        other: &PortSet,
        f: fn(&RangeSet<u16>, &RangeSet<u16>) -> RangeSet<u16>,
    ) -> PortSet {
        PortSet {
            by_protocol: std::array::from_fn(|i| f(&self.by_protocol[i], &other.by_protocol[i])),
        }
    }

    /// `(protocol, start, end)` for every range, protocols in TCP, UDP, SCTP order.
    pub fn ranges(&self) -> impl Iterator<Item = (Protocol, u16, u16)> + '_ {
        Protocol::ALL.into_iter().flat_map(move |p| {
            self.by_protocol[p.index()]
                .ranges()
                .iter()
                .map(move |&(s, e)| (p, s, e))
        })
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all ports");
        }
        let parts: Vec<String> = self
            .ranges()
            .map(|(p, s, e)| {
                if (s, e) == (MIN_PORT, MAX_PORT) {
                    format!("all {p}")
                } else if s == e {
                    format!("{s}/{p}")
                } else {
                    format!("{s}-{e}/{p}")
                }
            })
            .collect();
        if parts.is_empty() {
            f.write_str("no ports")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_are_separate_dimensions() {
        let tcp80 = PortSet::range(Protocol::Tcp, 80, 80);
        assert!(tcp80.contains(Protocol::Tcp, 80));
        assert!(!tcp80.contains(Protocol::Udp, 80));
        let udp = PortSet::range(Protocol::Udp, MIN_PORT, MAX_PORT);
        assert!(tcp80.intersection(&udp).is_empty());
        assert_eq!(tcp80.union(&udp).to_string(), "80/TCP, all UDP");
        assert!(PortSet::all().is_all());
        assert_eq!(PortSet::all().intersection(&tcp80), tcp80);
    }
}
