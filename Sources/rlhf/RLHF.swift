import ArgumentParser
import Tensors

/// `rlhf`: every stage of the RLHF pipeline as a subcommand.
@main
struct RLHF: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rlhf",
        abstract: "Reinforcement learning from human feedback for GPT-2-family language models.",
        discussion: """
        Models are Hugging Face directories (config.json, model.safetensors, tokenizer files);
        datasets are JSONL with TRL's field names. Run `rlhf <command> --help` for details.
        """,
        subcommands: [
            DemoCommand.self,
            PretrainCommand.self,
            SFTCommand.self,
            SampleCommand.self,
            RewardCommand.self,
            PPOCommand.self,
            GRPOCommand.self,
            RLOOCommand.self,
            DPOCommand.self,
            BestOfNCommand.self,
            ScoreCommand.self,
            GenerateCommand.self,
            EvalCommand.self,
            TokenizeCommand.self,
            TrainTokenizerCommand.self,
            WorldCommand.self,
            BenchCommand.self,
            LabelCommand.self,
        ]
    )

    /// Before any command: OpenBLAS's fallback kernels on a CPU it does not know are several
    /// times slower than the ones the CPU supports (see `OpenBLASCore`).
    static func main() async {
        OpenBLASCore.restartWithBetterKernelsIfNeeded()
        await main(nil)
    }
}
