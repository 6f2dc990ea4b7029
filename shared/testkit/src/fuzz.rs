//! A small, deterministic mutation fuzzer for the parsers that face the network, run by the test command
//! with a fixed budget (no nightly toolchain, no external engine).
//!
//! Seeds come from a corpus directory kept in the repository (`tests/fuzz/corpus/<target>/`); each
//! iteration mutates one (bit flips, byte edits, insertions of structural characters, splices, long runs)
//! with a seeded generator, so a run is reproducible. An input that panics is written to
//! `target/fuzz-failures/` and the run fails naming it. With [`CountingAlloc`] as the test binary's global
//! allocator, every input's peak allocation is bounded too.
//!
//! `TESSERA_FUZZ_ITERATIONS` sets the iterations per target (default 20,000); `TESSERA_FUZZ_SEED` the seed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting live and peak bytes (install with `#[global_allocator]`).
#[derive(Debug)]
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code, reason = "GlobalAlloc is an unsafe trait; the calls go to the system allocator unchanged")]
// SAFETY: every call is forwarded to the system allocator unchanged; the counters are only statistics.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Bytes allocated above the level at the start of `f`, at its peak (meaningful when [`CountingAlloc`]
/// is the global allocator and nothing else runs in the process meanwhile).
pub fn peak_during(f: impl FnOnce()) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

/// xorshift64*: small, fast, and the same everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % u64::try_from(n.max(1)).unwrap_or(u64::MAX)).unwrap_or(0)
    }
}

/// Characters that matter to the formats under test.
const INTERESTING: &[&[u8]] = &[
    b".",
    b"..",
    b"=",
    b"==",
    b"&",
    b"%",
    b"%00",
    b"%zz",
    b"+",
    b"/",
    b"-",
    b"_",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"null",
    b"true",
    b"1e999",
    b"-0",
    b"\\u0000",
    b"\\ud800",
    b"\x00",
    b"\xff",
    b"\xc3\x28",
    b"\r\n",
    b"Basic ",
    b"Bearer ",
    b"0\x81\x80",
    b"\x30\x45\x02\x21\x00",
    b"\x02\x00",
    b"\x02\x81\xff",
    b"eyJ",
    b"AAAA",
];

/// One mutation of `input`, sometimes mixed with `other`.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = v.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = u8::try_from(rng.below(256)).unwrap_or(0);
            }
            2 => {
                let at = rng.below(len + 1);
                let ins = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(at..at, ins.iter().copied());
            }
            3 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                v.drain(a..b);
            }
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(32)).min(len);
                let chunk: Vec<u8> = v[a..b].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            5 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            6 => v.truncate(rng.below(len + 1)),
            7 => {
                // A long run: size limits must hold before any parsing.
                let at = rng.below(len + 1);
                let byte = *b"A.=%{".get(rng.below(5)).unwrap_or(&b'A');
                let n = [64, 1024, 5000, 70_000][rng.below(4)];
                v.splice(at..at, std::iter::repeat_n(byte, n));
            }
            _ => {
                let at = rng.below(len + 1);
                v.insert(at, u8::try_from(rng.below(256)).unwrap_or(0));
            }
        }
    }
    v
}

/// The seeds of one target: every file in `tests/fuzz/corpus/<target>/`.
#[must_use]
pub fn corpus(root: &Path, target: &str) -> Vec<Vec<u8>> {
    let dir = root.join("tests").join("fuzz").join("corpus").join(target);
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// Iterations per target: `TESSERA_FUZZ_ITERATIONS`, or 20,000.
#[must_use]
pub fn iterations() -> usize {
    std::env::var("TESSERA_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Inputs tried.
    pub inputs: usize,
    /// The largest peak allocation of one input.
    pub max_peak_bytes: usize,
    /// The longest input tried.
    pub max_input_len: usize,
}

/// Runs `check` on the seeds and on `iterations()` mutations of them. Fails on the first panic (saving the
/// input under `target/fuzz-failures/`) or on an input whose peak allocation exceeds `max_alloc` bytes.
pub fn run(root: &Path, target: &str, max_alloc: usize, mut check: impl FnMut(&[u8])) -> Report {
    let seeds = corpus(root, target);
    let seed = std::env::var("TESSERA_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x07e5_5e7a);
    let mut rng = Rng::new(seed ^ target.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    let mut report = Report::default();
    let total = seeds.len() + iterations();
    for i in 0..total {
        let input = if i < seeds.len() {
            seeds[i].clone()
        } else {
            let a = &seeds[rng.below(seeds.len())];
            let b = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, a, b)
        };
        let mut outcome = Ok(());
        let peak = peak_during(|| outcome = std::panic::catch_unwind(AssertUnwindSafe(|| check(&input))));
        if outcome.is_err() || peak > max_alloc {
            let dir = root.join("target").join("fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{target}-{i}"));
            let _ = std::fs::write(&path, &input);
            assert!(outcome.is_ok(), "{target}: input {i} panicked; saved to {}", path.display());
            panic!(
                "{target}: input {i} allocated {peak} bytes at its peak (bound {max_alloc}); saved to {}",
                path.display()
            );
        }
        report.inputs += 1;
        report.max_peak_bytes = report.max_peak_bytes.max(peak);
        report.max_input_len = report.max_input_len.max(input.len());
    }
    report
}
