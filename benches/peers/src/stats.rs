//! Medians and spreads, and how the tables print them.

/// The median of `xs` (the mean of the middle two for an even count); NaN when empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The smallest and largest finite values.
pub fn range(xs: &[f64]) -> (f64, f64) {
    xs.iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        })
}

/// Per-rep ratios `a[i] / b[i]` of interleaved reps, as a median with its min–max:
/// `1.14× (1.02–1.25)`.
pub fn ratio_cell(a: &[f64], b: &[f64]) -> String {
    let ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    ratio_of(&ratios)
}

/// A median ratio with its min–max, or `n/a` when nothing was measured.
pub fn ratio_of(ratios: &[f64]) -> String {
    let m = median(ratios);
    if !m.is_finite() {
        return "n/a".into();
    }
    let (lo, hi) = range(ratios);
    if ratios.len() < 2 {
        return format!("{m:.2}×");
    }
    format!("{m:.2}× ({lo:.2}–{hi:.2})")
}

/// A count with thousands separators: `418,782`.
pub fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let s = format!("{:.0}", x.round());
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// A byte count as people write it: `100 B`, `16 KiB`, `1 MiB`.
pub fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

/// Parses `100`, `16k`, `16KiB`, `1m`, `1MiB` into bytes.
pub fn parse_size(s: &str) -> Option<usize> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches("ib").trim_end_matches('b');
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: usize = digits.parse().ok()?;
    let mult = match unit.trim() {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&b| b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn sizes_parse_and_print() {
        for (text, bytes, shown) in [
            ("100", 100, "100 B"),
            ("16k", 16 << 10, "16 KiB"),
            ("16KiB", 16 << 10, "16 KiB"),
            ("1m", 1 << 20, "1 MiB"),
            ("1MiB", 1 << 20, "1 MiB"),
        ] {
            assert_eq!(parse_size(text), Some(bytes), "{text}");
            assert_eq!(size(bytes), shown);
        }
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("12x"), None);
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(418_782.4), "418,782");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1_000.0), "-1,000");
    }

    #[test]
    fn ratio_cells_show_median_and_spread() {
        assert_eq!(
            ratio_cell(&[2.0, 3.0, 4.0], &[1.0, 2.0, 2.0]),
            "2.00× (1.50–2.00)"
        );
        assert_eq!(ratio_of(&[]), "n/a");
    }
}
