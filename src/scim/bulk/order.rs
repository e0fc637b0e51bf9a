//! The order a bulk request runs in (RFC 7644 §3.7: reordering is allowed when it keeps the
//! client's intent): the request's order, except that an operation waits for the POSTs whose
//! bulkIds it names. POSTs that name each other (a cycle, §3.7.1) are resolved: the first runs
//! without those references, and a PATCH adds them once the others exist.
use super::{Entry, Method};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Run entry `i`, its references resolved.
    Run(usize),
    /// Run POST `i` without its references to POSTs not run yet (`defer_references`).
    RunDeferring(usize),
    /// Add back what `RunDeferring(i)` left out: every POST it named has run.
    Complete(usize),
}

/// Every entry once, and the completions of the POSTs that broke a cycle. Entries that could not
/// be read run where they stand (they fail).
pub fn order(entries: &[Entry]) -> Vec<Step> {
    let defined: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.operation {
            Ok(op) if op.method == Method::Post => op.bulk_id.as_deref().map(|b| (b, i)),
            _ => None,
        })
        .collect();
    let waits_for: Vec<Vec<usize>> = entries
        .iter()
        .map(|e| match &e.operation {
            Ok(op) => op
                .needs
                .iter()
                .filter_map(|b| defined.get(b.as_str()).copied())
                .collect(),
            Err(_) => Vec::new(),
        })
        .collect();
    let mut run = vec![false; entries.len()];
    let mut awaiting: Vec<usize> = Vec::new();
    let mut steps = Vec::with_capacity(entries.len());
    while let Some(next) = next_step(&waits_for, &run) {
        steps.push(next);
        let (Step::Run(i) | Step::RunDeferring(i) | Step::Complete(i)) = next;
        run[i] = true;
        if matches!(next, Step::RunDeferring(_)) {
            awaiting.push(i);
        }
        awaiting.retain(|&p| {
            let ready = waits_for[p].iter().all(|&d| run[d]);
            if ready {
                steps.push(Step::Complete(p));
            }
            !ready
        });
    }
    steps
}

/// The first entry not run whose POSTs have all run; else, when every one left waits, the first
/// POST left on a cycle, to run deferring.
fn next_step(waits_for: &[Vec<usize>], run: &[bool]) -> Option<Step> {
    let left = || (0..run.len()).filter(|&i| !run[i]);
    if let Some(i) = left().find(|&i| waits_for[i].iter().all(|&d| run[d])) {
        return Some(Step::Run(i));
    }
    left().find(|&i| on_cycle(i, waits_for, run)).map(Step::RunDeferring)
}

/// Whether `start` waits, through entries not run yet, for itself.
fn on_cycle(start: usize, waits_for: &[Vec<usize>], run: &[bool]) -> bool {
    let mut seen = vec![false; run.len()];
    let mut stack: Vec<usize> = waits_for[start].iter().copied().filter(|&d| !run[d]).collect();
    while let Some(i) = stack.pop() {
        if i == start {
            return true;
        }
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(waits_for[i].iter().copied().filter(|&d| !run[d]));
        }
    }
    false
}
