//! A sysctl value as the kernel reads it. Every place that asks "is this
//! key already at that value?" (maint, status, plan, finish, the merge
//! model) asks [`same_value`].

/// Values as the kernel sees them: `4096  87380\t6291456` is `4096 87380 6291456`.
pub fn same_value(a: &str, b: &str) -> bool {
    a.split_ascii_whitespace().eq(b.split_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_comparison_ignores_blank_runs() {
        assert!(same_value("4096  87380\t6291456", "4096 87380 6291456"));
        assert!(!same_value("1", "2"));
    }
}
