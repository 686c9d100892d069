"""Making and measuring models: synthesised speech corpora, training, WER evaluation and the
streaming latency harness. Inference code never imports this package."""
