//! Printing of struct lists (guestfish's `RStructList` results): each struct as
//! `[i] = {`, one `  field: value` line per field, `}`.

use crate::error::CmdResult;
use std::io::Write;

/// One struct: its fields in order, values already formatted.
pub type Fields = Vec<(&'static str, String)>;

/// Prints `rows` the way guestfish prints a struct list.
pub fn print_list(out: &mut dyn Write, rows: &[Fields]) -> CmdResult {
    for (i, fields) in rows.iter().enumerate() {
        writeln!(out, "[{i}] = {{")?;
        for (name, value) in fields {
            writeln!(out, "  {name}: {value}")?;
        }
        writeln!(out, "}}")?;
    }
    Ok(())
}

/// An `OptPercent` field: `%g %` when known, empty when not (guestfish stores -1 then).
pub fn opt_percent(p: Option<f32>) -> String {
    match p {
        Some(v) if v >= 0.0 => format!("{} %", fmt_g(f64::from(v))),
        _ => String::new(),
    }
}

/// C's `%g`: six significant digits, trailing zeros dropped, exponent form below 1e-4 and from
/// 1e6 on.
fn fmt_g(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() { "0".into() } else { v.to_string() };
    }
    let sci = format!("{v:.5e}"); // mantissa rounded to six digits, e.g. "1.23457e1"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        let decimals = (5 - exp).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_like_printf_g() {
        assert_eq!(opt_percent(None), "");
        assert_eq!(opt_percent(Some(-1.0)), "");
        assert_eq!(opt_percent(Some(0.0)), "0 %");
        assert_eq!(opt_percent(Some(100.0)), "100 %");
        assert_eq!(opt_percent(Some(12.5)), "12.5 %");
        for (v, s) in [(33.333333333, "33.3333"), (0.0001, "0.0001"), (0.00001234, "1.234e-05"), (1234567.0, "1.23457e+06"), (99.99999, "100")] {
            assert_eq!(fmt_g(v), s, "{v}");
        }
    }

    #[test]
    fn list_layout() {
        let mut out = Vec::new();
        let rows = vec![vec![("a", "1".to_string()), ("b", String::new())], vec![("a", "2".to_string())]];
        print_list(&mut out, &rows).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "[0] = {\n  a: 1\n  b: \n}\n[1] = {\n  a: 2\n}\n");
    }
}
