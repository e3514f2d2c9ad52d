"""TRL's PPOTrainer on the same policy, reward model, prompts and PPO settings as `rlhf ppo`,
for the PPO-iteration row of Scripts/bench/ppo_iteration.sh. Prints one JSON line with the
seconds of each iteration.

TRL removed PPOTrainer after 0.19; this needs trl 0.19.x with transformers 4.53 (see
ppo_iteration.sh for how they are installed beside a newer torch). Models are the Hugging Face
folders `rlhf` writes: the SFT policy (also the reference) and the reward model
(GPT2ForSequenceClassification, num_labels 1), from which TRL's value model starts too.
"""
import argparse
import json
import os
import sys
import tempfile
import time

# transformers 4.53 imports the `kernels` package whenever it is installed, and the one that
# transformers 5 brings into the virtualenv needs a newer huggingface_hub than the one pinned for
# trl 0.19. PPO on the CPU uses no hub kernels, so hide the package (find_spec then reports none).
sys.modules["kernels"] = None

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
from trl import PPOConfig, PPOTrainer


class IterationClock(TrainerCallback):
    """TRL calls on_step_end once per PPO iteration (rollout, scoring, epochs of updates)."""

    def __init__(self):
        self.marks = []

    def on_train_begin(self, args, state, control, **kw):
        self.marks.append(time.perf_counter())

    def on_step_end(self, args, state, control, **kw):
        self.marks.append(time.perf_counter())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--policy", required=True)
    p.add_argument("--reward", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--num-mini-batches", type=int, default=2)
    p.add_argument("--ppo-epochs", type=int, default=2)
    p.add_argument("--response-length", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    tok = AutoTokenizer.from_pretrained(a.policy, padding_side="left")
    policy = AutoModelForCausalLM.from_pretrained(a.policy)
    ref = AutoModelForCausalLM.from_pretrained(a.policy)
    rm = AutoModelForSequenceClassification.from_pretrained(a.reward, num_labels=1)
    value = AutoModelForSequenceClassification.from_pretrained(a.reward, num_labels=1)
    for m in (policy, ref, rm, value):
        m.config.pad_token_id = tok.pad_token_id

    with open(a.prompts) as f:
        prompts = [json.loads(line)["prompt"] for line in f if line.strip()]
    ds = Dataset.from_dict({"input_ids": [tok(p_)["input_ids"] for p_ in prompts[: a.batch_size * (a.iterations + 1)]]})

    out = tempfile.mkdtemp(prefix="trl-ppo-")
    cfg = PPOConfig(
        output_dir=out, per_device_train_batch_size=a.batch_size, gradient_accumulation_steps=1,
        num_mini_batches=a.num_mini_batches, num_ppo_epochs=a.ppo_epochs, local_rollout_forward_batch_size=a.batch_size,
        total_episodes=a.batch_size * a.iterations, response_length=a.response_length, temperature=0.7,
        kl_coef=0.05, missing_eos_penalty=1.0, stop_token="eos", learning_rate=2e-4, lam=1.0,
        num_sample_generations=0, save_strategy="no", report_to=[], logging_steps=1000, seed=0,
        use_cpu=True, dataloader_num_workers=0,
    )
    clock = IterationClock()
    trainer = PPOTrainer(args=cfg, processing_class=tok, model=policy, ref_model=ref, reward_model=rm,
                         value_model=value, train_dataset=ds, callbacks=[clock])
    trainer.train()
    steps = [b - a_ for a_, b in zip(clock.marks, clock.marks[1:])]
    print(json.dumps({"seconds_per_iteration": steps, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "pid": os.getpid()}))


if __name__ == "__main__":
    main()
