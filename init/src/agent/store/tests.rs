use super::*;

/// The card as a power cut leaves it: every completed write is there (as QEMU keeps
/// what it wrote to the image), and `synced` counts the syncs.
#[derive(Default)]
struct Card {
    bytes: Vec<u8>,
    synced: u32,
    fail_writes: bool,
}

impl Card {
    fn pages(pages: &[u8]) -> Self {
        Self {
            bytes: pages.iter().flat_map(|&b| [b; PAGE]).collect(),
            ..Self::default()
        }
    }
    fn page(&self, i: usize) -> &[u8] {
        &self.bytes[i * PAGE..(i + 1) * PAGE]
    }
}

impl Backing for &mut Card {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let o = offset as usize;
        buf.copy_from_slice(&self.bytes[o..o + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.fail_writes {
            return Err(io::Error::from_raw_os_error(5));
        }
        let o = offset as usize;
        self.bytes[o..o + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        self.synced += 1;
        Ok(())
    }
}

const DATA: u8 = 0x5A;

fn page_of(b: u8) -> Vec<u8> {
    vec![b; PAGE]
}

#[test]
fn program_only_clears_bits() {
    assert!(is_program(&[0xFF, 0xF0], &[0x12, 0x10]));
    assert!(
        is_program(&[0xE0, 0x02], &[0xC0, 0x02]),
        "JFFS2 marking a node obsolete"
    );
    assert!(!is_program(&[0x12], &[0xFF]), "an erase");
    assert!(!is_program(&[0x12], &[0x21]), "an overwrite");
}

/// Garbage collection as the page cache writes it back: the erase of the old block's page
/// (lower index) reaches the agent before the copy in the new block. At no point may the
/// card lose the only copy of the data.
#[test]
fn an_erase_never_reaches_the_card_before_the_copy_it_follows() {
    let mut card = Card::pages(&[DATA, ERASED]);
    let mut store = Store::new(&mut card, 2 * PAGE as u64);
    store.write(0, &page_of(ERASED)).unwrap(); // the erase of block 0
    store.write(PAGE as u64, &page_of(DATA)).unwrap(); // the copy into block 1
    assert_eq!(store.stats().held, 1);
    assert_eq!(store.stats().programmed, 1);
    // The kernel sees its own writes.
    let mut seen = page_of(0);
    store.read(0, &mut seen).unwrap();
    assert_eq!(seen, page_of(ERASED));
    // First FLUSH: the erase was held after no answered flush; not yet safe.
    store.flush().unwrap();
    assert_eq!(store.held_pages(), 1);
    drop(store);
    assert_eq!(
        card.page(0),
        page_of(DATA),
        "erase reached the card too early"
    );
    assert_eq!(card.page(1), page_of(DATA), "the copy is on the card");
    assert_eq!(card.synced, 1, "the copy was synced");

    let mut store = Store::new(&mut card, 2 * PAGE as u64);
    store.write(0, &page_of(ERASED)).unwrap();
    store.flush().unwrap();
    store.flush().unwrap();
    assert_eq!(store.held_pages(), 0);
    assert_eq!(store.stats().released, 1);
    drop(store);
    assert_eq!(
        card.page(0),
        page_of(ERASED),
        "released after a whole flush cycle"
    );
}

#[test]
fn new_data_over_a_held_page_stays_held_and_is_read_back() {
    let mut card = Card::pages(&[DATA, ERASED]);
    let mut store = Store::new(&mut card, 2 * PAGE as u64);
    store.write(0, &page_of(ERASED)).unwrap();
    store.write(0, &page_of(0x11)).unwrap(); // JFFS2 reuses the erased block at once
    assert_eq!(store.held_pages(), 1);
    let mut both = vec![0u8; 2 * PAGE];
    store.read(0, &mut both).unwrap();
    assert_eq!(&both[..PAGE], page_of(0x11));
    assert_eq!(&both[PAGE..], page_of(ERASED));
    store.finish().unwrap();
    drop(store);
    assert_eq!(card.page(0), page_of(0x11));
}

#[test]
fn unchanged_pages_cost_no_write_and_no_sync() {
    let mut card = Card::pages(&[DATA]);
    let mut store = Store::new(&mut card, PAGE as u64);
    store.write(0, &page_of(DATA)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().unchanged, 1);
    assert_eq!(store.stats().syncs, 0);
}

#[test]
fn requests_outside_the_device_or_not_whole_pages_are_refused() {
    let mut card = Card::pages(&[ERASED, ERASED]);
    let mut store = Store::new(&mut card, 2 * PAGE as u64);
    for (offset, len) in [(0, 100), (100, PAGE), (PAGE as u64, 2 * PAGE)] {
        let err = store.write(offset, &vec![0; len]).unwrap_err();
        assert!(matches!(err, StoreError::Range { .. }), "{err}");
    }
    let err = store.read(2 * PAGE as u64, &mut page_of(0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "4096 bytes at 8192 are not whole 4096-byte pages inside the 8192-byte container"
    );
}

#[test]
fn a_failed_release_keeps_the_page_held() {
    let mut card = Card::pages(&[DATA]);
    let mut store = Store::new(&mut card, PAGE as u64);
    store.write(0, &page_of(ERASED)).unwrap();
    store.backing.fail_writes = true;
    assert!(store.finish().is_err());
    assert_eq!(store.held_pages(), 1);
    store.backing.fail_writes = false;
    store.finish().unwrap();
    assert_eq!(store.held_pages(), 0);
}

/// A backing that records the order of writes and syncs, as the card would see them.
#[derive(Default)]
struct Journal {
    card: Vec<u8>,
    events: Vec<String>,
}

impl Backing for &mut Journal {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let o = offset as usize;
        buf.copy_from_slice(&self.card[o..o + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        let o = offset as usize;
        self.card[o..o + buf.len()].copy_from_slice(buf);
        self.events.push(format!("write {}", o / PAGE));
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        self.events.push("sync".into());
        Ok(())
    }
}

fn cleanmarker_page() -> Vec<u8> {
    let mut p = page_of(ERASED);
    p[..12].copy_from_slice(&[0x85, 0x19, 0x03, 0x20, 12, 0, 0, 0, 1, 2, 3, 4]);
    p
}

#[test]
fn held_pages_are_classed_by_what_they_carry() {
    assert_eq!(release_class(&page_of(ERASED)), Release::Erased);
    assert_eq!(release_class(&cleanmarker_page()), Release::Marker);
    let mut node = cleanmarker_page();
    node[100] = 0;
    assert_eq!(release_class(&node), Release::Data);
    assert_eq!(release_class(&page_of(DATA)), Release::Data);
}

/// Garbage collection copied block 2's data into block 1, whose own erase was still held;
/// then block 0 and 2 were erased and block 0 got its cleanmarker. Released together, the
/// copy must be on the card (synced) before either erase, the cleanmarker last.
#[test]
fn a_copy_into_a_held_block_reaches_the_card_before_the_erases() {
    let mut j = Journal {
        card: [0x11, 0x22, DATA].iter().flat_map(|&b| [b; PAGE]).collect(),
        events: Vec::new(),
    };
    let mut store = Store::new(&mut j, 3 * PAGE as u64);
    let p = PAGE as u64;
    store.write(p, &page_of(ERASED)).unwrap(); // block 1 erased (held)
    store.write(p, &page_of(DATA)).unwrap(); // the copy lands in it (still held)
    store.write(0, &cleanmarker_page()).unwrap(); // block 0 erased, cleanmarker
    store.write(2 * p, &page_of(ERASED)).unwrap(); // block 2, the copy's source, erased
    store.flush().unwrap();
    store.flush().unwrap();
    assert_eq!(store.held_pages(), 0);
    drop(store);
    assert_eq!(
        j.events,
        ["write 1", "sync", "write 2", "sync", "write 0", "sync"],
        "data, then erases, then cleanmarkers, each synced"
    );
}
