//! Where a window's block sharing differs from its synthetic copy: hits split into
//! inherited (the lineage parent's blocks) and shared (any other request's), reuse gaps
//! of each, reuses per block, first-reuse lags, and new blocks never reused by where they
//! came from. `ONLY=key WINDOW=15/start SEEDS=3 cargo run --release --example sharing_diag`;
//! `MISSED=1` also lists the generated follow-ups lineage inference misses (and why),
//! `TURNS=1` inputs by inferred turn, `SESS=1` the fitted follow-up probabilities.
#![allow(clippy::needless_range_loop)]
use std::collections::HashMap;
use tracesynth::fit::prepared::Prepared;
use tracesynth::generate::GenerateOptions;
use tracesynth::trace::Trace;
use tracesynth::validate::robustness::{Cut, scenario_subjects, window};
use tracesynth::validate::scenarios::SCENARIO_SECONDS;
use tracesynth::validate::{covering_span, fit, synthesize};

#[derive(Default)]
struct Stats {
    blocks: u64,
    hits: [u64; 2],
    gaps: [Vec<f64>; 2],
    first_reuse: Vec<f64>,
    reuse_counts: Vec<u32>,
    /// new blocks / of those reused, by introducer: root, follow-up; last block or not.
    new: [[u64; 2]; 4],
    root_hit: (u64, u64),
    /// new blocks by origin (root/follow) first reused by inheritance / by sharing
    first_by: [[u64; 2]; 2],
    roots: u64,
    follows: u64,
    inputs: [Vec<f64>; 2],
    by_turn: Vec<Vec<f64>>,
    inputs_par: Vec<f64>,
    growth: Vec<f64>,
    elig: (u64, u64, u64, u64),
}

fn q(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn stats(trace: &Trace) -> Stats {
    let times: Vec<f64> = trace.requests.iter().map(|r| r.timestamp).collect();
    let mut t = trace.clone();
    for r in &mut t.requests {
        r.session = None;
    }
    let p = Prepared::new(t, 0);
    let mut s = Stats::default();
    // id -> (last touch time, intro time, hits, introducer class)
    let mut seen: HashMap<u64, (f64, f64, u32, usize)> = HashMap::new();
    for i in 0..p.requests.len() {
        let r = &p.requests[i];
        let now = times[i];
        let ids: Vec<u64> = p.ids(i).collect();
        let parent: Vec<u64> = r.parent.map(|q| p.ids(q).collect()).unwrap_or_default();
        s.blocks += ids.len() as u64;
        let mut hit_run = true;
        let mut nh = 0;
        for (j, id) in ids.iter().enumerate() {
            match seen.get_mut(id) {
                Some(e) if hit_run => {
                    let inh = usize::from(!(j < parent.len() && parent[j] == *id));
                    s.hits[inh] += 1;
                    s.gaps[inh].push(now - e.0);
                    if e.2 == 0 {
                        s.first_reuse.push(now - e.1);
                        s.first_by[e.3 / 2][inh] += 1;
                    }
                    e.2 += 1;
                    e.0 = now;
                    nh += 1;
                }
                Some(e) => {
                    e.0 = now;
                }
                None => {
                    hit_run = false;
                    let class = usize::from(!r.is_root()) * 2 + usize::from(j + 1 == ids.len());
                    seen.insert(*id, (now, now, 0, class));
                }
            }
        }
        if r.is_root() {
            let own = r
                .input
                .saturating_sub(nh * trace.block_size.unwrap_or(16) as u64);
            s.elig.0 += 1;
            if own > trace.block_size.unwrap_or(16) as u64 && r.blocks >= 3 {
                s.elig.1 += 1;
                if r.children > 0 {
                    s.elig.2 += 1;
                }
            } else if r.children > 0 {
                s.elig.3 += 1;
            }
            s.root_hit.0 += nh;
            s.root_hit.1 += ids.len() as u64;
        }
        if r.is_root() {
            s.roots += 1
        } else {
            s.follows += 1
        }
        s.inputs[usize::from(!r.is_root())].push(r.input as f64);
        if r.is_root() && r.children > 0 {
            s.inputs_par.push(r.input as f64);
            let kid = (i + 1..p.requests.len())
                .find(|&k| p.requests[k].parent == Some(i))
                .unwrap();
            s.growth
                .push(p.requests[kid].input as f64 - r.input as f64 - r.output as f64);
        }
        let tb = (r.turn as usize).min(8);
        if s.by_turn.len() <= tb {
            s.by_turn.resize(tb + 1, Vec::new());
        }
        s.by_turn[tb].push(r.input as f64);
    }
    for e in seen.values() {
        s.reuse_counts.push(e.2);
        s.new[e.3][0] += 1;
        if e.2 > 0 {
            s.new[e.3][1] += 1;
        }
    }
    s
}

fn print(label: &str, mut s: Stats) {
    let total: u64 = s.hits.iter().sum();
    let distinct = s.reuse_counts.len() as f64;
    let reused = s.reuse_counts.iter().filter(|&&c| c > 0).count() as f64;
    let bucket = |lo: u32, hi: u32| {
        s.reuse_counts
            .iter()
            .filter(|&&c| c >= lo && c <= hi)
            .count() as f64
            / distinct
    };
    println!(
        "{label}: blocks {} ideal {:.4} inh {:.4} shared {:.4} | root hit {:.3} | new reused {:.4} | counts 0 {:.3} 1 {:.3} 2 {:.3} 3-4 {:.3} 5-9 {:.3} 10-99 {:.3} 100+ {:.4}",
        s.blocks,
        total as f64 / s.blocks as f64,
        s.hits[0] as f64 / s.blocks as f64,
        s.hits[1] as f64 / s.blocks as f64,
        s.root_hit.0 as f64 / s.root_hit.1.max(1) as f64,
        reused / distinct,
        bucket(0, 0),
        bucket(1, 1),
        bucket(2, 2),
        bucket(3, 4),
        bucket(5, 9),
        bucket(10, 99),
        bucket(100, u32::MAX)
    );
    let names = ["root", "root-last", "follow", "follow-last"];
    let mut line = String::from("   new by origin:");
    for (k, n) in names.iter().enumerate() {
        line += &format!(
            " {n} {} ({:.3} reused)",
            s.new[k][0],
            s.new[k][1] as f64 / s.new[k][0].max(1) as f64
        );
    }
    println!("{line}");
    println!(
        "   roots {} follows {} | root blocks first reused by inh {} shared {} | follow blocks by inh {} shared {}",
        s.roots, s.follows, s.first_by[0][0], s.first_by[0][1], s.first_by[1][0], s.first_by[1][1]
    );
    for (k, n) in ["inherited", "shared"].iter().enumerate() {
        let g = &mut s.gaps[k];
        let zero = g.iter().filter(|&&x| x == 0.0).count() as f64 / g.len().max(1) as f64;
        println!(
            "   gaps {n}: n {} zero {:.3} p10 {:.1} p25 {:.1} p50 {:.1} p75 {:.1} p90 {:.1}",
            g.len(),
            zero,
            q(g, 0.1),
            q(g, 0.25),
            q(g, 0.5),
            q(g, 0.75),
            q(g, 0.9)
        );
    }
    for (k, n) in ["root", "follow"].iter().enumerate() {
        let g = &mut s.inputs[k];
        println!(
            "   input {n}: n {} p10 {:.0} p25 {:.0} p50 {:.0} p75 {:.0} p90 {:.0}",
            g.len(),
            q(g, 0.1),
            q(g, 0.25),
            q(g, 0.5),
            q(g, 0.75),
            q(g, 0.9)
        );
    }
    if std::env::var("TURNS").is_ok() {
        println!(
            "   roots {} eligible {} with children {} (ineligible with children {})",
            s.elig.0, s.elig.1, s.elig.2, s.elig.3
        );
        println!(
            "   roots with children: n {} input p25 {:.0} p50 {:.0} p75 {:.0} | first child new tokens p25 {:.0} p50 {:.0} p75 {:.0}",
            s.inputs_par.len(),
            q(&mut s.inputs_par, 0.25),
            q(&mut s.inputs_par, 0.5),
            q(&mut s.inputs_par, 0.75),
            q(&mut s.growth, 0.25),
            q(&mut s.growth, 0.5),
            q(&mut s.growth, 0.75)
        );
        let mut line = String::from("   by turn (n, p50):");
        for (t, v) in s.by_turn.iter_mut().enumerate().skip(1) {
            line += &format!(" {t}:{} {:.0}", v.len(), q(v, 0.5));
        }
        println!("{line}");
    }
    let f = &mut s.first_reuse;
    println!(
        "   first reuse: n {} p10 {:.1} p25 {:.1} p50 {:.1} p75 {:.1} p90 {:.1}",
        f.len(),
        q(f, 0.1),
        q(f, 0.25),
        q(f, 0.5),
        q(f, 0.75),
        q(f, 0.9)
    );
}

fn main() {
    let only = std::env::var("ONLY").unwrap_or_else(|_| "mooncake".into());
    let win = std::env::var("WINDOW").unwrap_or_else(|_| "15/start".into());
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .map_or(1, |s| s.parse().unwrap());
    let mut subjects = vec![
        tracesynth::validate::mooncake(std::path::Path::new("validation/data")).unwrap(),
        tracesynth::validate::reference_a(tracesynth::validate::REFERENCE_SECONDS),
    ];
    subjects.extend(scenario_subjects(SCENARIO_SECONDS));
    let (m, cut) = win.split_once('/').unwrap();
    let cut = Cut::from_label(cut).unwrap();
    for s in subjects
        .iter()
        .filter(|s| only.split(',').any(|k| k == s.key))
    {
        let w = window(&s.trace, m.parse().unwrap(), cut).unwrap();
        let model = fit(&w, s.key);
        if std::env::var("SESS").is_ok() {
            for t in &model.sessions.per_type {
                println!(
                    "child_prob {:?}\n input_mix {:?}\n bounds {:?}",
                    t.child_prob, t.input_mix, t.input_bounds
                );
            }
            println!("warnings {:?}", model.sessions.fit_warnings);
        }
        print(&format!("{} {win} real", s.key), stats(&w));
        for seed in 1..=seeds {
            let options = GenerateOptions {
                seed,
                duration: Some(covering_span(&w, &model)),
                ..Default::default()
            };
            let synth = synthesize(&model, options, &w).unwrap();
            print(&format!("{} {win} seed {seed}", s.key), stats(&synth));
            if std::env::var("MISSED").is_ok() {
                missed(&model, &w, seed);
            }
        }
    }
}

/// True follow-ups of a generated trace (sessions kept) that lineage inference misses,
/// and what their parents' ids look like.
pub fn missed(model: &tracesynth::model::Model, w: &Trace, seed: u64) {
    let options = GenerateOptions {
        seed,
        duration: Some(covering_span(w, model)),
        ..Default::default()
    };
    let reqs: Vec<_> = tracesynth::generate::Generator::new(model, options)
        .map(|r| r.unwrap())
        .collect();
    let trace = Trace {
        format: w.format,
        block_size: w.block_size,
        requests: reqs,
    };
    let by_chat: HashMap<u64, usize> = trace
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.session.as_ref().unwrap().chat_id, i))
        .collect();
    let mut t = trace.clone();
    for r in &mut t.requests {
        r.session = None;
    }
    let p = Prepared::new(t, 0);
    let (mut follows, mut found, mut wrong) = (0, 0, 0);
    let mut own_blocks_missed = Vec::new();
    let mut own_blocks_found = Vec::new();
    let mut reasons: std::collections::BTreeMap<(bool, bool, bool, bool, bool), usize> =
        Default::default();
    // ids seen in an earlier request (any)
    let mut seen: std::collections::HashSet<u64> = Default::default();
    let mut own_new: Vec<usize> = Vec::new();
    for r in &trace.requests {
        let ids = r.hash_ids.as_ref().unwrap();
        let lead = ids.iter().take_while(|id| seen.contains(id)).count();
        own_new.push(ids.len() - lead);
        seen.extend(ids.iter().copied());
    }
    for (i, r) in trace.requests.iter().enumerate() {
        let s = r.session.as_ref().unwrap();
        let Some(pc) = s.parent() else { continue };
        let Some(&pi) = by_chat.get(&pc) else {
            continue;
        };
        follows += 1;
        match p.requests[i].parent {
            Some(q) if q == pi => {
                found += 1;
                own_blocks_found.push(own_new[pi] as f64);
            }
            Some(_) => wrong += 1,
            None => {
                own_blocks_missed.push(own_new[pi] as f64);
                let pids = trace.requests[pi].hash_ids.as_ref().unwrap();
                let cids = r.hash_ids.as_ref().unwrap();
                let k = pids.len().saturating_sub(1);
                let pre = &pids[..k];
                // other sessions holding the prefix before the child
                let others = trace.requests[..i]
                    .iter()
                    .filter(|q| {
                        let qs = q.session.as_ref().unwrap();
                        let qi = q.hash_ids.as_ref().unwrap();
                        qi.len() >= k
                            && &qi[..k] == pre
                            && qs.chat_id != trace.requests[pi].session.as_ref().unwrap().chat_id
                            && qs.parent()
                                != Some(trace.requests[pi].session.as_ref().unwrap().chat_id)
                    })
                    .count();
                let sibs = trace.requests[..i]
                    .iter()
                    .filter(|q| q.session.as_ref().unwrap().parent() == Some(pc))
                    .count();
                *reasons
                    .entry((
                        pids.len() < 3,
                        cids.len() > k && cids[..k] == *pre,
                        r.input_length > trace.requests[pi].input_length,
                        others > 0,
                        sibs > 0,
                    ))
                    .or_insert(0) += 1;
            }
        }
    }
    let inferred = p.requests.iter().filter(|r| !r.is_root()).count();
    println!(
        "  missed by (parent<3 blocks, child keeps parent's n-1, child longer, other sessions hold prefix, earlier sibling): {reasons:?}"
    );
    println!(
        "  seed {seed}: true follow-ups {follows} found {found} wrong parent {wrong} missed {} | inferred follow-ups {inferred}",
        own_blocks_missed.len()
    );
    let frac =
        |v: &Vec<f64>, k: f64| v.iter().filter(|&&x| x <= k).count() as f64 / v.len().max(1) as f64;
    println!(
        "   parent's new blocks <=1: missed {:.3} found {:.3}; <=2: missed {:.3} found {:.3}",
        frac(&own_blocks_missed, 1.0),
        frac(&own_blocks_found, 1.0),
        frac(&own_blocks_missed, 2.0),
        frac(&own_blocks_found, 2.0)
    );
}
