//! Kernel uevents as they arrive on the `NETLINK_KOBJECT_UEVENT` socket: which device
//! appeared, and its modalias (`pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80`).
//! Pure. Matching a modalias against the packed `modules.alias` is flashroot-kmod's
//! [`AliasTable`](flashroot_kmod::alias::AliasTable), the same code the builder uses.

/// One kernel uevent as it arrives on the `NETLINK_KOBJECT_UEVENT` socket:
/// `add@/devices/...\0ACTION=add\0DEVPATH=...\0SUBSYSTEM=pci\0MODALIAS=pci:v...\0`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uevent<'a> {
    pub action: &'a str,
    pub subsystem: &'a str,
    pub modalias: Option<&'a str>,
}

/// Parses a kernel uevent; `None` for anything else (e.g. udev's `libudev` messages).
pub fn parse_uevent(message: &[u8]) -> Option<Uevent<'_>> {
    let text = std::str::from_utf8(message).ok()?;
    let mut fields = text.split('\0');
    // The header `ACTION@DEVPATH` marks a kernel message.
    fields.next().filter(|h| h.contains('@'))?;
    let mut event = Uevent::default();
    for field in fields {
        match field.split_once('=') {
            Some(("ACTION", v)) => event.action = v,
            Some(("SUBSYSTEM", v)) => event.subsystem = v,
            Some(("MODALIAS", v)) => event.modalias = Some(v),
            _ => {}
        }
    }
    (!event.action.is_empty()).then_some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_uevents_and_ignores_the_rest() {
        let msg = b"add@/devices/pci0000:00/0000:00:01.1\0ACTION=add\0DEVPATH=/devices/pci0000:00/0000:00:01.1\0SUBSYSTEM=pci\0MODALIAS=pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80\0SEQNUM=812\0";
        assert_eq!(
            parse_uevent(msg),
            Some(Uevent {
                action: "add",
                subsystem: "pci",
                modalias: Some("pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80"),
            })
        );
        let block = b"add@/devices/.../block/sda/sda1\0ACTION=add\0SUBSYSTEM=block\0DEVNAME=sda1\0";
        assert_eq!(parse_uevent(block).unwrap().modalias, None);
        assert_eq!(parse_uevent(b"libudev\0\xfe\xed"), None);
        assert_eq!(parse_uevent(b"no header\0ACTION=add\0"), None);
    }
}
