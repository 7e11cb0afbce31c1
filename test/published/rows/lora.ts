/**
 * LoRA / QLoRA measurements. Claims of the form "fits in X GB" (QLoRA's 65B on one 48 GB GPU,
 * PEFT's full fine-tuning OOM) are asserted as fits / does not fit in test/published/lora-fits.test.ts,
 * not as ratio rows.
 */
import type { PublishedRow } from '../types.js';

export const rows: PublishedRow[] = [
  {
    id: 'peft-lora-bloomz-7b1',
    recipe:
      'bigscience/bloomz-7b1, LoRA r = 8 (alpha 32, dropout 0.1) on query_key_value, fp32 model and AdamW, batch 8 × 64 tokens, one A100 80GB',
    source:
      'huggingface/peft README.md at 73d7224b (2022-12-30), table "GPU memory required for adapting LLMs on ought/raft/twitter_complaints", row bigscience/bloomz-7b1, column PET-LoRA PyTorch: "32GB GPU"; the run is examples/causal_language_modeling/pet_lora_clm_accelerate_ds_zero3_offload.py at that commit without DeepSpeed (AutoModelForCausalLM.from_pretrained in fp32, LoRAConfig(r=8, lora_alpha=32, lora_dropout=0.1), torch.optim.AdamW(model.parameters()), batch_size 8, max_length 64), its TorchTracemalloc total peak torch.cuda.max_memory_allocated (MiB, written as GB): 32 taken as GiB',
    note: "BLOOM's ALiBi has no parameters (positions = rope adds none either) and its query_key_value is one h → 3h linear like GPT-2's c_attn; the embedding LayerNorm (8,192 parameters) is left out. The README rounds to whole GB.",
    plan: `model bloomz_7b1 {  // bigscience/bloomz-7b1: 7,069,016,064 parameters
  arch      = gpt2
  layers    = 30
  hidden    = 4096
  heads     = 32
  ffn       = 16384
  vocab     = 250880
  max_seq   = 2048
  positions = rope
  dtype     = fp32
}

cluster a100 {
  gpu  = A100_80GB
  gpus = 1
}

plan lora {
  model     = bloomz_7b1
  cluster   = a100
  mode      = train
  precision = fp32
  attention = standard
  reserve   = 0%
  adapter {
    rank    = 8
    alpha   = 32
    dropout = 0.1
    targets = ["c_attn"]
  }
  batch {
    global = 8
    micro  = 8
    seq    = 64
  }
}
`,
    publishedGiB: 32,
    // Before: no adapter could be written; the closest plan, the same run fully fine-tuned (fp32 weights, gradients, AdamW), did not fit.
    beforeGiB: 110.36,
  },
];
