//! `cidr`: an IPv4 or IPv6 network block, its parsing and the addresses it contains.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy)]
pub(super) struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    pub(super) fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, len) = s.split_once('/').ok_or_else(|| format!("\"{s}\" is not a CIDR block (expected address/prefix-length)"))?;
        let network: IpAddr = addr.parse().map_err(|_| format!("\"{addr}\" is not an IPv4 or IPv6 address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix_len: u8 =
            len.parse().ok().filter(|n| *n <= max).ok_or_else(|| format!("\"{len}\" is not a prefix length between 0 and {max}"))?;
        Ok(Cidr { network, prefix_len })
    }

    pub(super) fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, width: u32, len: u8) -> u128 {
            if len == 0 {
                0
            } else {
                bits >> (width - u32::from(len))
            }
        }
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32, self.prefix_len) == masked(u32::from(ip).into(), 32, self.prefix_len)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix_len) == masked(u128::from(ip), 128, self.prefix_len)
            }
            _ => false,
        }
    }
}
