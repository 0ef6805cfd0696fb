//! Compares the CPU backend's distributions with tests/golden/logprobs*.json and prints the worst errors.
use tokscope_model::{Backend, LogitsFor, ModelFile, cpu::CpuBackend};
fn main() {
    let which = std::env::args().nth(1).unwrap_or("logprobs.json".into());
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("tests/golden/{which}")).unwrap())
            .unwrap();
    let file = ModelFile::open("models/SmolLM2-135M-Instruct.Q4_1.gguf".as_ref()).unwrap();
    let mut m = CpuBackend::with_context(file, 2, 512).unwrap();
    let v = m.config().n_vocab;
    for p in g["prompts"].as_array().unwrap() {
        let ids: Vec<u32> = p["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        m.truncate(0);
        let logits = m.forward(&ids, LogitsFor::All).unwrap();
        let (mut max_lp, mut max_h, mut top1_bad) = (0f64, 0f64, 0);
        for pos in p["positions"].as_array().unwrap() {
            if !pos["continuation"].as_bool().unwrap() {
                continue;
            }
            let at = pos["pos"].as_u64().unwrap() as usize;
            let row = &logits[at * v..(at + 1) * v];
            let s = tokscope_dist::summarize(row).unwrap();
            max_h = max_h.max((s.entropy - pos["entropy"].as_f64().unwrap()).abs());
            let top = pos["top"].as_array().unwrap();
            for (k, e) in top.iter().enumerate() {
                let id = e[0].as_u64().unwrap() as u32;
                let lp = e[1].as_f64().unwrap();
                max_lp = max_lp.max((tokscope_dist::logprob(row, s.lse, id).unwrap() - lp).abs());
                if k == 0
                    && pos["top2_margin"].as_f64().unwrap() > 1e-3
                    && tokscope_dist::argmax(row).unwrap() != id
                {
                    top1_bad += 1;
                }
            }
        }
        println!(
            "{:8} max|dlogprob| {:.5} max|dH| {:.5} top1 mismatches {}",
            p["name"].as_str().unwrap(),
            max_lp,
            max_h,
            top1_bad
        );
    }
}
