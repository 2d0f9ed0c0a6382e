//! qcow2 images through our stack, judged by qemu-img: contents equal `qemu-img convert -O raw`,
//! header info equals `qemu-img info`, hostile images give clear errors.

mod common;

use common::{fixture, run};
use std::fs;
use std::path::{Path, PathBuf};
use vguestfs::disk::qcow2::{self, Compression};
use vguestfs::disk::{open_image, BlockDev, Error, Format};

const CHUNK: usize = 1 << 20;

/// Every qcow2 fixture.
const FIXTURES: &[&str] = &[
    "qcow2-v3.qcow2",
    "qcow2-v2.qcow2",
    "qcow2-compressed.qcow2",
    "qcow2-base.qcow2",
    "qcow2-overlay.qcow2",
    "qcow2-rawback.qcow2",
];

fn tmpdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Asserts that the whole device reads the same as qemu-img's raw conversion of `image`.
fn assert_same_as_qemu(image: &Path, dev: &dyn BlockDev) {
    let dir = tmpdir();
    let reference = dir.path().join("ref.raw");
    run("qemu-img", &["convert", "-O", "raw", image.to_str().unwrap(), reference.to_str().unwrap()]);
    let expected = fs::read(&reference).unwrap();
    assert_eq!(dev.len(), expected.len() as u64, "{}: virtual size", image.display());
    let mut buf = vec![0u8; CHUNK];
    for (i, want) in expected.chunks(CHUNK).enumerate() {
        let got = &mut buf[..want.len()];
        dev.read_at(got, (i * CHUNK) as u64).unwrap();
        assert!(got == want, "{}: chunk {i} (offset {:#x}) differs from qemu-img convert", image.display(), i * CHUNK);
    }
}

#[test]
fn every_fixture_reads_like_qemu_img_convert() {
    for name in FIXTURES {
        let path = fixture(name);
        let dev = open_image(&path, None, false).unwrap();
        assert!(!dev.is_writable());
        assert_same_as_qemu(&path, &*dev);
    }
}

#[test]
fn overlays_show_their_own_writes_over_the_backing_data() {
    let dev = open_image(&fixture("qcow2-overlay.qcow2"), None, false).unwrap();
    let mut buf = vec![0u8; 65536];
    dev.read_at(&mut buf, 1 << 20).unwrap();
    assert!(buf.iter().all(|&b| b == 0xab));
    let dev = open_image(&fixture("qcow2-rawback.qcow2"), None, false).unwrap();
    dev.read_at(&mut buf, 20 << 20).unwrap();
    assert!(buf.iter().all(|&b| b == 0xcd));
    // Unwritten areas come from the raw base.
    let base = fs::read(fixture("qcow2-base.raw")).unwrap();
    let mut head = vec![0u8; 1 << 20];
    dev.read_at(&mut head, 0).unwrap();
    assert!(head == base[..1 << 20]);
}

#[test]
fn info_matches_qemu_img_info() {
    for name in FIXTURES {
        let path = fixture(name);
        let info = qcow2::read_info(&path).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&run("qemu-img", &["info", "--output=json", path.to_str().unwrap()])).unwrap();
        let data = &json["format-specific"]["data"];
        assert_eq!(json["virtual-size"].as_u64(), Some(info.virtual_size), "{name}");
        assert_eq!(json["cluster-size"].as_u64(), Some(info.cluster_size), "{name}");
        assert_eq!(data["compat"].as_str(), Some(info.compat()), "{name}");
        assert_eq!(json["backing-filename"].as_str(), info.backing_file.as_deref(), "{name}");
        assert_eq!(json["backing-filename-format"].as_str(), info.backing_format.as_deref(), "{name}");
        assert_eq!(data["compression-type"].as_str(), Some(info.compression_type.name()), "{name}");
        assert_eq!(data["refcount-bits"].as_u64(), Some(u64::from(info.refcount_bits)), "{name}");
        assert_eq!(json["dirty-flag"].as_bool(), Some(info.dirty()), "{name}");
        if info.version == 3 {
            assert_eq!(data["lazy-refcounts"].as_bool(), Some(info.lazy_refcounts), "{name}");
            assert_eq!(data["extended-l2"].as_bool(), Some(info.extended_l2()), "{name}");
            assert_eq!(data["corrupt"].as_bool(), Some(info.corrupt()), "{name}");
        }
    }
    assert_eq!(qcow2::read_info(&fixture("qcow2-v2.qcow2")).unwrap().version, 2);
    assert_eq!(qcow2::read_info(&fixture("qcow2-v3.qcow2")).unwrap().version, 3);
}

/// A temp copy of a fixture (and, for overlays, of what it needs) in `dir`.
fn copy(dir: &Path, name: &str) -> PathBuf {
    let dst = dir.join(name);
    fs::copy(fixture(name), &dst).unwrap();
    dst
}

/// Overwrites bytes of a file.
fn patch(path: &Path, off: usize, bytes: &[u8]) {
    let mut data = fs::read(path).unwrap();
    data[off..off + bytes.len()].copy_from_slice(bytes);
    fs::write(path, data).unwrap();
}

fn open_err(path: &Path) -> Error {
    match qcow2::open(path, false) {
        Ok(_) => panic!("{} opened but should have been refused", path.display()),
        Err(e) => e,
    }
}

fn qemu_img(args: &[&str]) {
    run("qemu-img", args);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn truncated_images_are_refused_clearly() {
    let dir = tmpdir();
    let img = copy(dir.path(), "qcow2-v3.qcow2");
    for len in [0u64, 3, 50, 100, 65536, 196608] {
        fs::OpenOptions::new().write(true).open(&img).unwrap().set_len(len).unwrap();
        let msg = open_err(&img).to_string();
        assert!(msg.contains(s(&img)), "{msg}");
        assert!(msg.contains("truncated") || msg.contains("magic") || msg.contains("beyond"), "len {len}: {msg}");
    }
}

#[test]
fn truncated_data_area_never_panics() {
    let dir = tmpdir();
    let img = copy(dir.path(), "qcow2-v3.qcow2");
    let full = fs::metadata(&img).unwrap().len();
    fs::OpenOptions::new().write(true).open(&img).unwrap().set_len(full / 2).unwrap();
    // The tables are intact, the data clusters past the cut are gone: either open or a read
    // must fail, or the data must differ from the intact image — never a panic or hang.
    if let Ok(dev) = qcow2::open(&img, false) {
        let base = fs::read(fixture("qcow2-base.raw")).unwrap();
        let mut buf = vec![0u8; CHUNK];
        let mut differs = false;
        for (i, want) in base.chunks(CHUNK).enumerate() {
            match dev.read_at(&mut buf[..want.len()], (i * CHUNK) as u64) {
                Err(e) => {
                    assert!(e.to_string().contains(s(&img)), "{e}");
                    differs = true;
                    break;
                }
                Ok(()) => differs |= buf[..want.len()] != *want,
            }
        }
        assert!(differs, "a half-truncated image read back complete");
    }
}

#[test]
fn backing_loops_are_refused() {
    let dir = tmpdir();
    let a = dir.path().join("a.qcow2");
    let b = dir.path().join("b.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", s(&a), "1M"]);
    qemu_img(&["rebase", "-u", "-F", "qcow2", "-b", "a.qcow2", s(&a)]);
    let msg = open_err(&a).to_string();
    assert!(matches!(open_err(&a), Error::Backing { .. }), "{msg}");
    assert!(msg.contains("loops"), "{msg}");

    qemu_img(&["create", "-q", "-f", "qcow2", s(&a), "1M"]);
    qemu_img(&["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "a.qcow2", s(&b)]);
    qemu_img(&["rebase", "-u", "-F", "qcow2", "-b", "b.qcow2", s(&a)]);
    let msg = open_err(&a).to_string();
    assert!(msg.contains("loops") && msg.contains("b.qcow2") && msg.contains("a.qcow2"), "{msg}");
    let msg = open_err(&b).to_string();
    assert!(msg.contains("loops"), "{msg}");
}

/// Builds a raw base and `layers` qcow2 images over it; returns the top one.
fn chain(dir: &Path, layers: usize) -> PathBuf {
    let base = dir.join("l0.raw");
    fs::write(&base, vec![0x5au8; 1 << 20]).unwrap();
    let mut below = ("l0.raw".to_string(), "raw");
    let mut top = base;
    for i in 1..=layers {
        let name = format!("l{i}.qcow2");
        top = dir.join(&name);
        qemu_img(&["create", "-q", "-f", "qcow2", "-F", below.1, "-b", &below.0, s(&top)]);
        below = (name, "qcow2");
    }
    top
}

#[test]
fn backing_chains_deeper_than_16_are_refused() {
    let dir = tmpdir();
    let top = chain(dir.path(), 17);
    let e = open_err(&top);
    assert!(matches!(e, Error::Backing { .. }) && e.to_string().contains("deeper than 16"), "{e}");

    let dir = tmpdir();
    let top = chain(dir.path(), 16);
    let dev = qcow2::open(&top, false).unwrap();
    assert_same_as_qemu(&top, &*dev);
}

#[test]
fn missing_backing_format_is_refused_with_the_rebase_command() {
    let dir = tmpdir();
    copy(dir.path(), "qcow2-base.qcow2");
    let img = copy(dir.path(), "qcow2-overlay.qcow2");
    // Rename the backing-format extension to an unknown type, which qemu ignores.
    let mut data = fs::read(&img).unwrap();
    let pos = data[..65536].windows(4).position(|w| w == [0xe2, 0x79, 0x2a, 0xca]).unwrap();
    data[pos..pos + 4].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
    fs::write(&img, data).unwrap();
    let json = run("qemu-img", &["info", "--output=json", "-U", s(&img)]);
    assert!(!json.contains("backing-filename-format"), "{json}");
    let e = open_err(&img);
    let msg = e.to_string();
    assert!(matches!(e, Error::Backing { .. }), "{msg}");
    assert!(msg.contains("qemu-img rebase -u -F FMT -b qcow2-base.qcow2"), "{msg}");
}

#[test]
fn missing_backing_file_is_an_error_naming_it() {
    let dir = tmpdir();
    let img = copy(dir.path(), "qcow2-overlay.qcow2");
    let e = open_err(&img);
    let msg = e.to_string();
    assert!(matches!(e, Error::Backing { .. }), "{msg}");
    assert!(msg.contains("qcow2-base.qcow2") && msg.contains(s(&img)), "{msg}");
}

fn assert_unsupported(img: &Path, feature: &str, fix: &str) {
    match open_err(img) {
        Error::Qcow2Unsupported { feature: f, fix: x, .. } => {
            assert!(f.contains(feature), "feature '{f}' should name '{feature}'");
            assert!(x.contains(fix), "fix '{x}' should contain '{fix}'");
        }
        other => panic!("{}: expected an unsupported-feature error, got {other}", img.display()),
    }
}

#[test]
fn unsupported_features_are_refused_with_the_fix() {
    let dir = tmpdir();
    // zstd is read (disk_qcow2_compressed.rs), written never
    let zstd = dir.path().join("zstd.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", "-o", "compression_type=zstd", s(&zstd), "1M"]);
    assert_eq!(qcow2::read_info(&zstd).unwrap().compression_type, Compression::Zstd);
    match open_image(&zstd, None, true).map(|_| ()).unwrap_err() {
        Error::Qcow2Unsupported { feature, fix, .. } => assert!(feature.contains("zstd") && fix.contains("-o compression_type=zlib"), "{feature} {fix}"),
        other => panic!("{other}"),
    }

    let ext = dir.path().join("extl2.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", "-o", "extended_l2=on", s(&ext), "1M"]);
    assert!(qcow2::read_info(&ext).unwrap().extended_l2());
    assert_unsupported(&ext, "extended L2", "qemu-img convert -O qcow2");

    // Incompatible feature bits live in the u64 at byte 72; bit n of the low byte is at 79.
    // (The dirty bit is read, and refused only for writing: disk_qcow2_check.rs.)
    for (bit, feature, fix) in [
        (1u8, "corrupt bit", "qemu-img check -r all"),
        (2, "external data file", "qemu-img convert"),
        (5, "unknown incompatible feature", "qemu-img convert"),
    ] {
        let img = copy(dir.path(), "qcow2-v3.qcow2");
        patch(&img, 79, &[1 << bit]);
        assert_unsupported(&img, feature, fix);
    }
    // An unknown bit high in the word.
    let img = copy(dir.path(), "qcow2-v3.qcow2");
    patch(&img, 72, &[0x80]);
    assert_unsupported(&img, "unknown incompatible feature", "qemu-img convert");

    let img = copy(dir.path(), "qcow2-v3.qcow2");
    patch(&img, 32, &2u32.to_be_bytes());
    assert_unsupported(&img, "encryption", "qemu-img convert");
}

#[test]
fn corrupt_headers_are_refused_clearly() {
    let dir = tmpdir();
    for (what, off, bytes, expect) in [
        ("huge l1_size", 36, 0x7fff_ffffu32.to_be_bytes().to_vec(), "l1_size"),
        ("small l1_size", 36, 0u32.to_be_bytes().to_vec(), "L1 table"),
        ("cluster_bits 30", 20, 30u32.to_be_bytes().to_vec(), "cluster_bits 30"),
        ("cluster_bits 8", 20, 8u32.to_be_bytes().to_vec(), "cluster_bits 8"),
        ("L1 beyond file", 40, (1u64 << 40).to_be_bytes().to_vec(), "beyond the end of the file"),
        ("L1 overflow", 40, (u64::MAX - 0xffff).to_be_bytes().to_vec(), "beyond the end of the file"),
        ("unaligned L1", 40, 0x30008u64.to_be_bytes().to_vec(), "not cluster-aligned"),
        ("refcount table beyond file", 48, (1u64 << 40).to_be_bytes().to_vec(), "refcount table"),
        ("version 4", 4, 4u32.to_be_bytes().to_vec(), "version 4"),
        ("header_length", 100, 12u32.to_be_bytes().to_vec(), "header_length"),
    ] {
        let img = copy(dir.path(), "qcow2-v3.qcow2");
        patch(&img, off, &bytes);
        let msg = open_err(&img).to_string();
        assert!(msg.contains(expect) && msg.contains(s(&img)), "{what}: {msg}");
    }
}

#[test]
fn format_raw_override_reads_the_qcow2_file_bytes() {
    let path = fixture("qcow2-v3.qcow2");
    let dev = open_image(&path, Some(Format::Raw), false).unwrap();
    let bytes = fs::read(&path).unwrap();
    assert_eq!(dev.len(), bytes.len() as u64);
    let mut got = vec![0u8; bytes.len()];
    dev.read_at(&mut got, 0).unwrap();
    assert!(got == bytes);
    assert_eq!(&got[..4], b"QFI\xfb");
    // Probing picks qcow2 for the same file.
    assert_eq!(open_image(&path, None, false).unwrap().len(), 32 << 20);
}

#[test]
fn other_formats_are_refused_with_the_convert_command() {
    let dir = tmpdir();
    let raw = fixture("qcow2-base.raw");
    for fmt in ["vmdk", "vdi", "vhdx", "vpc", "qed"] {
        for subformat in [None, Some("fixed")] {
            if subformat.is_some() && fmt != "vpc" {
                continue;
            }
            let img = dir.path().join(format!("img.{fmt}"));
            let mut args = vec!["convert", "-q", "-f", "raw", "-O", fmt];
            if let Some(sub) = subformat {
                args.extend(["-o", "subformat=fixed"]);
                let _ = sub;
            }
            args.extend([s(&raw), s(&img)]);
            qemu_img(&args);
            let msg = match open_image(&img, None, false) {
                Ok(_) => panic!("{fmt} {subformat:?} image opened"),
                Err(e) => e.to_string(),
            };
            assert!(msg.contains(&format!("{fmt} image")) && msg.contains("qemu-img convert -O qcow2"), "{msg}");
        }
    }
}

/// Access modes (O_ACCMODE of fdinfo `flags`) of this process's fds that point at `path`.
fn access_modes(path: &Path) -> Vec<u32> {
    let target = fs::canonicalize(path).unwrap();
    let mut modes = Vec::new();
    for entry in fs::read_dir("/proc/self/fd").unwrap().flatten() {
        if fs::read_link(entry.path()).ok().as_deref() != Some(target.as_path()) {
            continue;
        }
        let fd = entry.file_name();
        let Ok(info) = fs::read_to_string(Path::new("/proc/self/fdinfo").join(&fd)) else { continue };
        let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap();
        modes.push(u32::from_str_radix(flags.trim(), 8).unwrap() & 0o3);
    }
    modes
}

#[test]
fn read_only_open_never_opens_files_for_writing() {
    let dir = tmpdir();
    let base = copy(dir.path(), "qcow2-base.qcow2");
    let top = copy(dir.path(), "qcow2-overlay.qcow2");

    let dev = open_image(&top, None, false).unwrap();
    let mut buf = [0u8; 4096];
    dev.read_at(&mut buf, 1 << 20).unwrap();
    let (top_modes, base_modes) = (access_modes(&top), access_modes(&base));
    assert!(!top_modes.is_empty() && !base_modes.is_empty(), "the images are not open: {top_modes:?} {base_modes:?}");
    assert!(top_modes.iter().chain(&base_modes).all(|&m| m == 0), "opened for writing: {top_modes:?} {base_modes:?}");
    drop(dev);

    // The same check sees a writable open (so it can fail), and backing files stay read-only.
    let dev = open_image(&top, None, true).unwrap();
    assert!(access_modes(&top).contains(&2), "writable open is not O_RDWR: {:?}", access_modes(&top));
    assert!(access_modes(&base).iter().all(|&m| m == 0));
    drop(dev);
}

#[test]
fn writes_land_in_the_overlay_and_qemu_img_agrees() {
    let dir = tmpdir();
    let base = copy(dir.path(), "qcow2-base.qcow2");
    let top = copy(dir.path(), "qcow2-overlay.qcow2");
    let base_sum = common::sha256_file(&base);
    {
        let dev = open_image(&top, None, true).unwrap();
        assert!(dev.is_writable());
        dev.write_at(&vec![0x77u8; 100_000], 5_000_000).unwrap();
        dev.write_at(b"hello", (32 << 20) - 5).unwrap();
        assert!(dev.write_at(b"x", 32 << 20).is_err());
        dev.flush().unwrap();
    }
    run("qemu-img", &["check", s(&top)]);
    assert_eq!(common::sha256_file(&base), base_sum, "the backing file changed");
    let dev = open_image(&top, None, false).unwrap();
    assert!(matches!(dev.write_at(b"x", 0), Err(Error::ReadOnly { .. })));
    assert_same_as_qemu(&top, &*dev);
    let mut buf = vec![0u8; 100_000];
    dev.read_at(&mut buf, 5_000_000).unwrap();
    assert!(buf.iter().all(|&b| b == 0x77));
}

/// Deterministic mutations of a real header: the parser never panics, and whatever it accepts
/// is within the bounds it promises.
#[test]
fn header_parser_survives_mutations() {
    let original = fs::read(fixture("qcow2-overlay.qcow2")).unwrap();
    let first = &original[..65536];
    let file_len = original.len() as u64;
    let path = Path::new("mutant.qcow2");
    let mut accepted = 0;
    let mut check = |bytes: &[u8], len: u64| {
        if let Ok(info) = qcow2::parse_header(bytes, len, path) {
            accepted += 1;
            assert!((512..=2 << 20).contains(&info.cluster_size));
            assert!(matches!(info.version, 2 | 3));
            assert!(info.backing_file.as_ref().is_none_or(|b| b.len() <= 1023));
        }
    };
    let mut bytes = first.to_vec();
    for off in 0..512 {
        for v in [0x00u8, 0x01, 0x07, 0x80, 0xff] {
            let old = bytes[off];
            bytes[off] = v;
            check(&bytes, file_len);
            bytes[off] = old;
        }
    }
    // Multi-byte random mutations (xorshift, fixed seed) and truncations.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..3000 {
        let mut m = first.to_vec();
        for _ in 0..(next() % 8 + 1) {
            let off = (next() % 512) as usize;
            m[off] = next() as u8;
        }
        let cut = (next() % 70000) as usize;
        check(&m[..cut.min(m.len())], next() % (file_len * 2));
        check(&m, file_len);
    }
    check(&[], 0);
    assert!(accepted > 0, "the parser accepted no mutant, not even harmless ones");
}

fn be64(data: &[u8], off: usize) -> u64 {
    u64::from_be_bytes(data[off..off + 8].try_into().unwrap())
}

/// Reads the whole device; returns whether every read succeeded. Must not panic or hang.
fn read_all(dev: &dyn BlockDev) -> bool {
    let mut buf = vec![0u8; CHUNK];
    (0..dev.len()).step_by(CHUNK).all(|off| dev.read_at(&mut buf[..CHUNK.min((dev.len() - off) as usize)], off).is_ok())
}

/// Corrupt L1/L2 entries (the header is fine, so imago reads the tables): where qemu-img fails
/// to convert, we fail too; where it reads (tables beyond the end of the file read as zeros in
/// qemu as well), we read the same bytes. Never a panic or hang.
#[test]
fn corrupt_table_entries_behave_like_qemu() {
    let dir = tmpdir();
    let original = fs::read(fixture("qcow2-compressed.qcow2")).unwrap();
    let l1 = be64(&original, 40) as usize;
    let l2 = (be64(&original, l1) & 0x00ff_ffff_ffff_fe00) as usize;
    let img = dir.path().join("bad.qcow2");
    let out = dir.path().join("bad.raw");
    for (what, off, value) in [
        ("L1 entry beyond the file", l1, 0x8000_0000_4000_0000u64),
        ("unaligned L1 entry", l1, 0x8000_0000_0001_0200),
        ("L2 entry beyond the file", l2, 0x8000_0000_4000_0000),
        ("compressed L2 entry beyond the file", l2, 0x4000_0000_4000_0000),
        ("compressed L2 entry with a huge size", l2, 0x7fff_ffff_ffff_ffff),
        ("compressed L2 entry pointing at metadata", l2, 0x4000_0000_0000_0000),
    ] {
        let mut data = original.clone();
        data[off..off + 8].copy_from_slice(&value.to_be_bytes());
        fs::write(&img, &data).unwrap();
        let qemu_ok = std::process::Command::new("qemu-img")
            .args(["convert", "-O", "raw", s(&img), s(&out)])
            .output()
            .unwrap()
            .status
            .success();
        match qcow2::open(&img, false) {
            Err(e) => assert!(!qemu_ok && e.to_string().contains(s(&img)), "{what}: qemu reads it, we fail: {e}"),
            Ok(dev) if qemu_ok => assert_same_as_qemu(&img, &*dev),
            Ok(dev) => assert!(!read_all(&*dev), "{what}: qemu-img fails, every read of ours succeeded"),
        }
    }
}

/// Writes into v2 images and over compressed clusters (copy-on-write of a compressed cluster)
/// leave images that `qemu-img check` accepts and that read back like `qemu-img convert`.
#[test]
fn writes_to_v2_and_compressed_images_pass_qemu_img_check() {
    let dir = tmpdir();
    for name in ["qcow2-v2.qcow2", "qcow2-compressed.qcow2"] {
        let img = copy(dir.path(), name);
        {
            let dev = open_image(&img, None, true).unwrap();
            dev.write_at(&[0x42u8; 3000], (12 << 20) + 777).unwrap();
            dev.write_at(&[0x43u8; 70_000], 30 << 20).unwrap();
            dev.flush().unwrap();
        }
        run("qemu-img", &["check", s(&img)]);
        let dev = open_image(&img, None, false).unwrap();
        assert_same_as_qemu(&img, &*dev);
        let mut buf = [0u8; 3000];
        dev.read_at(&mut buf, (12 << 20) + 777).unwrap();
        assert!(buf.iter().all(|&b| b == 0x42), "{name}");
    }
}
