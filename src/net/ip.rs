//! IPv4/IPv6 networks (CIDRs) and address sets.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::RangeSet;

/// A CIDR as Kubernetes reads it: host bits after the prefix are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Result<IpNet, String> {
        let (addr, prefix) = s.split_once('/').ok_or_else(|| {
            format!("`{s}` is not a CIDR (expected ADDRESS/PREFIX, e.g. 10.0.0.0/8)")
        })?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` in `{s}` is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 =
            prefix.parse().ok().filter(|&p| p <= max).ok_or_else(|| {
                format!("prefix `/{prefix}` in `{s}` must be between 0 and {max}")
            })?;
        Ok(IpNet { addr, prefix })
    }

    /// The network of exactly one address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> IpNet {
        IpNet {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// Whether `ip` is in the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let host_bits = |width: u32| width - u32::from(self.prefix);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(host_bits(32)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(host_bits(128)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// The addresses of the network, as a set.
    pub fn to_set(self) -> IpSet {
        match self.addr {
            IpAddr::V4(a) => {
                let host_bits = 32 - u32::from(self.prefix);
                let mask = if host_bits == 32 {
                    0
                } else {
                    u32::MAX << host_bits
                };
                let start = u32::from(a) & mask;
                IpSet {
                    v4: RangeSet::range(start, start | !mask),
                    v6: RangeSet::empty(),
                }
            }
            IpAddr::V6(a) => {
                let host_bits = 128 - u32::from(self.prefix);
                let mask = if host_bits == 128 {
                    0
                } else {
                    u128::MAX << host_bits
                };
                let start = u128::from(a) & mask;
                IpSet {
                    v4: RangeSet::empty(),
                    v6: RangeSet::range(start, start | !mask),
                }
            }
        }
    }

    /// True when `other` is inside this network and strictly smaller (Kubernetes' rule for `except`).
    pub fn strictly_contains(&self, other: &IpNet) -> bool {
        self.addr.is_ipv4() == other.addr.is_ipv4()
            && other.prefix > self.prefix
            && other.to_set().is_subset(&self.to_set())
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A set of IPv4 and IPv6 addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct IpSet {
    pub v4: RangeSet<u32>,
    pub v6: RangeSet<u128>,
}

impl IpSet {
    pub fn empty() -> IpSet {
        IpSet::default()
    }

    /// Every IPv4 and IPv6 address.
    pub fn all() -> IpSet {
        IpSet {
            v4: RangeSet::range(0, u32::MAX),
            v6: RangeSet::range(0, u128::MAX),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4.contains(u32::from(a)),
            IpAddr::V6(a) => self.v6.contains(u128::from(a)),
        }
    }

    pub fn union(&self, other: &IpSet) -> IpSet {
        IpSet {
            v4: self.v4.union(&other.v4),
            v6: self.v6.union(&other.v6),
        }
    }

    pub fn difference(&self, other: &IpSet) -> IpSet {
        IpSet {
            v4: self.v4.difference(&other.v4),
            v6: self.v6.difference(&other.v6),
        }
    }

    pub fn is_subset(&self, other: &IpSet) -> bool {
        self.v4.is_subset(&other.v4) && self.v6.is_subset(&other.v6)
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Every range as `(first, last)` addresses, IPv4 first.
    pub fn ranges(&self) -> impl Iterator<Item = (IpAddr, IpAddr)> + '_ {
        let v4 = self
            .v4
            .ranges()
            .iter()
            .map(|&(s, e)| (IpAddr::V4(Ipv4Addr::from(s)), IpAddr::V4(Ipv4Addr::from(e))));
        let v6 = self
            .v6
            .ranges()
            .iter()
            .map(|&(s, e)| (IpAddr::V6(Ipv6Addr::from(s)), IpAddr::V6(Ipv6Addr::from(e))));
        v4.chain(v6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_network_contains_the_addresses_of_its_prefix() {
        let net = IpNet::parse("10.1.2.3/16").unwrap();
        assert!(net.contains(ip("10.1.255.255")) && net.contains(ip("10.1.0.0")));
        assert!(!net.contains(ip("10.2.0.0")) && !net.contains(ip("::1")));
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("203.0.113.9"))
        );
        assert!(
            IpNet::parse("198.51.100.7/32")
                .unwrap()
                .contains(ip("198.51.100.7"))
        );
        assert!(
            !IpNet::parse("198.51.100.7/32")
                .unwrap()
                .contains(ip("198.51.100.8"))
        );
        assert!(
            IpNet::parse("2001:db8::/32")
                .unwrap()
                .contains(ip("2001:db8:1::1"))
        );
        assert!(IpNet::parse("::/0").unwrap().contains(ip("2001:db8::1")));
    }

    #[test]
    fn cidr_ignores_host_bits_and_bounds_prefix() {
        let net = IpNet::parse("10.1.2.3/8").unwrap().to_set();
        assert!(net.contains(ip("10.255.255.255")));
        assert!(!net.contains(ip("11.0.0.0")));
        assert!(IpNet::parse("10.0.0.0/33").is_err());
        assert!(IpNet::parse("10.0.0.0").is_err());
        assert!(IpNet::parse("10.0.0.300/8").is_err());
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .to_set()
                .contains(ip("255.255.255.255"))
        );
    }

    #[test]
    fn ipv6_networks() {
        let net = IpNet::parse("2001:db8::/32").unwrap().to_set();
        assert!(net.contains(ip("2001:db8:ffff::1")));
        assert!(!net.contains(ip("2001:db9::")));
        assert!(!net.contains(ip("10.0.0.1")));
        assert!(
            IpNet::parse("::/0")
                .unwrap()
                .to_set()
                .contains(ip("ffff::"))
        );
    }

    #[test]
    fn except_must_be_strictly_inside() {
        let cidr = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(cidr.strictly_contains(&IpNet::parse("10.1.0.0/16").unwrap()));
        assert!(!cidr.strictly_contains(&IpNet::parse("10.0.0.0/8").unwrap()));
        assert!(!cidr.strictly_contains(&IpNet::parse("11.0.0.0/16").unwrap()));
        assert!(!cidr.strictly_contains(&IpNet::parse("::/64").unwrap()));
    }
}
