//! SQLite record format: a header (its own length as a varint, then one serial type varint
//! per column) followed by the column values. Serial types: 0 NULL, 1–6 big-endian signed
//! integers of 1, 2, 3, 4, 6, 8 bytes, 7 a float, 8 and 9 the constants 0 and 1, 10 and 11
//! reserved, even N ≥ 12 a blob of (N−12)/2 bytes, odd N ≥ 13 a text of (N−13)/2 bytes.

use super::super::error::{sqlite as err, Error};

/// A SQLite varint at `at`: 1 to 9 bytes, big-endian groups of 7 bits with the high bit set
/// on all but the last, the ninth byte contributing all 8 bits. The value and its length, or
/// `None` when it runs past the end of `b`.
pub fn varint(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let byte = *b.get(at.checked_add(i)?)?;
        if i == 8 {
            return Some(((v << 8) | u64::from(byte), 9));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// One column value (texts and blobs borrow the payload).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// NULL (also the stored value of an `INTEGER PRIMARY KEY` column, the rowid's alias).
    Null,
    /// An integer.
    Integer(i64),
    /// A floating-point number.
    Float(f64),
    /// A text, in the database's encoding.
    Text(&'a [u8]),
    /// A blob.
    Blob(&'a [u8]),
}

/// Bytes a value of serial type `t` takes in the record body; `None` for the reserved
/// types 10 and 11.
pub fn serial_len(t: u64) -> Option<u64> {
    Some(match t {
        0 | 8 | 9 => 0,
        1..=4 => t,
        5 => 6,
        6 | 7 => 8,
        10 | 11 => return None,
        n => (n - 12) / 2,
    })
}

/// Big-endian two's-complement integer of 1..=8 bytes.
fn signed(b: &[u8]) -> i64 {
    let mut v: i64 = if b.first().is_some_and(|&x| x & 0x80 != 0) { -1 } else { 0 };
    for &x in b {
        v = (v << 8) | i64::from(x);
    }
    v
}

/// Decodes the record `payload` into its column values.
pub fn parse(payload: &[u8]) -> Result<Vec<Value<'_>>, Error> {
    let (hlen, n) = varint(payload, 0).ok_or_else(|| err("record: header length varint truncated"))?;
    if hlen > payload.len() as u64 || (hlen as usize) < n {
        return Err(err(format!("record: header length {hlen} outside the {}-byte payload", payload.len())));
    }
    let hlen = hlen as usize;
    let mut values = Vec::new();
    let (mut at, mut body) = (n, hlen);
    while at < hlen {
        let (t, k) = varint(&payload[..hlen], at).ok_or_else(|| err("record: serial type varint runs past the header"))?;
        at += k;
        let len = serial_len(t).ok_or_else(|| err(format!("record: reserved serial type {t}")))?;
        let data = (body as u64)
            .checked_add(len)
            .filter(|&end| end <= payload.len() as u64)
            .and_then(|end| payload.get(body..end as usize))
            .ok_or_else(|| err(format!("record: column {} ({len} bytes) runs past the {}-byte payload", values.len(), payload.len())))?;
        body += data.len();
        values.push(match t {
            0 => Value::Null,
            1..=6 => Value::Integer(signed(data)),
            7 => Value::Float(f64::from_bits(u64::from_be_bytes(data.try_into().unwrap_or([0; 8])))),
            8 => Value::Integer(0),
            9 => Value::Integer(1),
            t if t % 2 == 0 => Value::Blob(data),
            _ => Value::Text(data),
        });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        assert_eq!(varint(&[0x00], 0), Some((0, 1)));
        assert_eq!(varint(&[0x7f], 0), Some((127, 1)));
        assert_eq!(varint(&[0x81, 0x00], 0), Some((128, 2)));
        assert_eq!(varint(&[0x82, 0x80, 0x01], 0), Some(((2 << 14) | 1, 3)));
        // nine bytes: the last one gives 8 bits
        assert_eq!(varint(&[0xff; 9], 0), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], 0), Some((1, 9)));
        assert_eq!(varint(&[0x81], 0), None);
        assert_eq!(varint(&[0x01], 1), None);
        assert_eq!(varint(&[0x01], usize::MAX), None);
    }

    #[test]
    fn serial_types() {
        assert_eq!([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(|t| serial_len(t).unwrap()), [0, 1, 2, 3, 4, 6, 8, 8, 0, 0]);
        assert_eq!((serial_len(10), serial_len(11)), (None, None));
        assert_eq!((serial_len(12), serial_len(13), serial_len(14), serial_len(15)), (Some(0), Some(0), Some(1), Some(1)));
        // header 7 bytes: NULL, int8 -2, int24 0x010203, blob of 2, text of 1; then const 1
        let rec = [7, 0, 1, 3, 16, 15, 9, 0xfe, 1, 2, 3, 0xaa, 0xbb, b'x'];
        let v = parse(&rec).unwrap();
        assert_eq!(
            v,
            vec![Value::Null, Value::Integer(-2), Value::Integer(0x010203), Value::Blob(&[0xaa, 0xbb]), Value::Text(b"x"), Value::Integer(1)]
        );
        // int48 and int64 signs
        assert_eq!(
            parse(&[3, 5, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 1, 0]).unwrap(),
            vec![Value::Integer(-2), Value::Integer(256)]
        );
        // blob past the end, reserved type, header length past the end
        assert!(parse(&[2, 20, 0]).is_err());
        assert!(parse(&[2, 10]).is_err());
        assert!(parse(&[9, 1]).is_err());
        assert_eq!(parse(&[1]).unwrap(), vec![]);
    }
}
