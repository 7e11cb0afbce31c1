/** The example of the language from the design brief, verbatim. */
export const EXAMPLE = `// line and /* block */ comments
import "models/llama.plan"

model llama3_8b {
  arch     = llama
  layers   = 32
  kv_heads = 8 ; dtype = bf16        // properties separated by whitespace, newlines or ';'
  tied_embeddings = false
}
cluster node {
  gpu  = H100_SXM_80GB               // or: gpu { name = "RTX 4090"  memory = 24 GiB }
  gpus = 8
}
plan serve_8b {
  model = llama3_8b  cluster = node  mode = serve
  tensor = 2  pipeline = 2  data = 2
  stages = [0..15, 16..31]
  batch { max_batch = 32  max_wait = 5 ms  seq = 4096  queue = 1024 }
  reserve = 10%
  workspace = 256MiB                 // units with or without a space
}
`;
