//! The presets: reference services described as data, one constructor each.
//!
//! A preset is a [`ReferenceConfig`] value and nothing else: the builder ([`super::build`])
//! knows no preset by name, so a new one is a function here and a line in the CLI.

use super::{
    ArrivalShape, Catalogue, DocumentSpec, LengthMix, OutputSpec, PromptPool, PromptSpec,
    ReferenceConfig, RetrievalSpec, TailSpec, ThinkSpec, TypeProfile,
};

impl ReferenceConfig {
    /// To-C chat like Qwen-Bailian trace A: text, search, image and file sessions.
    pub fn trace_a_like(seed: u64, duration_s: f64) -> Self {
        let range = |a: u64, b: u64| (a..b).collect::<Vec<u64>>();
        // Ids of the most common prompts and tails are those of the real excerpt.
        let prompts = vec![
            // 0: the main text prompt, 45 blocks = 720 tokens.
            PromptSpec {
                parent: None,
                ids: range(0, 45),
            },
            // 1: a short text prompt.
            PromptSpec {
                parent: None,
                ids: vec![1089, 1090, 1091],
            },
            // 2: search, extending the short text prompt by one block.
            PromptSpec {
                parent: Some(1),
                ids: vec![1092],
            },
            // 3: search, extending the main text prompt.
            PromptSpec {
                parent: Some(0),
                ids: vec![74],
            },
            // 4: file.
            PromptSpec {
                parent: None,
                ids: vec![50, 51],
            },
            // 5: image.
            PromptSpec {
                parent: None,
                ids: range(60, 68),
            },
            // 6, 7: rarer text prompts.
            PromptSpec {
                parent: None,
                ids: range(2000, 2012),
            },
            PromptSpec {
                parent: None,
                ids: range(2100, 2124),
            },
            // 8: a text prompt growing the short one.
            PromptSpec {
                parent: Some(1),
                ids: range(2200, 2206),
            },
            // 9: image, extending the main text prompt.
            PromptSpec {
                parent: Some(0),
                ids: vec![75, 76],
            },
            // 10: file, extending the file prompt.
            PromptSpec {
                parent: Some(4),
                ids: range(2300, 2310),
            },
        ];
        let output = |median: f64, sigma: f64| OutputSpec {
            median,
            sigma,
            input_elasticity: 0.08,
            max: 8192,
        };
        // Reading the answer and typing the next message take at least a while, so
        // few follow-ups come back within seconds; the pause beyond is heavy-tailed.
        let think = ThinkSpec {
            floor_s: 32.0,
            base_s: 47.0,
            per_output_token_s: 0.094,
            sigma: 2.1,
        };
        let text = TypeProfile {
            name: "text".to_string(),
            root_weight: 0.88,
            prompts: vec![0, 1, 6, 7, 8],
            prompt_zipf: 0.5,
            no_prompt: 0.02,
            // Agents and app features, each with a prompt of its own.
            prompt_pool: Some(PromptPool {
                share: 0.26,
                count: 3000,
                zipf: 0.8,
                tokens: LengthMix::lognormal(300.0, 1.0),
            }),
            user_tokens: LengthMix::lognormal(50.0, 1.5).with_tail(0.04, 1500.0, 1.5),
            // Popular pasted articles and app-suggested openers, shared across sessions.
            document: Some(DocumentSpec {
                share: 0.2,
                reuse: 0.65,
                recency_s: 1000.0,
                tokens: LengthMix::lognormal(500.0, 1.0),
                question: LengthMix::lognormal(40.0, 1.0),
                catalogue: None,
            }),
            retrieval: None,
            output: output(345.0, 0.62),
            next_turn: vec![0.6, 0.77, 0.84, 0.87, 0.89],
            long_context_tokens: 1400.0,
            branch: 0.03,
            stay_type: 0.93,
            think: think.clone(),
            tail_prob: 0.25,
            repeat_prob: 0.02,
        };
        let search = TypeProfile {
            name: "search".to_string(),
            root_weight: 0.255,
            prompts: vec![2, 3],
            prompt_zipf: 0.5,
            no_prompt: 0.01,
            prompt_pool: None,
            // A query and its results: the engine returns a near-fixed number of pages,
            // so search inputs are long but narrowly spread.
            user_tokens: LengthMix::lognormal(5000.0, 0.45),
            // Popular queries: the query and its results, the same for every user who
            // asks while it is trending, then the user's own words. Such one-off lookups
            // seldom lead to a conversation, so search sessions continue less than chat.
            document: Some(DocumentSpec {
                share: 0.6,
                reuse: 0.65,
                recency_s: 1000.0,
                tokens: LengthMix::lognormal(5000.0, 0.45),
                question: LengthMix::lognormal(300.0, 1.0),
                catalogue: None,
            }),
            retrieval: Some(RetrievalSpec {
                pool_share: 0.2,
                pool_mean_back: 200.0,
                page_blocks: (2, 12),
                follow_up_prob: 0.3,
                follow_up_tokens: LengthMix::lognormal(800.0, 0.8),
            }),
            output: output(360.0, 0.6),
            next_turn: vec![0.32, 0.6, 0.7],
            long_context_tokens: f64::INFINITY,
            branch: 0.02,
            stay_type: 0.8,
            think: think.clone(),
            tail_prob: 0.1,
            repeat_prob: 0.15,
        };
        let image = TypeProfile {
            name: "image".to_string(),
            root_weight: 0.028,
            prompts: vec![5, 9],
            prompt_zipf: 1.0,
            no_prompt: 0.05,
            prompt_pool: None,
            user_tokens: LengthMix::lognormal(400.0, 1.0),
            document: Some(DocumentSpec {
                share: 0.95,
                reuse: 0.5,
                recency_s: 5.0,
                tokens: LengthMix::lognormal(700.0, 0.5),
                question: LengthMix::lognormal(30.0, 0.8),
                catalogue: None,
            }),
            retrieval: None,
            output: output(220.0, 0.8),
            next_turn: vec![0.48, 0.6, 0.66],
            long_context_tokens: f64::INFINITY,
            branch: 0.05,
            stay_type: 0.9,
            // Questions about an image come in quick succession.
            think: ThinkSpec {
                floor_s: 0.0,
                base_s: 3.0,
                per_output_token_s: 0.0,
                sigma: 1.3,
            },
            tail_prob: 0.2,
            repeat_prob: 0.01,
        };
        let file = TypeProfile {
            name: "file".to_string(),
            root_weight: 0.038,
            prompts: vec![4, 10],
            prompt_zipf: 1.0,
            no_prompt: 0.05,
            prompt_pool: None,
            user_tokens: LengthMix::lognormal(600.0, 1.2),
            document: Some(DocumentSpec {
                share: 0.9,
                reuse: 0.3,
                recency_s: 450.0,
                tokens: LengthMix::lognormal(2500.0, 1.0).with_tail(0.025, 10000.0, 1.8),
                question: LengthMix::lognormal(40.0, 1.0),
                catalogue: None,
            }),
            retrieval: None,
            output: output(420.0, 0.65),
            next_turn: vec![0.5, 0.6, 0.66],
            long_context_tokens: f64::INFINITY,
            branch: 0.02,
            stay_type: 0.95,
            think,
            tail_prob: 0.2,
            repeat_prob: 0.03,
        };
        ReferenceConfig {
            seed,
            duration_s,
            session_rate: 2.78,
            arrivals: ArrivalShape {
                gap_cv: 1.3,
                swing_amplitude: 0.3,
                swing_period_s: 86_400.0,
                swing_phase: 0.0,
                bursts_per_hour: 6.0,
                burst_gain: 0.8,
                burst_s: 60.0,
            },
            prompts,
            types: vec![text, search, image, file],
            tails: vec![
                TailSpec {
                    id: 1086,
                    fill: 5,
                    weight: 0.6,
                },
                TailSpec {
                    id: 1080,
                    fill: 4,
                    weight: 0.3,
                },
                TailSpec {
                    id: 5494,
                    fill: 1,
                    weight: 0.1,
                },
            ],
            follow_up_tokens: LengthMix::lognormal(22.0, 0.9).with_tail(0.03, 200.0, 1.5),
            max_input: 131_072,
            max_turns: 64,
            exact_requests: None,
            fresh_id_base: 10_000,
        }
    }

    /// A chat service whose shared documents are a property of the service: the types,
    /// prompts and sessions of [`ReferenceConfig::trace_a_like`] at a third of its rate,
    /// every document drawn from a Zipf catalogue of its type renewed every hour (see
    /// [`Catalogue`]). Its sharing grows with its users, so
    /// [`ReferenceConfig::with_users`] gives the ground truth of `--rate-scale`.
    pub fn documents(seed: u64, duration_s: f64) -> Self {
        // (type, share of its roots with a document, catalogue size, Zipf exponent).
        const CATALOGUES: [(&str, f64, usize, f64); 4] = [
            ("text", 0.35, 3000, 1.0),
            ("search", 0.6, 2000, 0.9),
            ("image", 0.95, 300, 0.7),
            ("file", 0.9, 500, 0.8),
        ];
        let mut config = Self::trace_a_like(seed, duration_s);
        config.session_rate = 1.0;
        for ty in &mut config.types {
            let Some(&(_, share, size, zipf)) = CATALOGUES.iter().find(|c| c.0 == ty.name) else {
                continue;
            };
            if let Some(d) = &mut ty.document {
                d.share = share;
                d.catalogue = Some(Catalogue {
                    size,
                    zipf,
                    epoch_s: 3600.0,
                });
            }
        }
        config
    }

    /// To-B API traffic like trace B: `api` and `text` requests, no sessions, a few hot
    /// system prompts, a near-fixed rate of 24 requests/s sampled to an exact count.
    pub fn api_like(seed: u64, duration_s: f64) -> Self {
        let mut prompts = Vec::new();
        let mut next = 0u64;
        for blocks in [40u64, 24, 64, 16, 32, 8, 48, 12] {
            prompts.push(PromptSpec {
                parent: None,
                ids: (next..next + blocks).collect(),
            });
            next += blocks;
        }
        // 8: an api prompt extending the most popular one (a versioned template).
        prompts.push(PromptSpec {
            parent: Some(0),
            ids: (next..next + 6).collect(),
        });
        next += 6;
        // 9, 10: text prompts.
        prompts.push(PromptSpec {
            parent: None,
            ids: (next..next + 45).collect(),
        });
        next += 45;
        prompts.push(PromptSpec {
            parent: None,
            ids: (next..next + 3).collect(),
        });
        let api = TypeProfile {
            name: "api".to_string(),
            root_weight: 0.873,
            prompts: vec![1, 2, 0, 3, 8, 4, 5, 6, 7],
            prompt_zipf: 1.0,
            no_prompt: 0.2,
            // Besides a few big integrations, many clients with a template of their own:
            // the popular ones stay hot, the rest come back minutes or hours apart.
            prompt_pool: Some(PromptPool {
                share: 0.3,
                count: 2000,
                zipf: 1.0,
                tokens: LengthMix::lognormal(200.0, 1.3),
            }),
            user_tokens: LengthMix::lognormal(80.0, 1.5).with_tail(0.03, 2500.0, 1.6),
            // Per-client shared context (few-shot examples, a reference document) that a
            // handful of requests reuse: the few new blocks that are ever hit again.
            document: Some(DocumentSpec {
                share: 0.12,
                reuse: 0.5,
                recency_s: 300.0,
                tokens: LengthMix::lognormal(250.0, 1.3),
                question: LengthMix::lognormal(80.0, 1.2),
                catalogue: None,
            }),
            retrieval: None,
            output: OutputSpec {
                median: 38.0,
                sigma: 1.4,
                input_elasticity: 0.1,
                max: 4096,
            },
            next_turn: vec![0.0],
            long_context_tokens: f64::INFINITY,
            branch: 0.0,
            stay_type: 1.0,
            think: ThinkSpec {
                floor_s: 0.0,
                base_s: 1.0,
                per_output_token_s: 0.0,
                sigma: 1.0,
            },
            tail_prob: 0.15,
            repeat_prob: 0.01,
        };
        let text = TypeProfile {
            name: "text".to_string(),
            root_weight: 0.127,
            prompts: vec![9, 10],
            prompt_zipf: 1.0,
            no_prompt: 0.1,
            prompt_pool: None,
            user_tokens: LengthMix::lognormal(200.0, 1.2).with_tail(0.03, 3000.0, 1.5),
            document: None,
            output: OutputSpec {
                median: 120.0,
                sigma: 1.1,
                input_elasticity: 0.1,
                max: 4096,
            },
            ..api.clone()
        };
        let rate = 24.0;
        ReferenceConfig {
            seed,
            duration_s,
            // A surplus that the thinning to an exact count takes back.
            session_rate: rate * 1.08,
            arrivals: ArrivalShape {
                gap_cv: 1.25,
                swing_amplitude: 0.05,
                swing_period_s: 86_400.0,
                swing_phase: 0.0,
                bursts_per_hour: 20.0,
                burst_gain: 0.5,
                burst_s: 10.0,
            },
            prompts,
            types: vec![api, text],
            tails: vec![
                TailSpec {
                    id: 9000,
                    fill: 7,
                    weight: 0.7,
                },
                TailSpec {
                    id: 9001,
                    fill: 3,
                    weight: 0.3,
                },
            ],
            follow_up_tokens: LengthMix::lognormal(20.0, 0.8),
            max_input: 131_072,
            max_turns: 1,
            exact_requests: Some((rate * duration_s).round() as u64),
            fresh_id_base: 10_000,
        }
    }
}
