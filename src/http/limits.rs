//! Checks on a request body made before any dialect parses it: how deep its JSON nests. A
//! linear scan with no recursion, so a body of 64 KiB of `[` costs one pass and no stack.

/// Whether `body` opens more than `depth_max` JSON arrays or objects inside each other.
/// Brackets inside strings do not count; the body need not be valid JSON (the dialect's parser
/// judges that), so this only ever refuses what would nest too deep if it were.
pub fn json_too_deep(body: &[u8], depth_max: usize) -> bool {
    let mut depth = 0_usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            in_string = escaped || byte != b'"';
            escaped = !escaped && byte == b'\\';
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth = depth.saturating_add(1);
                if depth > depth_max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nesting_outside_strings_only() {
        assert!(!json_too_deep(br#"{"a": [1, {"b": [2]}]}"#, 4));
        assert!(json_too_deep(br#"{"a": [1, {"b": [[2]]}]}"#, 4));
        assert!(!json_too_deep(br#"{"a": "[[[[[[[[", "b": "\"[[[[[["}"#, 1));
        assert!(!json_too_deep(b"[][][][][][]", 1), "siblings are not nesting");
        assert!(json_too_deep(&[b'['; 100_000], 32));
        assert!(!json_too_deep(b"", 1));
    }
}
