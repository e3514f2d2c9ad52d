import Foundation
import Models
import Training

guard CommandLine.arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: PPOFromSwift RUN OUT (RUN: a demo run's folder; OUT: where PPO writes)\n".utf8))
    exit(64)
}
// A policy and a reward model in Hugging Face format (here a demo run's: RUN/sft, RUN/reward).
let run = URL(fileURLWithPath: CommandLine.arguments[1])
let (policy, tokenizer) = try GPT2.loadWithTokenizer(directory: run.appendingPathComponent("sft"))
let rewardModel = try RewardModel.load(directory: run.appendingPathComponent("reward"))

// A programmatic reward beside the learned one: answers that thank the customer.
let thanks = RewardFunction(name: "thanks", weight: 0.5) { _, response in response.contains("Thank") ? 1 : 0 }

var config = PPOConfig()
config.steps = 3; config.batchSize = 16; config.rolloutBatchSize = 16; config.learningRate = 2e-4
let trainer = try PPOTrainer(policy: policy, rewardModel: rewardModel, tokenizer: tokenizer, rewardTokenizer: nil,
                             prompts: ["Customer: Hi, I'm Ada. Order #1234 arrived broken. Can you help?\nAgent:"],
                             rewardFunctions: [thanks], config: config, runDirectory: URL(fileURLWithPath: CommandLine.arguments[2]))
try trainer.train()      // metrics.jsonl and checkpoint-last/ in OUT, as `rlhf ppo` writes them
try trainer.saveFinal()  // a model folder that transformers loads
print(trainer.timeSplit)
