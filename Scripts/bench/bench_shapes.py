"""What every Python benchmark peer shares with the Swift side (`rlhf bench model`): the preset
shapes and the model-FLOP count behind the MFU column, so the sides are measured alike."""

PRESETS = {"tiny": (4, 128, 4), "small": (6, 384, 6), "gpt2": (12, 768, 12)}  # layers, width, heads


def training_flops(layers: int, width: int, vocab: int, context: int, tokens: int) -> float:
    """Forward + backward FLOPs of one training step, as ModelBenchmark.trainingFLOPs counts them:
    6 per parameter (non-embedding + head) per token, plus attention's 12·L·T·C per token."""
    n = 12 * layers * width * width + vocab * width
    return tokens * (6 * n + 12 * layers * context * width)
