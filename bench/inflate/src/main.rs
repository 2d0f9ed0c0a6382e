//! Inflates every compressed cluster of the qcow2 images named on the command line with each
//! candidate decoder (raw deflate, as qcow2 stores it), checks that all agree, and prints the
//! median time over ROUNDS passes: total, per cluster, and output throughput.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Instant;

const ROUNDS: usize = 7;

/// One compressed cluster: its bytes (up to the descriptor's bound) and the cluster size.
struct Cluster {
    data: Vec<u8>,
    size: usize,
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().unwrap())
}

/// Every compressed cluster of the active L1 table of a qcow2 v2/v3 image (no extended L2).
fn clusters(path: &str) -> Vec<Cluster> {
    let f = File::open(path).unwrap();
    let len = f.metadata().unwrap().len();
    let mut h = [0u8; 104];
    f.read_exact_at(&mut h, 0).unwrap();
    let cb = u32::from_be_bytes(h[20..24].try_into().unwrap());
    let l1_size = u32::from_be_bytes(h[36..40].try_into().unwrap()) as usize;
    let l1_off = be64(&h[40..]);
    let cs = 1usize << cb;
    let mut l1 = vec![0u8; l1_size * 8];
    f.read_exact_at(&mut l1, l1_off).unwrap();
    let shift = 62 - (cb - 8);
    let mut out = Vec::new();
    let mut l2 = vec![0u8; cs];
    for e in l1.chunks(8) {
        let l2_off = be64(e) & 0x00ff_ffff_ffff_fe00;
        if l2_off == 0 {
            continue;
        }
        f.read_exact_at(&mut l2, l2_off).unwrap();
        for e in l2.chunks(8) {
            let e = be64(e);
            if e & (1 << 62) == 0 {
                continue;
            }
            let host = e & ((1 << shift) - 1);
            let sectors = ((e >> shift) & ((1 << (cb - 8)) - 1)) + 1;
            let n = (sectors * 512 - (host & 511)).min(len - host) as usize;
            let mut data = vec![0u8; n];
            f.read_exact_at(&mut data, host).unwrap();
            out.push(Cluster { data, size: cs });
        }
    }
    out
}

fn miniz_fresh(c: &Cluster, out: &mut [u8]) {
    use miniz_oxide::inflate::core::{decompress, DecompressorOxide};
    let mut d = DecompressorOxide::new();
    let (_, _, n) = decompress(&mut d, &c.data, out, 0, 0);
    assert_eq!(n, c.size);
}

fn zlib_rs_fresh(c: &Cluster, out: &mut [u8]) {
    let mut z = zlib_rs::Inflate::new(false, 15);
    z.decompress(&c.data, out, zlib_rs::InflateFlush::Finish).unwrap();
    assert_eq!(z.total_out() as usize, c.size);
}

fn zlib_rs_reused(z: &mut zlib_rs::Inflate, c: &Cluster, out: &mut [u8]) {
    z.reset(false);
    z.decompress(&c.data, out, zlib_rs::InflateFlush::Finish).unwrap();
    assert_eq!(z.total_out() as usize, c.size);
}

fn libdeflate(d: &mut libdeflater::Decompressor, c: &Cluster, out: &mut [u8]) {
    // qcow2 gives an upper bound of the stream's length: libdeflate ignores what follows it.
    let n = d.deflate_decompress(&c.data, out).unwrap();
    assert_eq!(n, c.size);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let mut all = Vec::new();
    for path in std::env::args().skip(1) {
        let c = clusters(&path);
        println!("{path}: {} compressed clusters", c.len());
        all.extend(c);
    }
    let out_bytes: usize = all.iter().map(|c| c.size).sum();
    let in_bytes: usize = all.iter().map(|c| c.data.len()).sum();
    println!("{} clusters, {:.1} MiB out, {:.1} MiB in (descriptor bounds)", all.len(), out_bytes as f64 / 1048576.0, in_bytes as f64 / 1048576.0);

    // The decoders agree.
    let mut a = vec![0u8; 2 << 20];
    let mut b = vec![0u8; 2 << 20];
    let mut ld = libdeflater::Decompressor::new();
    for c in &all {
        miniz_fresh(c, &mut a[..c.size]);
        zlib_rs_fresh(c, &mut b[..c.size]);
        assert!(a[..c.size] == b[..c.size]);
        libdeflate(&mut ld, c, &mut b[..c.size]);
        assert!(a[..c.size] == b[..c.size]);
    }

    let mut zr = zlib_rs::Inflate::new(false, 15);
    let mut run = |name: &str, f: &mut dyn FnMut(&Cluster, &mut [u8])| {
        let mut times = Vec::new();
        for _ in 0..ROUNDS {
            let t = Instant::now();
            for c in &all {
                f(c, &mut a[..c.size]);
            }
            times.push(t.elapsed().as_secs_f64());
        }
        let t = median(times);
        println!(
            "| {name} | {:.1} | {:.1} | {:.0} |",
            t * 1e3,
            t * 1e6 / all.len() as f64,
            out_bytes as f64 / 1048576.0 / t
        );
    };
    println!("| decoder | total [ms] | per cluster [µs] | output [MiB/s] |\n|:---|---:|---:|---:|");
    run("miniz_oxide 0.8.9, new state per cluster (imago)", &mut miniz_fresh);
    run("zlib-rs 0.6.8, new state per cluster", &mut zlib_rs_fresh);
    run("zlib-rs 0.6.8, one state, reset per cluster", &mut |c, o| zlib_rs_reused(&mut zr, c, o));
    run("libdeflate (libdeflater 1), one decompressor", &mut |c, o| libdeflate(&mut ld, c, o));
}
